/**
 * A Lambda container's V8 heap: its old generation sized as Lambda's Node.js runtime sizes it from the function's
 * memory, its young generation capped (emulate's memory with many containers; FIDELITY.md).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import type { resourceLimits } from 'node:worker_threads';
import { loadServerlessConfig } from '../harness/config/serverless.js';
import { CONTAINER_YOUNG_GENERATION_MB, createLambdaInvoker, type LambdaInvoker } from '../harness/lambda/invoker.js';
import { createEventLog } from '../harness/eventLog.js';

const appFile = fileURLToPath(new URL('./fixtures/lambda-app/serverless.yml', import.meta.url));
const app = loadServerlessConfig(appFile, {});
const counter = app.functions.find((f) => f.name === 'counter')!;
const heapLimits = {
  ...counter,
  name: 'heapLimits',
  handlerFile: fileURLToPath(new URL('./fixtures/lambda-app/handlers/heapLimits.ts', import.meta.url)),
  handlerExport: 'handler',
};
let invoker: LambdaInvoker;
afterEach(() => invoker.close());

describe('Lambda container heap', () => {
  it("sizes each container's old generation as Lambda's runtime does (memorySize − 10%), caps its young generation, and exposes gc()", async () => {
    invoker = createLambdaInvoker({ functions: [heapLimits], region: app.region });
    const result = await invoker.invoke('heapLimits', {}, 'test');
    expect(result.ok).toBe(true);
    const limits = (result.ok ? result.value : {}) as typeof resourceLimits & { gc: string };
    expect(limits.maxYoungGenerationSizeMb).toBe(CONTAINER_YOUNG_GENERATION_MB);
    // The fixture's memorySize is 256: the runtime's --max-old-space-size=231.
    expect(counter.memorySize).toBe(256);
    expect(limits.maxOldGenerationSizeMb).toBe(231);
    expect(limits.gc).toBe('function');
  });

  it('a handler that outgrows that heap dies as on Lambda (Runtime.ExitError), and the next invocation starts cold', async () => {
    const small = { ...heapLimits, memorySize: 128 };
    invoker = createLambdaInvoker({ functions: [small], region: app.region });
    expect(await invoker.invoke('heapLimits', { grow: true }, 'test')).toMatchObject({
      ok: false,
      error: { name: 'Runtime.ExitError', message: expect.stringContaining('JS heap out of memory') },
    });
    expect(await invoker.invoke('heapLimits', {}, 'test')).toMatchObject({
      ok: true,
      coldStart: true,
      value: { maxOldGenerationSizeMb: 116 },
    });
  });

  it("keeps the runtime's heap sizes over the function's NODE_OPTIONS (here as on AWS) and names the options a container cannot apply, once", async () => {
    const eventLog = createEventLog();
    invoker = createLambdaInvoker({
      functions: [heapLimits],
      region: app.region,
      environment: { NODE_OPTIONS: '--max-old-space-size=96 --stack-trace-limit=50 --enable-source-maps' },
      eventLog,
    });
    const result = await invoker.invoke('heapLimits', {}, 'test');
    expect(result.ok).toBe(true);
    expect((result.ok ? result.value : {}) as typeof resourceLimits).toMatchObject({ maxOldGenerationSizeMb: 231 });
    await invoker.invoke('heapLimits', {}, 'test');
    const warnings = eventLog.all().filter((e) => e.kind === 'log' && e.level === 'WARN');
    // Once per function; --enable-source-maps is a thread's own (node applies it) and is not named.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      functionName: 'heapLimits',
      data: { emulator: 'node-options', notApplied: ['--stack-trace-limit=50'], overridden: ['--max-old-space-size=96'] },
      message: expect.stringContaining('old generation 231 MB'),
    });
  });
});
