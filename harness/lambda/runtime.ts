/**
 * What runs inside one Lambda container (a worker thread): loads one function's handler once (the cold start),
 * then serves invocations one at a time with an AWS-shaped context. Handler code and module state live only here,
 * so two functions — or two containers of one function — never share them, as on AWS.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { installCallHooks, installManagementApiFastPath, installSdkInterceptor, managementSdkFor } from './sdkInterceptor.js';
import { installHttpsInterceptor } from './httpsInterceptor.js';
import { serviceDelay, type LatencyProfile } from '../latency.js';
import type { HttpLikeRequest, HttpLikeResponse } from './types.js';

export interface ContainerData {
  handlerFile: string;
  /** Set by the container's entry when the handler is loaded from a precompiled bundle of `handlerFile`. */
  handlerModule?: string;
  handlerExport: string;
  functionName: string;
  memorySize: number;
  region: string;
  accountId: string;
  interceptHosts: string[];
  /**
   * Plain-HTTP endpoints (host:port) served in-process too, over the MessagePort: the embedded dynalite. The SDK
   * still serializes, signs and parses every request; only the loopback socket is replaced.
   */
  inProcessEndpoints: string[];
  /** 'fast': management client answered at send (default); 'wire': the SDK's full request path, minus the socket. */
  interceptMode: 'fast' | 'wire';
  /** The handler is plain JavaScript from a package: container.mjs imports it without tsx. */
  nativeHandler: boolean;
  /** This container's CloudWatch log stream (context.logStreamName; AWS_LAMBDA_LOG_STREAM_NAME in its environment). */
  logStreamName: string;
  /**
   * The freeze signal: slot 0 counts invocations handed to this container. Between invocations the container
   * blocks on it (Atomics.wait), as a Lambda sandbox is frozen between invocations; the invoker bumps it and
   * notifies when the next invocation arrives.
   */
  wake: SharedArrayBuffer;
}

export interface InvokeMessage {
  type: 'invoke';
  id: number;
  event: unknown;
  requestId: string;
  deadline: number;
  /** The value of the wake counter for this invocation. */
  generation: number;
  /** Network time of this invocation's AWS calls. */
  latency: LatencyProfile;
  /** A lambdaTimeout fault: the time runs out right after this many AWS calls have their answer (0: before the handler runs). */
  stopAfterCalls?: number;
  /** With stopAfterCalls: only calls to this service count (e.g. execute-api: the Nth post). */
  stopAfterService?: string;
}

/**
 * Pre-warming: run the function's init (load the handler) before any invocation, then freeze, as a provisioned
 * environment does; the invoker reports it as a cold start paid at start-up.
 */
export interface WarmMessage {
  type: 'warm';
  /** The value of the wake counter while the container waits for its first invocation. */
  generation: number;
}

export type ToContainer = InvokeMessage | WarmMessage | { type: 'http-response'; id: number; response: HttpLikeResponse };

/** What was still pending when the handler's promise settled, e.g. ["1 Timeout", "2 AWS calls in flight"]. */
type Pending = string[];

export type FromContainer =
  | { type: 'result'; id: number; ok: true; value: unknown; initMs: number; pendingAtFreeze: Pending }
  | {
      type: 'result';
      id: number;
      ok: false;
      error: { name: string; message: string; stack?: string };
      initMs: number;
      pendingAtFreeze: Pending;
    }
  | { type: 'http-request'; id: number; request: HttpLikeRequest }
  /** The handler is loaded (init done): the invocation's own time starts now. */
  | { type: 'initialized'; id: number }
  /** Pre-warming is done: the handler loaded (or failed to, with the error the first invocation would report). */
  | { type: 'warmed'; initMs: number; error?: { name: string; message: string } }
  /** The lambdaTimeout fault's moment has come: the container stops here and waits to be terminated. */
  | { type: 'stopped'; id: number; calls: number };

const data = workerData as ContainerData;
const port = parentPort!;
const post = (message: FromContainer): void => port.postMessage(message);

// Management API calls (and any other intercepted host) are answered by the emulator in the main thread.
let nextHttpId = 0;
const pendingHttp = new Map<number, (response: HttpLikeResponse) => void>();
const serve = (request: HttpLikeRequest): Promise<HttpLikeResponse> =>
  new Promise((resolve) => {
    const id = ++nextHttpId;
    pendingHttp.set(id, resolve);
    post({ type: 'http-request', id, request });
  });
if (data.inProcessEndpoints.length) {
  const endpoints = new Set(data.inProcessEndpoints);
  installSdkInterceptor((hostname, port) => port !== undefined && endpoints.has(`${hostname}:${port}`), serve);
}
if (data.interceptHosts.length) {
  const hosts = new Set(data.interceptHosts);
  const matchHost = (hostname: string): boolean => hosts.has(hostname);
  // Below every SDK: whatever copy the handler resolved, or a bundle, reaches the emulator over an in-memory socket.
  installHttpsInterceptor(matchHost, serve);
  if (data.interceptMode === 'wire') installSdkInterceptor(matchHost, serve);
  else {
    // The fast path, on the harness's copy and on the copy the handler's own node_modules resolve, if another.
    installManagementApiFastPath(matchHost, serve);
    const own = managementSdkFor(data.handlerFile);
    if (own) installManagementApiFastPath(matchHost, serve, own);
  }
}

// ——— Network time and call counting, around every AWS call the handler makes ———

let current: InvokeMessage | undefined;
let frozenWithWork = false;
let callsThisInvocation = 0;
let callsInFlight = 0;
const signal = new Int32Array(data.wake);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

installCallHooks({
  // A call left pending by an earlier invocation may finish during this one: it is not this invocation's call.
  started: () => current?.id,
  async before(service, config) {
    callsInFlight++;
    const delay = current ? serviceDelay(current.latency, service) : 0;
    if (delay <= 0) return;
    const timeout = config.requestTimeout;
    if (timeout && delay >= timeout) {
      // What @smithy/node-http-handler does when a request outlives requestTimeout: an error only with
      // throwOnRequestTimeout, otherwise a warning and the request goes on.
      if (config.throwOnRequestTimeout) {
        await sleep(timeout);
        throw Object.assign(
          new Error(`@smithy/node-http-handler - [ERROR] a request has exceeded the configured ${timeout} ms requestTimeout.`),
          { name: 'TimeoutError', code: 'ETIMEDOUT' },
        );
      }
      setTimeout(
        () =>
          console.warn(
            `@smithy/node-http-handler - [WARN] a request has exceeded the configured ${timeout} ms requestTimeout. Init client requestHandler with throwOnRequestTimeout=true to turn this into an error.`,
          ),
        timeout,
      );
    }
    await sleep(delay);
  },
  after(service, startedBy) {
    callsInFlight--;
    if (startedBy !== current?.id) return;
    if (current?.stopAfterService !== undefined && service !== current.stopAfterService) return;
    callsThisInvocation++;
    if (current?.stopAfterCalls !== undefined && callsThisInvocation === current.stopAfterCalls) stopHere(current.id);
  },
});

/** A lambdaTimeout fault's moment: nothing more happens in this container; the invoker terminates it. */
function stopHere(id: number): never {
  post({ type: 'stopped', id, calls: callsThisInvocation });
  for (;;) Atomics.wait(signal, 1, 0);
}

function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const resource of process.getActiveResourcesInfo()) counts.set(resource, (counts.get(resource) ?? 0) + 1);
  return counts;
}
// The container's own machinery (its MessagePort to the invoker), measured once the runtime is set up.
let baseline = new Map<string, number>();

/**
 * What would keep running after the handler returned: ref'd timers, sockets and requests, AWS calls awaiting
 * answers. Left out as the container's own machinery: MessagePorts (a worker's stdout is one, held until the
 * invoker has read the lines) and file-system requests (tsx writing its compile cache, which a deployed, pre-built
 * function does not do).
 */
const MACHINERY = /^(MessagePort|FSReq)/;
function pendingWork(): Pending {
  const pending: string[] = [];
  for (const [resource, n] of activeResources()) {
    const extra = n - (baseline.get(resource) ?? 0);
    if (extra <= 0 || MACHINERY.test(resource)) continue;
    pending.push(`${extra} ${resource}`);
  }
  if (callsInFlight > 0) pending.push(`${callsInFlight} AWS call${callsInFlight > 1 ? 's' : ''} in flight`);
  return pending;
}

/** Blocks the whole thread — timers, promises, sockets — until the invoker hands over the next invocation. */
function freezeUntilNextInvocation(generation: number): void {
  while (Atomics.load(signal, 0) === generation) Atomics.wait(signal, 0, generation);
}

type Handler = (event: unknown, context: object, callback?: (error: unknown, result?: unknown) => void) => unknown;
let handler: Handler | undefined;
let initMs = 0;

async function loadHandler(): Promise<Handler> {
  const started = performance.now();
  // container.mjs provides a tsx-free import for a packaged bundle when the shim itself runs through tsx.
  const nativeImport = (globalThis as { __lambdaContainerImport?: (url: string) => Promise<unknown> }).__lambdaContainerImport;
  const url = pathToFileURL(data.handlerModule ?? data.handlerFile).href;
  const module = (await (nativeImport ? nativeImport(url) : import(url))) as Record<string, unknown>;
  const exported = module[data.handlerExport] ?? (module.default as Record<string, unknown> | undefined)?.[data.handlerExport];
  if (typeof exported !== 'function') {
    throw Object.assign(new Error(`${data.handlerFile} does not export a function named "${data.handlerExport}"`), {
      name: 'Runtime.HandlerNotFound',
    });
  }
  initMs = performance.now() - started;
  return exported as Handler;
}

function contextFor(requestId: string, deadline: number) {
  return {
    awsRequestId: requestId,
    functionName: data.functionName,
    functionVersion: '$LATEST',
    memoryLimitInMB: String(data.memorySize),
    invokedFunctionArn: `arn:aws:lambda:${data.region}:${data.accountId}:function:${data.functionName}`,
    logGroupName: `/aws/lambda/${data.functionName}`,
    logStreamName: data.logStreamName,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

/** Lambda's limit on a synchronous invocation's response: 6 MB, as its error message counts them. */
const MAX_RESPONSE_BYTES = 6_291_556;

/** What Lambda reports when a handler returned more than that: the handler ran, its answer is lost. */
const responseTooLarge = (bytes: number) => ({
  name: 'Function.ResponseSizeTooLarge',
  message: `Response payload size (${bytes} bytes) exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
});

/** Calls an async handler, or a callback-style one (three parameters), and settles with its result. */
function call(fn: Handler, event: unknown, context: object): Promise<unknown> {
  if (fn.length >= 3) {
    return new Promise((resolve, reject) => {
      const returned = fn(event, context, (error, result) => (error ? reject(error) : resolve(result)));
      if (returned && typeof (returned as Promise<unknown>).then === 'function') (returned as Promise<unknown>).then(resolve, reject);
    });
  }
  return Promise.resolve(fn(event, context));
}

function errorOf(error: unknown): { name: string; message: string; stack?: string } {
  if (error instanceof Error) return { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
  return { name: 'Error', message: typeof error === 'string' ? error : JSON.stringify(error) };
}

/** Resolves once everything written to the stream before now has been handed over (an empty write's callback). */
const drained = (stream: NodeJS.WriteStream): Promise<void> => new Promise((resolve) => stream.write('', () => resolve()));

/**
 * Both stdio streams drained. A stream with nothing buffered or awaiting its acknowledgement (writableLength 0) has
 * handed everything to the invoker already and is skipped: each drain is a round trip to the main thread, and most
 * invocations log nothing on stderr (and many nothing at all), so skipping them saves two thread wake-ups an
 * invocation.
 */
const stdioDrained = (): Promise<unknown> =>
  Promise.all([process.stdout, process.stderr].filter((stream) => stream.writableLength > 0).map(drained));

port.on('message', async (message: ToContainer) => {
  if (message.type === 'http-response') {
    pendingHttp.get(message.id)?.(message.response);
    pendingHttp.delete(message.id);
    return;
  }
  if (message.type === 'warm') {
    let error: { name: string; message: string } | undefined;
    try {
      handler = await loadHandler();
    } catch (thrown) {
      // A failed init is the first invocation's to report (the invoker retires this container).
      error = errorOf(thrown);
    }
    await stdioDrained();
    frozenWithWork = pendingWork().length > 0;
    post({ type: 'warmed', initMs, ...(error ? { error: { name: error.name, message: error.message } } : {}) });
    if (!error) freezeUntilNextInvocation(message.generation);
    return;
  }
  if (frozenWithWork) {
    // Thawed with work pending: its overdue timers run first, as they would while the runtime fetches the next
    // event on AWS. Two check phases apart there is one full loop iteration, whose timers phase runs with the
    // clock updated after the freeze (a zero-delay timer would not do: it is scheduled on the stale loop time).
    frozenWithWork = false;
    for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
  }
  current = message;
  callsThisInvocation = 0;
  const reportedInit = handler ? 0 : undefined;
  let outcome: { ok: true; value: unknown } | { ok: false; error: { name: string; message: string; stack?: string } };
  try {
    if (!handler) {
      handler = await loadHandler();
      // The function's timeout covers the invoke phase only; init has its own limit (see the invoker).
      post({ type: 'initialized', id: message.id });
    }
    if (message.stopAfterCalls === 0) stopHere(message.id);
    const value = await call(handler, message.event, contextFor(message.requestId, message.deadline));
    // Lambda returns the JSON serialization of the result: the same here, so nothing unserializable slips through.
    const json = value === undefined ? 'null' : JSON.stringify(value);
    const bytes = Buffer.byteLength(json);
    if (bytes > MAX_RESPONSE_BYTES) {
      // The line Lambda's Node.js runtime (its native client) writes to the function's log when the Runtime API refuses
      // the answer; the runtime then goes on to the next invocation, as this container does.
      process.stderr.write(
        `[ERROR] [${Date.now()}] LAMBDA_RUNTIME Failed to post handler success response. Http response code: 413. {"errorMessage":"Exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).","errorType":"RequestEntityTooLarge"}\n`,
      );
      outcome = { ok: false, error: responseTooLarge(bytes) };
    } else outcome = { ok: true, value: JSON.parse(json) };
  } catch (error) {
    outcome = { ok: false, error: errorOf(error) };
  }
  const result: Extract<FromContainer, { type: 'result' }> = {
    type: 'result',
    id: message.id,
    initMs: reportedInit ?? initMs,
    pendingAtFreeze: [],
    ...outcome,
  };
  // What the handler logged reaches the log before the freeze, as Lambda's log lines do: a worker's stdout only
  // drains while its event loop runs, and a frozen container's does not.
  await stdioDrained();
  result.pendingAtFreeze = pendingWork();
  frozenWithWork = result.pendingAtFreeze.length > 0;
  post(result);
  freezeUntilNextInvocation(message.generation);
});
baseline = activeResources();
