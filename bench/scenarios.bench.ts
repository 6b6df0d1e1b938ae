/**
 * The functional scenario suite's wall time, run as a user runs it (`npm run scenarios -- scenarios/functional`,
 * without npm's own start-up): a whole process, from spawn to exit, started by the script's own entry (start.mjs).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadScenario } from '../harness/scenarios/loader.js';
import { expandPaths } from '../harness/scenarios/paths.js';
import { durationHistory } from '../harness/scenarios/durations.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** How the suite will order its scenarios: longest first needs an earlier run's durations (a clean clone has none). */
async function orderSaid(): Promise<string> {
  const history = durationHistory(root);
  const scenarios = (await expandPaths(['scenarios/functional'], root)).map((file) => loadScenario(file));
  const timed = scenarios.filter((s) => history.expectedMs(s.file, s.name) !== undefined).length;
  return timed
    ? `longest first, ${timed} of ${scenarios.length} scenarios timed by an earlier run here`
    : 'file order (no earlier run timed them here)';
}

export async function functionalSuiteWallSeconds(): Promise<{ seconds: number; exitCode: number | null; tail: string; order: string }> {
  const order = await orderSaid();
  const started = performance.now();
  const child = spawn(process.execPath, ['harness/scenarios/start.mjs', 'scenarios/functional'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { seconds: (performance.now() - started) / 1000, exitCode, tail: out.trim().split('\n').slice(-3).join(' | '), order };
}
