/**
 * The Lambda service, locally: invokes functions defined in serverless.yml in worker-thread "containers".
 * Each container holds one function's code and environment and serves one invocation at a time, as on AWS; a
 * bounded pool of them is kept warm and reused, and invocations beyond the pool wait in a FIFO queue rather than
 * spawning more threads (one per invocation is what took serverless-offline past 8 GB at 5,000 disconnects).
 */
import { Worker } from 'node:worker_threads';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Clock } from '../clock.js';
import type { EventLog } from '../eventLog.js';
import type { FunctionDefinition } from '../config/serverless.js';
import type { HttpLikeHandler, InvocationResult, Invoke } from './types.js';
import type { ContainerData, FromContainer, ToContainer } from './runtime.js';

export interface LambdaInvokerOptions {
  functions: FunctionDefinition[];
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
  /**
   * How intercepted calls are caught: 'fast' answers ApiGatewayManagementApiClient at `send` (tens of thousands of
   * calls/s); 'wire' lets the SDK serialize, sign and deserialize, replacing only the socket (~8,000 calls/s).
   */
  interceptMode?: 'fast' | 'wire';
  /** Called for every line a function logs (after the event log has it). */
  onLog?: (functionName: string, line: { level: string; message: string; data?: Record<string, unknown> }) => void;
}

interface Pending {
  resolve: (result: InvocationResult) => void;
  requestId: string;
  started: number;
  coldStart: boolean;
  timer: NodeJS.Timeout;
  trigger: string;
  /** A fault: the invocation times out once it has made this many intercepted SDK calls (mid-batch). */
  callsLeft?: number;
  /** A fault: the invocation times out whatever the handler answers (its result is ignored; the timer ends it). */
  doomed?: boolean;
}

interface Container {
  worker: Worker;
  busy: boolean;
  stale: boolean;
  warm: boolean;
  pending: Map<number, Pending>;
}

interface Queued {
  event: unknown;
  trigger: string;
  resolve: (result: InvocationResult) => void;
}

interface FunctionPool {
  definition: FunctionDefinition;
  containers: Set<Container>;
  queue: Queued[];
  coldStarts: number;
  invocations: number;
  timeoutNext: number;
  /** Pending "time out after n calls" faults, one per invocation. */
  timeoutAfterCalls: number[];
}

const containerEntry = new URL('./container.mjs', import.meta.url);

export function createLambdaInvoker(options: LambdaInvokerOptions) {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? '123456789012';
  const maxContainers = options.maxContainersPerFunction ?? 4;
  let nextInvocationId = 0;
  let closed = false;

  const pools = new Map<string, FunctionPool>(
    options.functions.map((definition) => [
      definition.name,
      { definition, containers: new Set(), queue: [], coldStarts: 0, invocations: 0, timeoutNext: 0, timeoutAfterCalls: [] },
    ]),
  );

  function environmentFor(fn: FunctionDefinition): Record<string, string> {
    return {
      // What the Lambda runtime sets (the reserved variables a handler may read).
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_LAMBDA_FUNCTION_NAME: fn.deployedName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.deployedName}`,
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      AWS_ACCESS_KEY_ID: 'EMULATORACCESSKEY',
      AWS_SECRET_ACCESS_KEY: 'emulator-secret-access-key',
      AWS_SESSION_TOKEN: 'emulator-session-token',
      TZ: 'UTC',
      PATH: process.env.PATH ?? '',
      ...fn.environment,
      ...options.environment,
    };
  }

  function forwardLogs(fn: FunctionDefinition, stream: NodeJS.ReadableStream, defaultLevel: string): void {
    createInterface({ input: stream }).on('line', (line) => {
      let entry: { level: string; message: string; data?: Record<string, unknown> };
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        const { level, message, ...data } = parsed;
        entry = { level: String(level ?? defaultLevel), message: String(message ?? ''), data };
      } catch {
        entry = { level: defaultLevel, message: line };
      }
      options.eventLog?.record({ kind: 'log', functionName: fn.name, ...entry });
      options.onLog?.(fn.name, entry);
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
      interceptMode: options.interceptMode ?? 'fast',
    };
    const worker = new Worker(containerEntry, { workerData: data, env: environmentFor(fn), stdout: true, stderr: true });
    const container: Container = { worker, busy: false, stale: false, warm: false, pending: new Map() };
    forwardLogs(fn, worker.stdout, 'INFO');
    forwardLogs(fn, worker.stderr, 'ERROR');
    worker.on('message', (message: FromContainer) => {
      if (message.type === 'http-request') {
        const serve = options.serveIntercepted;
        const answer = serve
          ? serve(message.request)
          : Promise.resolve({ statusCode: 502, headers: {}, body: Buffer.from('no in-process handler for this host') });
        void answer
          .catch((error: Error) => ({ statusCode: 500, headers: { 'x-amzn-errortype': 'InternalServerErrorException' }, body: Buffer.from(error.message) }))
          .then((response) => {
            worker.postMessage({ type: 'http-response', id: message.id, response } satisfies ToContainer);
            // The call was served; an invocation doomed to time out after it stops here, mid-work.
            for (const [id, pending] of container.pending) {
              if (pending.callsLeft !== undefined && --pending.callsLeft <= 0) expire(pool, container, id, pending);
            }
          });
        return;
      }
      const pending = container.pending.get(message.id);
      // A doomed invocation's answer may beat its 0 ms timer to the event loop: the timer decides, as the fault says.
      if (!pending || pending.doomed) return;
      container.pending.delete(message.id);
      clearTimeout(pending.timer);
      container.warm = true;
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

  function run(pool: FunctionPool, container: Container, queued: Queued): void {
    const fn = pool.definition;
    const id = ++nextInvocationId;
    const requestId = randomUUID();
    const doomed = pool.timeoutNext > 0;
    if (doomed) pool.timeoutNext--;
    const timeoutMs = doomed ? 0 : fn.timeoutSeconds * 1000;
    const started = performance.now();
    const coldStart = !container.warm;
    container.busy = true;
    const timer = setTimeout(() => expire(pool, container, id, pending), timeoutMs);
    const callsLeft = pool.timeoutAfterCalls.shift();
    const pending: Pending = { resolve: queued.resolve, requestId, started, coldStart, timer, trigger: queued.trigger, ...(callsLeft ? { callsLeft } : {}), ...(doomed ? { doomed } : {}) };
    container.pending.set(id, pending);
    pool.invocations++;
    const message: ToContainer = { type: 'invoke', id, event: queued.event, requestId, deadline: Date.now() + timeoutMs };
    container.worker.postMessage(message);
  }

  /** AWS stops the runtime when the time is up: the container is gone and the next invocation starts cold. */
  function expire(pool: FunctionPool, container: Container, id: number, pending: Pending): void {
    if (!container.pending.has(id)) return;
    clearTimeout(pending.timer);
    container.pending.delete(id);
    pool.containers.delete(container);
    void container.worker.terminate();
    const result: InvocationResult = {
      ok: false,
      kind: 'timeout',
      error: { name: 'Sandbox.Timedout', message: `Task timed out after ${pool.definition.timeoutSeconds.toFixed(2)} seconds` },
      requestId: pending.requestId,
      coldStart: pending.coldStart,
      durationMs: Math.round(performance.now() - pending.started),
    };
    record(pool, pending, result);
    pending.resolve(result);
    drain(pool);
  }

  function drain(pool: FunctionPool): void {
    while (pool.queue.length && !closed) {
      let container = [...pool.containers].find((c) => !c.busy && !c.stale);
      if (!container) {
        const live = [...pool.containers].filter((c) => !c.stale).length;
        if (live >= maxContainers) return;
        container = spawn(pool);
      }
      run(pool, container, pool.queue.shift()!);
    }
  }

  const invoke: Invoke = (functionName, event, trigger) => {
    const pool = pools.get(functionName);
    if (!pool) {
      return Promise.reject(new Error(`No function "${functionName}" in serverless.yml (have: ${[...pools.keys()].join(', ')})`));
    }
    if (closed) return Promise.reject(new Error('The Lambda invoker is closed'));
    return new Promise<InvocationResult>((resolve) => {
      // JSON round trip: the event crosses to the container as Lambda's does, as JSON.
      pool.queue.push({ event: JSON.parse(JSON.stringify(event)), trigger, resolve });
      drain(pool);
    });
  };

  return {
    invoke,
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
      /** The next `count` invocations of the function run past their timeout (they are stopped at once, as a timeout would). */
      timeoutNext(functionName: string, count = 1): void {
        pools.get(functionName)!.timeoutNext += count;
        options.eventLog?.record({ kind: 'fault', description: `${functionName}: next ${count} invocation(s) time out` });
      },
      /**
       * The next invocation of the function times out after it has made `calls` SDK calls to intercepted hosts (e.g.
       * management API posts): a timeout in the middle of its work, deterministically.
       */
      timeoutAfterCalls(functionName: string, calls: number): void {
        if (!Number.isInteger(calls) || calls < 1) throw new RangeError(`timeoutAfterCalls: calls must be a positive integer, got ${calls}`);
        pools.get(functionName)!.timeoutAfterCalls.push(calls);
        options.eventLog?.record({ kind: 'fault', description: `${functionName}: next invocation times out after ${calls} call(s)` });
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
      for (const pool of pools.values()) {
        pool.timeoutNext = 0;
        pool.timeoutAfterCalls.length = 0;
      }
    },
    stats() {
      return Object.fromEntries(
        [...pools.values()].map((p) => [
          p.definition.name,
          { containers: p.containers.size, busy: [...p.containers].filter((c) => c.busy).length, queued: p.queue.length, coldStarts: p.coldStarts, invocations: p.invocations },
        ]),
      );
    },
    async close(): Promise<void> {
      closed = true;
      const workers: Promise<number>[] = [];
      for (const pool of pools.values()) {
        for (const container of pool.containers) {
          pool.containers.delete(container);
          for (const pending of container.pending.values()) clearTimeout(pending.timer);
          workers.push(container.worker.terminate());
        }
      }
      await Promise.all(workers);
    },
  };
}

export type LambdaInvoker = ReturnType<typeof createLambdaInvoker>;
