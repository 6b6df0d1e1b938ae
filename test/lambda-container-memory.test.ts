/**
 * A Lambda container's V8 heap: its young generation is capped (emulate's memory with many containers), its old
 * generation is left as V8 sizes it (Lambda memory limits are not emulated, FIDELITY.md) unless the function's
 * NODE_OPTIONS set --max-old-space-size, as they would on Lambda.
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
  it("caps each container's young generation and leaves its old generation to V8", async () => {
    invoker = createLambdaInvoker({ functions: [heapLimits], region: app.region });
    const result = await invoker.invoke('heapLimits', {}, 'test');
    expect(result.ok).toBe(true);
    const limits = (result.ok ? result.value : {}) as typeof resourceLimits;
    expect(limits.maxYoungGenerationSizeMb).toBe(CONTAINER_YOUNG_GENERATION_MB);
    // Not derived from the function's memorySize: V8's default for a thread of this process.
    expect(limits.maxOldGenerationSizeMb).toBeGreaterThan(counter.memorySize);
  });

  it("takes the function's NODE_OPTIONS --max-old-space-size as its old-generation limit (node drops it for a thread), and names the process-wide options it cannot apply", async () => {
    const eventLog = createEventLog();
    invoker = createLambdaInvoker({
      functions: [heapLimits],
      region: app.region,
      environment: { NODE_OPTIONS: '--max-old-space-size=96 --stack-trace-limit=50 --enable-source-maps' },
      eventLog,
    });
    const result = await invoker.invoke('heapLimits', {}, 'test');
    expect(result.ok).toBe(true);
    const limits = (result.ok ? result.value : {}) as typeof resourceLimits;
    expect(limits.maxOldGenerationSizeMb).toBe(96);
    expect(limits.maxYoungGenerationSizeMb).toBe(CONTAINER_YOUNG_GENERATION_MB);
    await invoker.invoke('heapLimits', {}, 'test');
    const warnings = eventLog.all().filter((e) => e.kind === 'log' && e.level === 'WARN');
    // Once per function; --enable-source-maps is a thread's own (node applies it) and is not named.
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      functionName: 'heapLimits',
      data: { emulator: 'node-options', notApplied: ['--stack-trace-limit=50'] },
    });
  });
});
