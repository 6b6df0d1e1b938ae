/**
 * F15 network time, F16 frozen containers, and timeouts that matter (issue 9, items 1, 2 and 5): handlers' real SDK
 * clients calling the management API in-process, answered as API Gateway answers.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadServerlessConfig } from '../harness/config/serverless.js';
import { createLambdaInvoker, type LambdaInvoker } from '../harness/lambda/invoker.js';
import { createEventLog, type EventLog } from '../harness/eventLog.js';
import { LATENCY_PROFILES, latencyProfile, serviceDelay, type LatencyProfile } from '../harness/latency.js';
import type { HttpLikeResponse, InvocationResult } from '../harness/lambda/types.js';

const appFile = fileURLToPath(new URL('./fixtures/lambda-app/serverless.yml', import.meta.url));
const app = loadServerlessConfig(appFile);
let invoker: LambdaInvoker;
let eventLog: EventLog;
/** Connection ids the management API was asked to post to, in order. */
let posted: string[];

function start(latency?: LatencyProfile): void {
  eventLog = createEventLog();
  posted = [];
  invoker = createLambdaInvoker({
    functions: app.functions,
    region: app.region,
    environment: { MANAGEMENT_ENDPOINT: 'https://mgmt.example.test/dev' },
    eventLog,
    interceptHosts: ['mgmt.example.test'],
    ...(latency ? { latency } : {}),
    serveIntercepted: async (request): Promise<HttpLikeResponse> => {
      posted.push(decodeURIComponent(request.path.split('/').pop()!));
      return { statusCode: 200, headers: {}, body: new Uint8Array() };
    },
  });
}
afterEach(() => invoker?.close());

const value = (result: InvocationResult): unknown => {
  if (!result.ok) throw new Error(`invocation failed: ${result.error.name}: ${result.error.message}`);
  return result.value;
};
const warnings = (): string[] => eventLog.all().flatMap((e) => (e.kind === 'log' && e.level === 'WARN' ? [e.message] : []));
/** Only this profile's management API calls take time. */
const managementTakes = (baseMs: number): LatencyProfile => ({
  ...LATENCY_PROFILES.none,
  name: 'test',
  services: { 'execute-api': { baseMs, jitterMs: 0 } },
});

describe('F15 network time', () => {
  it("profiles: 'none' answers at once, 'aws' gives each service its in-region figure; unknown names are refused", () => {
    expect(serviceDelay(latencyProfile('none'), 'execute-api')).toBe(0);
    expect(serviceDelay(latencyProfile('none'), 'dynamodb')).toBe(0);
    const aws = latencyProfile('aws');
    // Lowest and highest draws: base, and base + jitter.
    expect([serviceDelay(aws, 'execute-api', () => 0), serviceDelay(aws, 'execute-api', () => 1)]).toEqual([20, 40]);
    expect([serviceDelay(aws, 'dynamodb', () => 0), serviceDelay(aws, 'dynamodb', () => 1)]).toEqual([4, 10]);
    expect([serviceDelay(aws, 'sqs', () => 0), serviceDelay(aws, 'sqs', () => 1)]).toEqual([10, 20]);
    expect(aws.indexLag.baseMs + aws.indexLag.jitterMs).toBe(1000);
    expect(() => latencyProfile('fast')).toThrow('Unknown latency profile "fast" (known: none, aws)');
  });

  it("a handler's management API call takes the profile's time (never less), through the real SDK client", async () => {
    start(managementTakes(150));
    const result = await invoker.invoke('poster', { connectionId: 'a=', data: 'hi' }, 'test');
    expect(value(result)).toEqual({ status: 200 });
    expect(result.durationMs).toBeGreaterThanOrEqual(150);
    expect(posted).toEqual(['a=']);
  });

  it("the SDK's requestTimeout holds as on AWS: an error with throwOnRequestTimeout, otherwise only a warning", async () => {
    start(managementTakes(300));
    // @smithy/node-http-handler rejects with TimeoutError only when throwOnRequestTimeout is set…
    expect(value(await invoker.invoke('timedPoster', { requestTimeoutMs: 100, throwOnRequestTimeout: true }, 'test'))).toEqual({
      error: 'TimeoutError',
    });
    expect(posted).toEqual([]);
    // …without it, it logs a warning and the request goes on (so a 3 s requestTimeout alone bounds nothing).
    expect(value(await invoker.invoke('timedPoster', { requestTimeoutMs: 100 }, 'test'))).toEqual({ status: 200 });
    expect(posted).toEqual(['x=']);
    await vi.waitFor(
      () =>
        expect(eventLog.all().some((e) => e.kind === 'log' && /exceeded the configured 100 ms requestTimeout/.test(e.message))).toBe(true),
      { timeout: 10_000, interval: 10 },
    );
  });

  it("the function's timeout counts network time: two 600 ms calls do not fit in a 1 s function", async () => {
    start(managementTakes(600));
    const result = await invoker.invoke('twoPosts', { first: 'a=', second: 'b=' }, 'test');
    expect(result).toMatchObject({
      ok: false,
      kind: 'timeout',
      error: { name: 'Sandbox.Timedout', message: 'Task timed out after 1.00 seconds' },
    });
    expect(posted).toEqual(['a=']);
  });
});

describe('F16 frozen containers', () => {
  it('work left running after the handler returns waits for the next invocation, with one warning line', async () => {
    start();
    expect(value(await invoker.invoke('later', { connectionId: 'late=' }, 'test'))).toBe('returned');
    expect(warnings()).toEqual(['later returned with work pending (1 Timeout): on AWS this is frozen until the next invocation']);
    // The timer was due after 10 ms; a frozen container runs nothing, however long it waits.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(posted).toEqual([]);
    // The next invocation thaws the container: the overdue timer fires and the post goes out.
    expect(value(await invoker.invoke('later', {}, 'test'))).toBe('returned');
    await vi.waitFor(() => expect(posted).toEqual(['late=']), { timeout: 10_000, interval: 10 });
    // (That second invocation may itself return before the post has its answer — then it warns about that call.)
    expect(
      warnings().every((w) => /^later returned with work pending \(.+\): on AWS this is frozen until the next invocation$/.test(w)),
    ).toBe(true);
    // The same kind of pending work is not repeated at every invocation: one line about the timer, however often.
    expect(value(await invoker.invoke('later', { connectionId: 'again=' }, 'test'))).toBe('returned');
    expect(warnings().filter((w) => w.includes('(1 Timeout)'))).toHaveLength(1);
  });

  it('a handler that awaits its work leaves nothing pending and prints no warning', async () => {
    start();
    expect(value(await invoker.invoke('twoPosts', { first: 'a=', second: 'b=' }, 'test'))).toBe('both posted');
    expect(value(await invoker.invoke('twoPosts', { first: 'c=', second: 'd=' }, 'test'))).toBe('both posted');
    expect(posted).toEqual(['a=', 'b=', 'c=', 'd=']);
    expect(warnings()).toEqual([]);
  });
});

describe('Timeouts that matter (lambdaTimeout fault)', () => {
  it('afterCalls: the time runs out right after the Nth AWS call has its answer; nothing after it happens', async () => {
    start();
    invoker.faults.timeoutNext('twoPosts', 1, { afterCalls: 1 });
    const result = await invoker.invoke('twoPosts', { first: 'a=', second: 'b=' }, 'test');
    expect(result).toMatchObject({ ok: false, kind: 'timeout', error: { message: 'Task timed out after 1.00 seconds' } });
    expect(posted).toEqual(['a=']);
    expect(eventLog.all().find((e) => e.kind === 'fault')).toMatchObject({
      description: 'twoPosts: next 1 invocation(s) time out right after AWS call #1',
    });
    // The container is gone; the next invocation starts cold and completes.
    const next = await invoker.invoke('twoPosts', { first: 'c=', second: 'd=' }, 'test');
    expect(next).toMatchObject({ ok: true, coldStart: true, value: 'both posted' });
    expect(posted).toEqual(['a=', 'c=', 'd=']);
  });

  it('afterMs: the time runs out after N ms of execution, between the two calls', async () => {
    start();
    // Warm first: the fault counts execution time, and this test is not about how long a cold start takes.
    await invoker.invoke('twoPosts', { first: 'warm=', second: 'warm=' }, 'test');
    posted = [];
    invoker.faults.timeoutNext('twoPosts', 1, { afterMs: 200 });
    const result = await invoker.invoke('twoPosts', { first: 'a=', second: 'b=', pauseMs: 5000 }, 'test');
    expect(result).toMatchObject({ ok: false, kind: 'timeout' });
    expect(result.durationMs).toBeGreaterThanOrEqual(200);
    expect(posted).toEqual(['a=']);
  });

  it('bad fault parameters are refused with a clear error and change nothing', async () => {
    start();
    expect(() => invoker.faults.timeoutNext('twoPosts', 1, { afterCalls: 0 })).toThrow(
      'lambdaTimeout afterCalls must be an integer ≥ 1, got 0',
    );
    expect(() => invoker.faults.timeoutNext('twoPosts', 1, { afterMs: 10, afterCalls: 1 })).toThrow(
      'lambdaTimeout takes afterMs or afterCalls, not both',
    );
    expect(() => invoker.faults.timeoutNext('nope')).toThrow('No function "nope" in serverless.yml');
    expect(value(await invoker.invoke('twoPosts', { first: 'a=', second: 'b=' }, 'test'))).toBe('both posted');
  });
});
