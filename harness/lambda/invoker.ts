/**
 * The Lambda service, locally: invokes functions defined in serverless.yml in worker-thread "containers".
 * Each container holds one function's code and environment and serves one invocation at a time, as on AWS; a
 * bounded pool of them is kept warm and reused, and invocations beyond the pool wait in a FIFO queue rather than
 * spawning more threads (one per invocation is what took serverless-offline past 8 GB at 5,000 disconnects).
 */
import { Worker } from 'node:worker_threads';
import { randomBytes, randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { setFlagsFromString } from 'node:v8';
import { relative, sep } from 'node:path';
import type { Clock } from '../clock.js';
import { ACCOUNT_ID, emulatorDefaults } from '../common/awsDefaults.js';
import type { EventLog } from '../eventLog.js';
import type { FunctionDefinition } from '../config/serverless.js';
import type { HttpLikeHandler, InvocationResult, Invoke } from './types.js';
import type { ContainerData, FromContainer, ToContainer, WarmMessage } from './runtime.js';
import { LATENCY_PROFILES, type LatencyProfile } from '../latency.js';
import { checkNodeOptions, lambdaHeapLimitMb, type NodeOptionsCheck } from './nodeOptions.js';
import { MAX_SYNC_REQUEST_BYTES, requestTooLargeMessage } from './invokeApi.js';

/** A function as the invoker runs it: serverless.yml's definition, its code maybe taken from a package. */
export type InvokedFunction = FunctionDefinition & {
  /** Plain JavaScript from a deployable package (emulate --package): imported by Node itself, not through tsx. */
  nativeHandler?: boolean;
  /**
   * Where the function's code lives (/var/task on AWS): LAMBDA_TASK_ROOT, and the folder `_HANDLER` is relative to —
   * the service root for source, the unpacked artefact for a package.
   */
  taskRoot?: string;
};

export interface LambdaInvokerOptions {
  functions: InvokedFunction[];
  /** Merged over every function's environment (e.g. DYNAMODB_ENDPOINT pointing at dynalite). */
  environment?: Record<string, string>;
  region?: string;
  accountId?: string;
  clock?: Clock;
  eventLog?: EventLog;
  /** Containers per function; AWS's concurrency, bounded for a laptop. Default 4. */
  maxContainersPerFunction?: number;
  /** SDK requests to these hosts are answered by `serveIntercepted` in this thread, without a socket. */
  interceptHosts?: string[];
  serveIntercepted?: HttpLikeHandler;
  /** Plain-HTTP endpoints (host:port, e.g. the embedded dynalite) whose SDK requests `serveIntercepted` answers too. */
  inProcessEndpoints?: string[];
  /**
   * How intercepted calls are caught: 'fast' answers ApiGatewayManagementApiClient at `send` (tens of thousands of
   * calls/s); 'wire' lets the SDK serialize, sign and deserialize, replacing only the socket (~8,000 calls/s).
   */
  interceptMode?: 'fast' | 'wire';
  /** Network time of the AWS calls functions make. Default: none. */
  latency?: LatencyProfile;
  /** Called for every line a function logs (after the event log has it), with the line as printed (`raw`). */
  onLog?: (functionName: string, line: { level: string; message: string; data?: Record<string, unknown> }, raw: string) => void;
}

interface Pending {
  resolve: (result: InvocationResult) => void;
  /** The invoke phase's limit; on a cold start it starts once init is done. */
  timeoutMs: number;
  requestId: string;
  started: number;
  coldStart: boolean;
  timer: NodeJS.Timeout;
  trigger: string;
}

interface Container {
  worker: Worker;
  /** The request id of the invocation it runs or ran last: its log lines carry it, as Lambda's do. */
  requestId: string | undefined;
  /** The freeze signal shared with the container (see ContainerData.wake). */
  wake: Int32Array;
  busy: boolean;
  stale: boolean;
  warm: boolean;
  pending: Map<number, Pending>;
  /** Set while the container pre-warms (see `prewarm`): called once its init is over, or failed, or cut short. */
  warming?: (error?: string) => void;
}

/** What pre-warming did for one function: its init's duration, or why it failed (the first invocation reports it). */
export interface WarmReport {
  functionName: string;
  initMs: number;
  error?: string;
}

interface Queued {
  event: unknown;
  trigger: string;
  resolve: (result: InvocationResult) => void;
}

interface FunctionPool {
  definition: InvokedFunction;
  containers: Set<Container>;
  queue: Queued[];
  coldStarts: number;
  invocations: number;
  /** lambdaTimeout faults waiting for the next invocations, oldest first. */
  timeouts: TimeoutFault[];
  /** Kinds of pending work already warned about at a freeze. */
  frozenWarnings: Set<string>;
  /** The function's NODE_OPTIONS that a container cannot apply have been named (once per function). */
  nodeOptionsWarned?: boolean;
}

/**
 * When an injected timeout hits: at once (the default, the function never runs), after `afterMs` of execution, or
 * right after the `afterCalls`-th AWS call has its answer (e.g. just after the write committed).
 */
export interface TimeoutFault {
  afterMs?: number;
  afterCalls?: number;
  /** With afterCalls: only calls to this AWS service count (SigV4's name, e.g. execute-api for posts). */
  service?: string;
}

/** Lambda's limit on a function's init phase (static initialization before the first invocation). */
const INIT_LIMIT_MS = 10_000;

/**
 * Each container's V8 young generation, in MB. Left to V8, a container that served a burst (a fleet's $connects)
 * keeps tens of MB of it committed, most of it garbage, and `emulate` runs up to `maxContainersPerFunction` per
 * function: that was ~100 MB of its resident memory holding 1,500 sockets. The cap changes how often a
 * container's GC runs, not what its handler sees. Lambda's runtime sizes it from the function's memory (a semi-space
 * of memory/20 MB); the old generation is sized as there (nodeOptions.ts, lambdaHeapLimitMb). The process's whole
 * memory is not limited per function (FIDELITY.md).
 */
export const CONTAINER_YOUNG_GENERATION_MB = 3;

const containerEntry = new URL('./container.mjs', import.meta.url);

const TSX_LOADER = /^tsx(\/|$)|[/\\]node_modules[/\\]tsx[/\\]/;
const LOADER_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);

/**
 * The node options a container starts with: undefined (the process's own, which worker threads inherit) unless they
 * load tsx (`node --import tsx`, or the tsx CLI's `--require …/tsx/dist/preflight.cjs --import …/tsx/dist/loader.mjs`):
 * then the same without tsx. Under tsx's hooks a cold start loaded every module of the AWS SDK through them, about
 * twice the CPU of the precompiled path container.mjs takes (which registers tsx itself when it cannot precompile).
 */
export function containerExecArgv(execArgv: readonly string[]): string[] | undefined {
  const kept: string[] = [];
  let dropped = false;
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i];
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (LOADER_FLAGS.has(flag)) {
      const value = inline ?? execArgv[i + 1];
      if (value !== undefined && TSX_LOADER.test(value)) {
        dropped = true;
        if (inline === undefined) i++;
        continue;
      }
    }
    kept.push(arg);
  }
  return dropped ? kept : undefined;
}

/**
 * A container whose runtime cannot start: node refused the function's NODE_OPTIONS. On Lambda the runtime's process
 * exits at once with node's message, status 9; so does this thread (the invoker reports a Runtime.ExitError).
 */
function refusedRuntime(message: string, env: Record<string, string>): Worker {
  return new Worker("process.stderr.write(`node: ${require('node:worker_threads').workerData}\\n`); process.exit(9);", {
    eval: true,
    workerData: message,
    env: { ...env, NODE_OPTIONS: '' },
    stdout: true,
    stderr: true,
  });
}

/** The function's handler setting as Lambda shows it in `_HANDLER`: its file relative to the task root, without extension, and its export. */
function handlerSetting(taskRoot: string, fn: Pick<FunctionDefinition, 'handlerFile' | 'handlerExport'>): string {
  return `${relative(taskRoot, fn.handlerFile)
    .replace(/\.[cm]?[jt]s$/, '')
    .split(sep)
    .join('/')}.${fn.handlerExport}`;
}

export function createLambdaInvoker(options: LambdaInvokerOptions) {
  // Lambda's Node.js runtime starts node with --expose-gc: a handler may call gc() there, so it may here. The flag is
  // V8's, the whole process's; set before any container starts, each container's context is made with gc.
  setFlagsFromString('--expose-gc');
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? ACCOUNT_ID;
  const maxContainers = options.maxContainersPerFunction ?? emulatorDefaults.maxContainersPerFunction;
  let nextInvocationId = 0;
  let closed = false;
  let latency: LatencyProfile = options.latency ?? LATENCY_PROFILES.none;

  const pools = new Map<string, FunctionPool>(
    options.functions.map((definition) => [
      definition.name,
      { definition, containers: new Set(), queue: [], coldStarts: 0, invocations: 0, timeouts: [], frozenWarnings: new Set() },
    ]),
  );

  function environmentFor(fn: InvokedFunction): Record<string, string> {
    return {
      // What the Lambda runtime sets (the reserved variables a handler may read).
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_LAMBDA_FUNCTION_NAME: fn.deployedName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.deployedName}`,
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_ACCESS_KEY: 'EMULATORACCESSKEY',
      AWS_ACCESS_KEY_ID: 'EMULATORACCESSKEY',
      AWS_SECRET_ACCESS_KEY: 'emulator-secret-access-key',
      AWS_SESSION_TOKEN: 'emulator-session-token',
      TZ: 'UTC',
      LANG: 'en_US.UTF-8',
      PATH: process.env.PATH ?? '',
      ...(fn.taskRoot ? { LAMBDA_TASK_ROOT: fn.taskRoot, _HANDLER: handlerSetting(fn.taskRoot, fn) } : {}),
      ...fn.environment,
      ...options.environment,
    };
  }

  function forwardLogs(
    fn: FunctionDefinition,
    stream: NodeJS.ReadableStream,
    defaultLevel: string,
    requestId: () => string | undefined,
  ): void {
    createInterface({ input: stream }).on('line', (line) => {
      let entry: { level: string; message: string; data?: Record<string, unknown> };
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        const { level, message, ...data } = parsed;
        entry = { level: String(level ?? defaultLevel), message: String(message ?? ''), data };
      } catch {
        entry = { level: defaultLevel, message: line };
      }
      const id = requestId();
      options.eventLog?.record({ kind: 'log', functionName: fn.name, ...entry, ...(id ? { requestId: id } : {}) });
      options.onLog?.(fn.name, entry, line);
    });
  }

  function spawn(pool: FunctionPool): Container {
    const fn = pool.definition;
    const data: ContainerData = {
      handlerFile: fn.handlerFile,
      handlerExport: fn.handlerExport,
      functionName: fn.deployedName,
      memorySize: fn.memorySize,
      region,
      accountId,
      interceptHosts: options.interceptHosts ?? [],
      inProcessEndpoints: options.inProcessEndpoints ?? [],
      interceptMode: options.interceptMode ?? 'fast',
      nativeHandler: fn.nativeHandler === true,
      // One stream per execution environment, named as Lambda names them.
      logStreamName: `${new Date().toISOString().slice(0, 10).replace(/-/g, '/')}/[$LATEST]${randomBytes(16).toString('hex')}`,
      wake: new SharedArrayBuffer(8),
    };
    const execArgv = containerExecArgv(process.execArgv);
    const env: Record<string, string> = { ...environmentFor(fn), AWS_LAMBDA_LOG_STREAM_NAME: data.logStreamName };
    const nodeOptions = checkNodeOptions(env.NODE_OPTIONS);
    const heapLimitMb = lambdaHeapLimitMb(fn.memorySize);
    warnNodeOptions(pool, nodeOptions, heapLimitMb);
    const worker = nodeOptions.refused
      ? refusedRuntime(nodeOptions.refused, env)
      : new Worker(containerEntry, {
          workerData: data,
          env,
          stdout: true,
          stderr: true,
          ...(execArgv ? { execArgv } : {}),
          // The old generation as Lambda's runtime sizes it from the function's memory: a handler that outgrows it
          // dies (Runtime.ExitError), as there. The young generation is the emulator's (see CONTAINER_YOUNG_GENERATION_MB).
          resourceLimits: { maxYoungGenerationSizeMb: CONTAINER_YOUNG_GENERATION_MB, maxOldGenerationSizeMb: heapLimitMb },
        });
    const container: Container = {
      worker,
      wake: new Int32Array(data.wake),
      requestId: undefined,
      busy: false,
      stale: false,
      warm: false,
      pending: new Map(),
    };
    forwardLogs(fn, worker.stdout, 'INFO', () => container.requestId);
    forwardLogs(fn, worker.stderr, 'ERROR', () => container.requestId);
    worker.on('message', (message: FromContainer) => {
      if (message.type === 'http-request') {
        const serve = options.serveIntercepted;
        const answer = serve
          ? serve(message.request)
          : Promise.resolve({ statusCode: 502, headers: {}, body: Buffer.from('no in-process handler for this host') });
        void answer
          .catch((error: Error) => ({
            statusCode: 500,
            headers: { 'x-amzn-errortype': 'InternalServerErrorException' },
            body: Buffer.from(error.message),
          }))
          .then((response) => worker.postMessage({ type: 'http-response', id: message.id, response } satisfies ToContainer));
        return;
      }
      if (message.type === 'warmed') {
        container.warming?.(message.error && `${message.error.name}: ${message.error.message}`);
        return;
      }
      const pending = container.pending.get(message.id);
      if (!pending) return;
      if (message.type === 'initialized') {
        clearTimeout(pending.timer);
        pending.timer = setTimeout(() => timeOut(pool, container, message.id, pending), pending.timeoutMs);
        return;
      }
      if (message.type === 'stopped') {
        clearTimeout(pending.timer);
        timeOut(pool, container, message.id, pending);
        return;
      }
      container.pending.delete(message.id);
      clearTimeout(pending.timer);
      container.warm = true;
      if (message.pendingAtFreeze.length) warnFrozen(pool, message.pendingAtFreeze);
      const durationMs = Math.round(performance.now() - pending.started);
      const result: InvocationResult = message.ok
        ? { ok: true, value: message.value, requestId: pending.requestId, coldStart: pending.coldStart, durationMs }
        : { ok: false, kind: 'error', error: message.error, requestId: pending.requestId, coldStart: pending.coldStart, durationMs };
      finish(pool, container, pending, result);
    });
    worker.on('error', (error) => crash(pool, container, error));
    worker.on('exit', (code) => {
      if (pool.containers.has(container)) crash(pool, container, new Error(`container exited with code ${code}`));
    });
    pool.containers.add(container);
    pool.coldStarts++;
    return container;
  }

  /** A container that died takes its in-flight invocation with it; the pool replaces it on demand. */
  function crash(pool: FunctionPool, container: Container, error: Error): void {
    pool.containers.delete(container);
    container.warming?.(`Runtime.ExitError: ${error.message}`);
    for (const pending of container.pending.values()) {
      clearTimeout(pending.timer);
      const result: InvocationResult = {
        ok: false,
        kind: 'error',
        error: { name: 'Runtime.ExitError', message: `RequestId: ${pending.requestId} Error: Runtime exited: ${error.message}` },
        requestId: pending.requestId,
        coldStart: pending.coldStart,
        durationMs: Math.round(performance.now() - pending.started),
      };
      record(pool, pending, result);
      pending.resolve(result);
    }
    container.pending.clear();
    drain(pool);
  }

  function record(pool: FunctionPool, pending: Pending, result: InvocationResult): void {
    options.eventLog?.record({
      kind: 'invoke',
      functionName: pool.definition.name,
      trigger: pending.trigger,
      requestId: pending.requestId,
      coldStart: pending.coldStart,
      durationMs: result.durationMs,
      outcome: result.ok ? 'ok' : result.kind,
      ...(result.ok ? {} : { error: `${result.error.name}: ${result.error.message}` }),
    });
  }

  function finish(pool: FunctionPool, container: Container, pending: Pending, result: InvocationResult): void {
    container.busy = false;
    record(pool, pending, result);
    if (container.stale) retire(pool, container);
    pending.resolve(result);
    drain(pool);
  }

  function retire(pool: FunctionPool, container: Container): void {
    pool.containers.delete(container);
    void container.worker.terminate();
  }

  /** The function's NODE_OPTIONS that a container cannot apply, or that the runtime overrides: one line per function. */
  function warnNodeOptions(pool: FunctionPool, check: NodeOptionsCheck, heapLimitMb: number): void {
    if (pool.nodeOptionsWarned || (!check.notApplied.length && !check.overridden.length)) return;
    pool.nodeOptionsWarned = true;
    const name = pool.definition.name;
    const said = [
      check.notApplied.length
        ? `${check.notApplied.join(' ')} not applied: a container is a thread of the emulator's process and these options are a whole process's (on AWS the function's runtime starts with them)`
        : '',
      check.overridden.length
        ? `${check.overridden.join(' ')} overridden, here as on AWS: Lambda's runtime sizes the heap from memorySize (old generation ${heapLimitMb} MB)`
        : '',
    ].filter(Boolean);
    options.eventLog?.record({
      kind: 'log',
      functionName: name,
      level: 'WARN',
      message: `${name}: NODE_OPTIONS ${said.join('; ')}`,
      data: { emulator: 'node-options', notApplied: check.notApplied, overridden: check.overridden },
    });
  }

  /** One line when a container is frozen with work pending: that work waits for the next invocation, as on AWS. */
  function warnFrozen(pool: FunctionPool, pending: string[]): void {
    // Once per function and kind of pending work (a handler that leaks a timer on every call warns once, not per call).
    const kinds = pending
      .map((p) => p.replace(/^\d+ /, ''))
      .sort()
      .join('+');
    if (pool.frozenWarnings.has(kinds)) return;
    pool.frozenWarnings.add(kinds);
    options.eventLog?.record({
      kind: 'log',
      functionName: pool.definition.name,
      level: 'WARN',
      message: `${pool.definition.name} returned with work pending (${pending.join(', ')}): on AWS this is frozen until the next invocation`,
      data: { emulator: 'frozen-container', pending },
    });
  }

  /** AWS stops the runtime when the time is up: the container is gone and the next invocation starts cold. */
  function timeOut(pool: FunctionPool, container: Container, id: number, pending: Pending): void {
    const fn = pool.definition;
    container.pending.delete(id);
    pool.containers.delete(container);
    void container.worker.terminate();
    const result: InvocationResult = {
      ok: false,
      kind: 'timeout',
      error: { name: 'Sandbox.Timedout', message: `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds` },
      requestId: pending.requestId,
      coldStart: pending.coldStart,
      durationMs: Math.round(performance.now() - pending.started),
    };
    record(pool, pending, result);
    pending.resolve(result);
    drain(pool);
  }

  function run(pool: FunctionPool, container: Container, queued: Queued): void {
    const fn = pool.definition;
    const id = ++nextInvocationId;
    const requestId = randomUUID();
    const fault = pool.timeouts.shift();
    // The function's timeout counts wall time, network time included; a fault may end it sooner.
    const timeoutMs = fault?.afterMs ?? fn.timeoutSeconds * 1000;
    // A fault without afterMs stops the function after its Nth AWS call, or (no afterCalls) before it runs at all.
    const stopAfterCalls = fault && fault.afterMs === undefined ? (fault.afterCalls ?? 0) : undefined;
    const started = performance.now();
    const coldStart = !container.warm;
    container.busy = true;
    container.requestId = requestId;
    options.eventLog?.record({ kind: 'invokeStart', functionName: fn.name, trigger: queued.trigger, requestId, coldStart });
    // On a cold start the handler's init runs first, with AWS's 10 s init limit; the function's timeout starts after it.
    const timer = setTimeout(() => timeOut(pool, container, id, pending), coldStart ? INIT_LIMIT_MS + timeoutMs : timeoutMs);
    const pending: Pending = { resolve: queued.resolve, requestId, started, coldStart, timer, trigger: queued.trigger, timeoutMs };
    container.pending.set(id, pending);
    pool.invocations++;
    const message: ToContainer = {
      type: 'invoke',
      id,
      event: queued.event,
      requestId,
      deadline: Date.now() + timeoutMs,
      // Thaws the container if it is frozen after its previous invocation.
      generation: Atomics.add(container.wake, 0, 1) + 1,
      latency,
      ...(stopAfterCalls !== undefined ? { stopAfterCalls, ...(fault?.service ? { stopAfterService: fault.service } : {}) } : {}),
    };
    // The message first, then the thaw: the container finds its invocation waiting when it wakes.
    container.worker.postMessage(message);
    Atomics.notify(container.wake, 0);
  }

  /**
   * One container of the function runs its init now, before any invocation, and then waits frozen and warm: the
   * cold start is paid during the emulator's start-up instead of by the first request (as provisioned concurrency
   * does on AWS). Every later container — concurrency beyond one, a reload — still starts cold.
   */
  function warm(pool: FunctionPool): Promise<WarmReport> {
    const functionName = pool.definition.name;
    if (closed || pool.containers.size > 0) return Promise.resolve({ functionName, initMs: 0 });
    const container = spawn(pool);
    container.busy = true;
    const started = performance.now();
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => container.warming?.(`Runtime.InitTimeout: init did not finish within ${INIT_LIMIT_MS / 1000} s`),
        INIT_LIMIT_MS,
      );
      container.warming = (error) => {
        container.warming = undefined;
        clearTimeout(timer);
        const initMs = Math.round(performance.now() - started);
        container.busy = false;
        if (error || container.stale) {
          // A failed init leaves no warm container: the next invocation starts cold and reports the error itself.
          if (pool.containers.has(container)) retire(pool, container);
        } else container.warm = true;
        options.eventLog?.record({
          kind: 'log',
          functionName,
          level: error ? 'WARN' : 'INFO',
          message: error
            ? `${functionName}: pre-warming failed (${error}); its first invocation starts cold`
            : `${functionName}: one container warmed at start-up (init ${initMs} ms)`,
        });
        resolve({ functionName, initMs, ...(error ? { error } : {}) });
        drain(pool);
      };
      container.worker.postMessage({ type: 'warm', generation: Atomics.load(container.wake, 0) } satisfies WarmMessage);
    });
  }

  function drain(pool: FunctionPool): void {
    while (pool.queue.length && !closed) {
      let container = [...pool.containers].find((c) => !c.busy && !c.stale);
      if (!container) {
        // A container still pre-warming started its init earlier than a new one would: the head of the queue waits
        // for it rather than paying a second cold start.
        const warming = [...pool.containers].filter((c) => c.warming && !c.stale).length;
        if (warming >= pool.queue.length) return;
        const live = [...pool.containers].filter((c) => !c.stale).length;
        if (live >= maxContainers) return;
        container = spawn(pool);
      }
      run(pool, container, pool.queue.shift()!);
    }
  }

  /** An invocation Lambda refuses before the function runs: its event is over the synchronous request quota. */
  function requestTooLarge(pool: FunctionPool, bytes: number, trigger: string): InvocationResult {
    const name = pool.definition.name;
    options.eventLog?.record({
      kind: 'log',
      functionName: name,
      level: 'WARN',
      message: `${name} (${trigger}): the event is ${bytes} bytes, over Lambda's ${MAX_SYNC_REQUEST_BYTES}-byte synchronous request quota; the function was not invoked`,
      data: { emulator: 'request-too-large', bytes },
    });
    return {
      ok: false,
      kind: 'error',
      error: { name: 'RequestTooLargeException', message: requestTooLargeMessage(MAX_SYNC_REQUEST_BYTES) },
      requestId: randomUUID(),
      coldStart: false,
      durationMs: 0,
    };
  }

  const invoke: Invoke = (functionName, event, trigger) => {
    const pool = pools.get(functionName);
    if (!pool) {
      return Promise.reject(new Error(`No function "${functionName}" in serverless.yml (have: ${[...pools.keys()].join(', ')})`));
    }
    if (closed) return Promise.reject(new Error('The Lambda invoker is closed'));
    return new Promise<InvocationResult>((resolve) => {
      // JSON round trip: the event crosses to the container as Lambda's does, as JSON.
      const json = JSON.stringify(event);
      // Lambda's quota on a synchronous invocation's request, measured on that JSON (a character is 1–3 bytes): over
      // it the function never runs. Whoever invoked (an API, a mapping) gets the failure; the log says why.
      if (json !== undefined && json.length * 3 > MAX_SYNC_REQUEST_BYTES && Buffer.byteLength(json) > MAX_SYNC_REQUEST_BYTES) {
        resolve(requestTooLarge(pool, Buffer.byteLength(json), trigger));
        return;
      }
      pool.queue.push({ event: JSON.parse(json), trigger, resolve });
      drain(pool);
    });
  };

  return {
    invoke,
    /**
     * Pre-warms one container for each of `functionNames` (see `warm`; every function when omitted), one init at a
     * time in that order: on two cores, parallel inits only slow each other and the first request's function.
     * Resolves when every init is over; an invocation that arrives meanwhile waits for its function's warming container.
     */
    async prewarm(functionNames: readonly string[] = [...pools.keys()]): Promise<WarmReport[]> {
      const unknown = functionNames.filter((name) => !pools.has(name));
      if (unknown.length)
        throw new Error(
          `Cannot pre-warm ${unknown.join(', ')}: no such function in serverless.yml (have: ${[...pools.keys()].join(', ')})`,
        );
      const reports: WarmReport[] = [];
      for (const name of new Set(functionNames)) reports.push(await warm(pools.get(name)!));
      return reports;
    },
    /** New invocations get fresh containers that import the code anew; in-flight ones finish on their old container. */
    async reload(): Promise<void> {
      for (const pool of pools.values()) {
        for (const container of pool.containers) {
          container.stale = true;
          if (!container.busy) retire(pool, container);
        }
      }
    },
    faults: {
      /**
       * The next `count` invocations of the function run out of time: at once (the function never runs), after
       * `afterMs` of execution, or right after their `afterCalls`-th AWS call has its answer.
       */
      timeoutNext(functionName: string, count = 1, when: TimeoutFault = {}): void {
        const pool = pools.get(functionName);
        if (!pool) throw new Error(`No function "${functionName}" in serverless.yml (have: ${[...pools.keys()].join(', ')})`);
        if (!Number.isInteger(count) || count < 1) throw new Error(`lambdaTimeout count must be a positive integer, got ${count}`);
        if (when.afterMs !== undefined && when.afterCalls !== undefined)
          throw new Error('lambdaTimeout takes afterMs or afterCalls, not both');
        if (when.afterMs !== undefined && !(Number.isFinite(when.afterMs) && when.afterMs >= 0))
          throw new Error(`lambdaTimeout afterMs must be ≥ 0, got ${when.afterMs}`);
        if (when.afterCalls !== undefined && !(Number.isInteger(when.afterCalls) && when.afterCalls >= 1))
          throw new Error(`lambdaTimeout afterCalls must be an integer ≥ 1, got ${when.afterCalls}`);
        for (let i = 0; i < count; i++) pool.timeouts.push({ ...when });
        const moment =
          when.afterCalls !== undefined
            ? ` right after AWS call #${when.afterCalls}`
            : when.afterMs !== undefined
              ? ` after ${when.afterMs} ms`
              : '';
        options.eventLog?.record({ kind: 'fault', description: `${functionName}: next ${count} invocation(s) time out${moment}` });
      },
      /** Drops the warm containers of the function so its next invocation is a cold start. */
      coldStartNext(functionName: string): void {
        const pool = pools.get(functionName)!;
        for (const container of pool.containers) {
          container.stale = true;
          if (!container.busy) retire(pool, container);
        }
        options.eventLog?.record({ kind: 'fault', description: `${functionName}: next invocation starts cold` });
      },
    },
    /** Forgets faults not yet used up. */
    clearFaults(): void {
      for (const pool of pools.values()) pool.timeouts.length = 0;
    },
    /** Network time for the AWS calls of invocations from now on. */
    setLatency(profile: LatencyProfile): void {
      latency = profile;
    },
    get latency(): LatencyProfile {
      return latency;
    },
    stats() {
      return Object.fromEntries(
        [...pools.values()].map((p) => [
          p.definition.name,
          {
            containers: p.containers.size,
            busy: [...p.containers].filter((c) => c.busy).length,
            queued: p.queue.length,
            coldStarts: p.coldStarts,
            invocations: p.invocations,
          },
        ]),
      );
    },
    /** Stops every container. Every invocation still running or queued settles, as a failure that says why. */
    async close(): Promise<void> {
      closed = true;
      const stopped = (requestId: string, coldStart: boolean, durationMs: number): InvocationResult => ({
        ok: false,
        kind: 'error',
        error: { name: 'EmulatorShutdown', message: 'The emulator stopped before this invocation finished' },
        requestId,
        coldStart,
        durationMs,
      });
      const workers: Promise<number>[] = [];
      for (const pool of pools.values()) {
        for (const queued of pool.queue.splice(0)) queued.resolve(stopped(randomUUID(), false, 0));
        for (const container of [...pool.containers]) {
          for (const pending of container.pending.values()) {
            clearTimeout(pending.timer);
            pending.resolve(stopped(pending.requestId, pending.coldStart, Math.round(performance.now() - pending.started)));
          }
          container.pending.clear();
          container.warming?.('EmulatorShutdown: the emulator stopped during init');
          // Terminated before it leaves the pool: its exit is then not mistaken for a crash.
          workers.push(container.worker.terminate());
          pool.containers.delete(container);
        }
      }
      await Promise.all(workers);
    },
  };
}

export type LambdaInvoker = ReturnType<typeof createLambdaInvoker>;
