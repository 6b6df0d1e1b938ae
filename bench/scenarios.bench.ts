/**
 * The functional scenario suite's wall time, run as a user runs it (`npm run scenarios -- scenarios/functional`,
 * without npm's own start-up): a whole process, from spawn to exit, started by the script's own entry (start.mjs).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function functionalSuiteWallSeconds(): Promise<{ seconds: number; exitCode: number | null; tail: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, ['harness/scenarios/start.mjs', 'scenarios/functional'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exitCode = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { seconds: (performance.now() - started) / 1000, exitCode, tail: out.trim().split('\n').slice(-3).join(' | ') };
}
