/**
 * A function's NODE_OPTIONS (its environment, as serverless.yml sets it), against what a container can do with them.
 * On Lambda the runtime's node process starts with them. Here a container is a worker thread, and node applies a
 * worker's NODE_OPTIONS only in part: per-thread options (`--enable-source-maps`, `--require`, `--import`…) apply,
 * options that are the whole process's (V8's: `--max-old-space-size`, `--stack-trace-limit`…) are dropped in silence,
 * and a word node does not allow in NODE_OPTIONS makes `new Worker` throw. So that no run is kinder than AWS without
 * saying so:
 * - a refused option is the runtime failing to start, as on Lambda (node exits with its message, status 9);
 * - `--max-old-space-size` becomes the container's heap limit (the worker's resourceLimits);
 * - the other process-wide options are named in a warning.
 */
import { Worker } from 'node:worker_threads';

export interface NodeOptionsCheck {
  /** What node says when it refuses the value (e.g. "--foo is not allowed in NODE_OPTIONS"); the runtime cannot start. */
  refused?: string;
  /** `--max-old-space-size`, in MB: applied as the container's old-generation limit. */
  maxOldGenerationSizeMb?: number;
  /** Process-wide options a thread cannot take, as written: not applied. */
  notApplied: string[];
}

// Always refused: the probe below never starts a thread.
const SENTINEL = '--emulator-node-options-probe';
const checked = new Map<string, NodeOptionsCheck>();

/** NODE_OPTIONS's words: split on spaces, a double-quoted word keeping its spaces (node's own rule). */
const wordsOf = (value: string): string[] => (value.match(/"[^"]*"|\S+/g) ?? []).map((w) => w.replace(/^"(.*)"$/, '$1'));

export function checkNodeOptions(value: string | undefined): NodeOptionsCheck {
  if (!value?.trim()) return { notApplied: [] };
  const known = checked.get(value);
  if (known) return known;
  let check: NodeOptionsCheck = { notApplied: [] };
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
    if (refused) check = { refused, notApplied: [] };
    else if (processWide) {
      for (const flag of processWide) {
        const heap = /^--max-old-space-size=(\d+)$/.exec(flag);
        if (heap) check.maxOldGenerationSizeMb = Number(heap[1]);
        else check.notApplied.push(flag);
      }
    } else check = { notApplied: [`(could not check: ${message})`] };
  }
  checked.set(value, check);
  return check;
}
