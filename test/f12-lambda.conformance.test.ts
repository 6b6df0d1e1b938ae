/**
 * F12 Lambda: context fields, the function's timeout enforced, its environment applied, module state not shared
 * between functions, concurrent invocations of one function in separate containers, cold starts observable.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startEmulator } from '../harness/emulator.js';
import { loadServerlessConfig } from '../harness/config/serverless.js';
import { createLambdaInvoker, type LambdaInvoker } from '../harness/lambda/invoker.js';
import { createEventLog, type EventLog } from '../harness/eventLog.js';
import type { HttpLikeResponse, InvocationResult } from '../harness/lambda/types.js';

const appFile = fileURLToPath(new URL('./fixtures/lambda-app/serverless.yml', import.meta.url));
const app = loadServerlessConfig(appFile, { env: { FIXTURE_GREETING: 'bonjour' } });
let invoker: LambdaInvoker;
let eventLog: EventLog;

function value(result: InvocationResult): any {
  if (!result.ok) throw new Error(`invocation failed: ${result.error.name}: ${result.error.message}`);
  return result.value;
}

beforeEach(() => {
  eventLog = createEventLog();
  invoker = createLambdaInvoker({
    functions: app.functions,
    region: app.region,
    environment: { EXTRA: 'from-emulator' },
    eventLog,
    maxContainersPerFunction: 2,
    interceptHosts: ['mgmt.example.test'],
    serveIntercepted: async (request): Promise<HttpLikeResponse> =>
      request.path.endsWith('/gone%3D')
        ? { statusCode: 410, headers: { 'x-amzn-errortype': 'GoneException' }, body: new Uint8Array() }
        : { statusCode: 200, headers: {}, body: new Uint8Array() },
  });
});
afterEach(() => invoker.close());

describe('F12 Lambda', () => {
  it('context carries awsRequestId, functionName, functionVersion, memoryLimitInMB, ARN and a shrinking remaining time', async () => {
    const result = await invoker.invoke('counter', {}, 'test');
    const { context } = value(result);
    expect(context).toMatchObject({
      awsRequestId: result.requestId,
      functionName: 'fixture-test-counter',
      functionVersion: '$LATEST',
      memoryLimitInMB: '256',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:fixture-test-counter',
      logGroupName: '/aws/lambda/fixture-test-counter',
      callbackWaitsForEmptyEventLoop: true,
    });
    expect(result.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context.remaining).toBeGreaterThan(0);
    expect(context.remaining).toBeLessThanOrEqual(3000);
  });

  it("applies the function's environment (provider + function + emulator overrides) and AWS's reserved variables", async () => {
    const counter = value(await invoker.invoke('counter', {}, 'test'));
    expect(counter.env).toEqual({
      SHARED: 'from-provider',
      ONLY_COUNTER: 'yes',
      TABLE: 'fixture-test-items',
      GREETING: 'bonjour',
      AWS_REGION: 'eu-west-1',
      AWS_LAMBDA_FUNCTION_NAME: 'fixture-test-counter',
      EXTRA: 'from-emulator',
    });
    expect(counter.runtime).toEqual({
      AWS_DEFAULT_REGION: 'eu-west-1',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/fixture-test-counter',
      // The container's own stream, the same as its context says.
      AWS_LAMBDA_LOG_STREAM_NAME: counter.context.logStreamName,
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
      AWS_ACCESS_KEY: 'EMULATORACCESSKEY',
      AWS_ACCESS_KEY_ID: 'EMULATORACCESSKEY',
      TZ: 'UTC',
      LANG: 'en_US.UTF-8',
      // Where the code lives: the emulator says (below); an invoker given no task root sets neither.
      LAMBDA_TASK_ROOT: null,
      _HANDLER: null,
    });
    expect(counter.context.logStreamName).toMatch(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/);
    const other = value(await invoker.invoke('other', {}, 'test'));
    expect(other.env.ONLY_COUNTER).toBeNull();
    expect(other.env.AWS_LAMBDA_FUNCTION_NAME).toBe('fixture-test-other');
  });

  it("the emulator runs its functions in serverless.yml's region: AWS_REGION and the function's ARN", async () => {
    const emulator = await startEmulator({ projectRoot: dirname(appFile), prewarm: false });
    try {
      const result = value(await emulator.invoker.invoke('counter', {}, 'test'));
      expect(result.env.AWS_REGION).toBe('eu-west-1');
      // The service root holds the code run from source, and serverless.yml's handler setting is relative to it.
      expect(result.runtime).toMatchObject({ LAMBDA_TASK_ROOT: dirname(appFile), _HANDLER: 'handlers/counter.handler' });
      expect(result.context.invokedFunctionArn).toBe(`arn:aws:lambda:eu-west-1:${app.accountId}:function:fixture-test-counter`);
    } finally {
      await emulator.close();
    }
  });

  it('module state is not shared between two functions built from the same file', async () => {
    expect(value(await invoker.invoke('counter', {}, 'test')).invocations).toBe(1);
    expect(value(await invoker.invoke('counter', {}, 'test')).invocations).toBe(2);
    expect(value(await invoker.invoke('other', {}, 'test')).invocations).toBe(1);
  });

  it('a warm container is reused; the first invocation is a cold start', async () => {
    const first = await invoker.invoke('counter', {}, 'test');
    const second = await invoker.invoke('counter', {}, 'test');
    expect([first.coldStart, second.coldStart]).toEqual([true, false]);
    expect(value(first).containerId).toBe(value(second).containerId);
    expect(
      eventLog
        .all()
        .filter((e) => e.kind === 'invoke')
        .map((e) => (e as { coldStart: boolean }).coldStart),
    ).toEqual([true, false]);
  });

  it('concurrent invocations run in separate containers, bounded by the pool; the rest queue', async () => {
    const results = await Promise.all([1, 2, 3, 4].map(() => invoker.invoke('counter', { waitMs: 150 }, 'test')));
    const containers = new Set(results.map((r) => value(r).containerId));
    expect(containers.size).toBe(2); // maxContainersPerFunction: 2
    // Each container counts its own invocations from 1: module state is per container. How the four split
    // between the two depends on which cold start finishes first, so only that each counts 1, 2, … is asserted.
    for (const id of containers) {
      const counts = results
        .filter((r) => value(r).containerId === id)
        .map((r) => value(r).invocations)
        .sort();
      expect(counts).toEqual(counts.map((_, i) => i + 1));
    }
    expect(results.filter((r) => r.coldStart)).toHaveLength(2);
    expect(invoker.stats().counter).toMatchObject({ containers: 2, coldStarts: 2, invocations: 4, queued: 0 });
  });

  it("enforces the function's timeout with AWS's message and starts the next invocation cold", async () => {
    const result = await invoker.invoke('slow', { ms: 5000 }, 'test');
    expect(result).toMatchObject({ ok: false, kind: 'timeout', error: { message: 'Task timed out after 1.00 seconds' } });
    const next = await invoker.invoke('slow', { ms: 1 }, 'test');
    expect(next).toMatchObject({ ok: true, value: 'finished', coldStart: true });
  });

  it('a thrown error comes back with its name and message; logs are captured as events', async () => {
    const result = await invoker.invoke('failing', {}, 'test');
    expect(result).toMatchObject({ ok: false, kind: 'error', error: { name: 'PartnerNotFound', message: 'no such partner' } });
    // stdout crosses threads asynchronously: wait for the line rather than for a fixed time.
    await vi.waitFor(() => expect(eventLog.all().some((e) => e.kind === 'log')).toBe(true), { timeout: 10_000, interval: 10 });
    expect(eventLog.all().find((e) => e.kind === 'log')).toMatchObject({
      functionName: 'failing',
      level: 'ERROR',
      message: 'about to fail',
      data: { reason: 'test' },
    });
  });

  it("runs with the function's NODE_OPTIONS as Lambda's runtime does: applied (source maps, --require), or the runtime exits when node refuses them", async () => {
    const withOptions = async (nodeOptions: string) => {
      await invoker.close();
      eventLog = createEventLog();
      invoker = createLambdaInvoker({ functions: app.functions, region: app.region, environment: { NODE_OPTIONS: nodeOptions }, eventLog });
      return invoker.invoke('failing', {}, 'test');
    };
    const stackOf = (result: InvocationResult) => (result.ok ? undefined : result.error.stack);
    // Without source maps the stack points at the bundle the container ran; with them, at the handler's source.
    expect(stackOf(await invoker.invoke('failing', {}, 'test'))).toMatch(/emulator-precompiled[\\/]\w+\.mjs:\d+/);
    expect(stackOf(await withOptions('--enable-source-maps'))).toMatch(/handlers[\\/]failing\.ts:6:\d+/);
    // A preloaded module that is not there: the runtime cannot start.
    expect(await withOptions('--require ./no-such-instrumentation.cjs')).toMatchObject({
      ok: false,
      error: { name: 'Runtime.ExitError', message: expect.stringContaining("Cannot find module './no-such-instrumentation.cjs'") },
    });
    // An option node does not allow in NODE_OPTIONS: node says so and exits (status 9), every cold start again.
    for (let attempt = 0; attempt < 2; attempt++) {
      const refused = attempt === 0 ? await withOptions('--no-such-option') : await invoker.invoke('failing', {}, 'test');
      expect(refused).toMatchObject({
        ok: false,
        coldStart: true,
        error: { name: 'Runtime.ExitError', message: expect.stringContaining('exited with code 9') },
      });
    }
    await vi.waitFor(() =>
      expect(
        eventLog.all().filter((e) => e.kind === 'log' && e.message === 'node: --no-such-option is not allowed in NODE_OPTIONS'),
      ).toHaveLength(2),
    );
  });

  it("refuses a response over Lambda's 6 MB synchronous payload limit, with Lambda's error, after the handler ran", async () => {
    await invoker.close();
    const counter = app.functions.find((f) => f.name === 'counter')!;
    const payload = {
      ...counter,
      name: 'payload',
      handlerFile: fileURLToPath(new URL('./fixtures/lambda-app/handlers/payload.ts', import.meta.url)),
    };
    eventLog = createEventLog();
    invoker = createLambdaInvoker({ functions: [payload], region: app.region, eventLog });
    // JSON "xxx…": the string plus its two quotes. 6,291,556 bytes is the largest answer Lambda returns.
    const largest = await invoker.invoke('payload', { bytes: 6_291_554 }, 'test');
    expect(largest.ok && (largest.value as string).length).toBe(6_291_554);
    expect(await invoker.invoke('payload', { bytes: 6_291_555 }, 'test')).toMatchObject({
      ok: false,
      kind: 'error',
      error: {
        name: 'Function.ResponseSizeTooLarge',
        message: 'Response payload size (6291557 bytes) exceeded maximum allowed payload size (6291556 bytes).',
      },
    });
    // The function's log has the runtime's line, as CloudWatch does; the container goes on serving.
    const logged = eventLog.all().flatMap((e) => (e.kind === 'log' && e.functionName === 'payload' ? [e.message] : []));
    expect(logged).toContainEqual(
      expect.stringMatching(
        /^\[ERROR\] \[\d+\] LAMBDA_RUNTIME Failed to post handler success response\. Http response code: 413\. \{"errorMessage":"Exceeded maximum allowed payload size \(6291556 bytes\)\.","errorType":"RequestEntityTooLarge"\}$/,
      ),
    );
    expect(await invoker.invoke('payload', { bytes: 2 }, 'test')).toMatchObject({ ok: true, coldStart: false });
    // An event over the synchronous request quota (6,291,456 bytes of JSON) never reaches the function, whoever invokes.
    const invocations = invoker.stats().payload.invocations;
    const event = (bytes: number) => ({ bytes: 2, pad: 'x'.repeat(bytes - '{"bytes":2,"pad":""}'.length) });
    expect(await invoker.invoke('payload', event(6_291_457), 'test')).toMatchObject({
      ok: false,
      error: { name: 'RequestTooLargeException', message: 'Request must be smaller than 6291456 bytes for the InvokeFunction operation' },
    });
    expect(invoker.stats().payload.invocations).toBe(invocations);
    expect(await invoker.invoke('payload', event(6_291_456), 'test')).toMatchObject({ ok: true });
  });

  it('supports callback-style handlers', async () => {
    expect(value(await invoker.invoke('callback', { value: 21 }, 'test'))).toEqual({ doubled: 42 });
  });

  it.each(['fast', 'wire'] as const)(
    "a handler's SDK calls to an intercepted host are served in-process (%s mode), with the SDK's errors",
    async (interceptMode) => {
      const env = { MANAGEMENT_ENDPOINT: 'https://mgmt.example.test/dev' };
      await invoker.close();
      invoker = createLambdaInvoker({
        functions: app.functions,
        environment: env,
        interceptMode,
        interceptHosts: ['mgmt.example.test'],
        serveIntercepted: async (request): Promise<HttpLikeResponse> =>
          decodeURIComponent(request.path).endsWith('/gone=')
            ? { statusCode: 410, headers: { 'x-amzn-errortype': 'GoneException' }, body: new Uint8Array() }
            : { statusCode: 200, headers: {}, body: new Uint8Array() },
      });
      expect(value(await invoker.invoke('poster', { connectionId: 'alive=', data: 'hi' }, 'test'))).toEqual({ status: 200 });
      expect(value(await invoker.invoke('poster', { connectionId: 'gone=', data: 'hi' }, 'test'))).toEqual({
        error: 'GoneException',
        status: 410,
      });
    },
  );

  it('reload() gives new invocations fresh code (a cold start) without failing in-flight ones', async () => {
    const inFlight = invoker.invoke('counter', { waitMs: 100 }, 'test');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await invoker.reload();
    const after = await invoker.invoke('counter', {}, 'test');
    expect((await inFlight).ok).toBe(true);
    expect(after.coldStart).toBe(true);
    expect(value(after).invocations).toBe(1);
  });

  it('close() settles every invocation still running or queued, saying the emulator stopped', async () => {
    const running = [1, 2, 3].map(() => invoker.invoke('slow', { ms: 5000 }, 'test'));
    // Two containers run (the pool's bound in this file), the third waits in the queue.
    await vi.waitFor(() => expect(eventLog.all().filter((e) => e.kind === 'invokeStart')).toHaveLength(2), {
      timeout: 10_000,
      interval: 10,
    });
    await invoker.close();
    const results = await Promise.all(running);
    expect(results.map((r) => (r.ok ? 'ok' : r.error.name))).toEqual(['EmulatorShutdown', 'EmulatorShutdown', 'EmulatorShutdown']);
  });

  it('an unknown function is a clear error', async () => {
    await expect(invoker.invoke('nope', {}, 'test')).rejects.toThrow('No function "nope" in serverless.yml');
  });
});
