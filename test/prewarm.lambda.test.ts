/**
 * Pre-warming (`npm run emulate`'s start-up): one container per function runs its init before any invocation,
 * one function after another, and the first invocation finds it warm; a later concurrent invocation and a reload
 * still start cold, and a failed init leaves the error for the first invocation to report.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadServerlessConfig } from '../harness/config/serverless.js';
import { createLambdaInvoker, type LambdaInvoker } from '../harness/lambda/invoker.js';
import { createEventLog, type EventLog } from '../harness/eventLog.js';

const appFile = fileURLToPath(new URL('./fixtures/lambda-app/serverless.yml', import.meta.url));
const app = loadServerlessConfig(appFile, { env: { FIXTURE_GREETING: 'bonjour' } });
const counter = app.functions.find((f) => f.name === 'counter')!;
const other = app.functions.find((f) => f.name === 'other')!;
let invoker: LambdaInvoker;
let eventLog: EventLog;

function start(functions = [counter, other]): void {
  eventLog = createEventLog();
  invoker = createLambdaInvoker({ functions, region: app.region, eventLog, maxContainersPerFunction: 2 });
}
afterEach(() => invoker.close());

const logLines = (): string[] => eventLog.all().flatMap((e) => (e.kind === 'log' ? [e.message] : []));

describe('pre-warming', () => {
  it('inits one container per function asked, in that order (every function when none is named), the first invocation of each warm', async () => {
    start();
    await expect(invoker.prewarm(['nope'])).rejects.toThrow('Cannot pre-warm nope: no such function in serverless.yml');
    expect(await invoker.prewarm([])).toEqual([]);
    expect(invoker.stats().counter).toMatchObject({ containers: 0 });
    const reports = await invoker.prewarm(['other', 'counter']);
    expect(reports.map((r) => r.functionName)).toEqual(['other', 'counter']);
    expect(reports.every((r) => r.error === undefined && r.initMs >= 0)).toBe(true);
    expect(logLines().filter((m) => m.includes('warmed at start-up'))).toEqual([
      expect.stringMatching(/^other: one container warmed at start-up \(init \d+ ms\)$/),
      expect.stringMatching(/^counter: one container warmed at start-up \(init \d+ ms\)$/),
    ]);
    const first = await invoker.invoke('counter', {}, 'test');
    expect(first).toMatchObject({ ok: true, coldStart: false });
    // The warmed container's module state is the one the invocation sees: the handler ran once there.
    expect(first.ok && (first.value as { invocations: number }).invocations).toBe(1);
    expect(invoker.stats().counter).toMatchObject({ containers: 1, coldStarts: 1, invocations: 1 });
  });

  it('an invocation that arrives while its function warms waits for that container instead of starting another', async () => {
    start([counter]);
    const warming = invoker.prewarm();
    const result = await invoker.invoke('counter', {}, 'test');
    await warming;
    expect(result).toMatchObject({ ok: true, coldStart: false });
    expect(invoker.stats().counter).toMatchObject({ containers: 1, coldStarts: 1 });
  });

  it('concurrency beyond the warm container and a reload still start cold', async () => {
    start([counter]);
    await invoker.prewarm();
    const [a, b] = await Promise.all([
      invoker.invoke('counter', { waitMs: 200 }, 'test'),
      invoker.invoke('counter', { waitMs: 200 }, 'test'),
    ]);
    expect([a.coldStart, b.coldStart].sort()).toEqual([false, true]);
    await invoker.reload();
    expect(await invoker.invoke('counter', {}, 'test')).toMatchObject({ ok: true, coldStart: true });
  });

  it('a failed init is reported by pre-warming and again by the first invocation, which starts cold', async () => {
    const broken = {
      ...counter,
      name: 'broken',
      handlerFile: fileURLToPath(new URL('./fixtures/lambda-app/handlers/initFails.ts', import.meta.url)),
    };
    start([broken]);
    const [report] = await invoker.prewarm();
    expect(report).toMatchObject({ functionName: 'broken', error: expect.stringContaining('init failed on purpose') });
    expect(logLines()).toContainEqual(
      expect.stringMatching(/^broken: pre-warming failed \(.*init failed on purpose.*\); its first invocation starts cold$/),
    );
    const result = await invoker.invoke('broken', {}, 'test');
    expect(result).toMatchObject({ ok: false, kind: 'error', coldStart: true, error: { message: 'init failed on purpose' } });
  });
});
