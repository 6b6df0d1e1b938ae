/**
 * PerkUp's scenario suite as part of `npm test`: every file under scenarios/ (load scenarios excepted) runs
 * in-process on the emulator, one vitest test per scenario.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { expandPaths } from '../harness/scenarios/paths.js';
import { loadScenario } from '../harness/scenarios/loader.js';
import { runScenario } from '../harness/scenarios/runner.js';
import { inProcessTargets } from '../harness/scenarios/target.js';
import { consoleLine } from '../harness/scenarios/reporters.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const files = await expandPaths([], root);
const targets = inProcessTargets({ projectRoot: root, size: 2 });
afterAll(() => targets.close());

describe.concurrent('scenarios', () => {
  it('finds the suite (at least 30 scenarios)', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
  });
  for (const file of files) {
    const scenario = loadScenario(file);
    it(`${scenario.name} (${file.slice(root.length)})`, async () => {
      const target = await targets.acquire();
      try {
        const result = await runScenario(scenario, target);
        // The console line carries the step, the diff and the events when it fails.
        expect(result.status, consoleLine(result)).toBe('passed');
      } finally {
        await target.release();
      }
    });
  }
});
