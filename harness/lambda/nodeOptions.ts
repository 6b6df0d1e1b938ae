/**
 * A function's NODE_OPTIONS (its environment, as serverless.yml sets it), against what a container can do with them.
 * On Lambda the runtime starts node with them, then its own options on the command line, which win:
 * `--max-old-space-size` and `--max-semi-space-size` from the function's memory (see `lambdaHeapLimitMb`) and
 * `--expose-gc`. Here a container is a worker thread, and node applies a worker's NODE_OPTIONS only in part:
 * per-thread options (`--enable-source-maps`, `--require`, `--import`…) apply, options that are the whole process's
 * (V8's: `--stack-trace-limit`, `--jitless`…) are dropped in silence, and a word node does not allow in NODE_OPTIONS
 * makes `new Worker` throw. So that no run is kinder than AWS without saying so:
 * - a refused value is the runtime failing to start, as on Lambda (node exits with its message, status 9);
 * - the heap sizes are the runtime's, whatever NODE_OPTIONS say (named in a warning, since it surprises people);
 * - the other process-wide options are named in a warning.
 */
import { Worker } from 'node:worker_threads';

export interface NodeOptionsCheck {
  /** What node says when it refuses the value (e.g. "--foo is not allowed in NODE_OPTIONS"); the runtime cannot start. */
  refused?: string;
  /** Heap sizes the Lambda runtime's own command line overrides, as written. */
  overridden: string[];
  /** Process-wide options a thread cannot take, as written: not applied. */
  notApplied: string[];
}

/**
 * The old-generation limit Lambda's Node.js runtime gives a function (its bootstrap starts node with
 * `--max-old-space-size` = memory − memory/10, in MB, integer division): a handler that outgrows it dies here too.
 */
export const lambdaHeapLimitMb = (memorySize: number): number => memorySize - Math.floor(memorySize / 10);

// Always refused: the probe below never starts a thread.
const SENTINEL = '--emulator-node-options-probe';
const RUNTIME_SETS = /^--max-(old|semi)-space-size(=|$)/;
const checked = new Map<string, NodeOptionsCheck>();

/** NODE_OPTIONS's words: split on spaces, a double-quoted word keeping its spaces (node's own rule). */
const wordsOf = (value: string): string[] => (value.match(/"[^"]*"|\S+/g) ?? []).map((w) => w.replace(/^"(.*)"$/, '$1'));

export function checkNodeOptions(value: string | undefined): NodeOptionsCheck {
  if (!value?.trim()) return { overridden: [], notApplied: [] };
  const known = checked.get(value);
  if (known) return known;
  const check: NodeOptionsCheck = { overridden: [], notApplied: [] };
  try {
    // Node checks a worker's NODE_OPTIONS first, then lists every execArgv option a thread cannot take: with the
    // sentinel among them it always throws, before any thread exists.
    void new Worker('', { eval: true, env: { NODE_OPTIONS: value }, execArgv: [...wordsOf(value), SENTINEL] }).terminate();
  } catch (error) {
    const message = (error as Error).message;
    const refused = /invalid NODE_OPTIONS env variable: (.*)$/s.exec(message)?.[1];
    const processWide = /invalid execArgv flags: (.*)$/s
      .exec(message)?.[1]
      .split(', ')
      .filter((flag) => flag !== SENTINEL);
    if (refused) check.refused = refused;
    else if (processWide) for (const flag of processWide) (RUNTIME_SETS.test(flag) ? check.overridden : check.notApplied).push(flag);
    else check.notApplied.push(`(could not check them: ${message})`);
  }
  checked.set(value, check);
  return check;
}
