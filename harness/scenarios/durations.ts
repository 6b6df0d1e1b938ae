/**
 * How long each scenario took the last time it ran here, so that the next run starts the longest first (as Jest
 * orders test files). Scenarios run a few at a time (`--concurrency`): started in file order, a long one that
 * happens to start last finishes alone while the other slots sit idle; longest first, the short ones fill in at
 * the end. Ordering changes nothing a scenario sees — each still runs alone on its own emulator.
 *
 * Kept in node_modules/.cache/scenario-durations.json (beside the other caches, ignored by git). A scenario with no
 * recorded duration (new, renamed, or a clean clone) runs before those with one, in file order: it may be long.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { writeCacheFile } from '../common/cacheFile.js';

export interface DurationHistory {
  /** The duration recorded for a scenario, in ms, if any. */
  expectedMs(file: string, name: string): number | undefined;
  /** Records the durations of scenarios that ran to an end (passed or failed), keeping the others' as they were. */
  record(results: ReadonlyArray<{ file: string; name: string; status: string; durationMs: number }>): void;
}

export function durationHistory(projectRoot: string): DurationHistory {
  const file = join(projectRoot, 'node_modules', '.cache', 'scenario-durations.json');
  // { "<file relative to the project>": { "<scenario name>": ms } }
  let known: Record<string, Record<string, number>> = {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (parsed && typeof parsed === 'object') known = parsed as typeof known;
  } catch {
    // No history yet (or an unreadable one): every scenario is unknown, file order.
  }
  return {
    expectedMs: (scenarioFile, name) => {
      const ms = known[relative(projectRoot, scenarioFile)]?.[name];
      return typeof ms === 'number' && Number.isFinite(ms) ? ms : undefined;
    },
    record(results) {
      const next: typeof known = {};
      // Files since deleted (or temporary ones) drop out, so the history does not grow without end.
      for (const [scenarioFile, byName] of Object.entries(known))
        if (existsSync(resolve(projectRoot, scenarioFile))) next[scenarioFile] = { ...byName };
      for (const r of results) {
        if (r.status === 'skipped') continue;
        const scenarioFile = relative(projectRoot, r.file);
        next[scenarioFile] = { ...next[scenarioFile], [r.name]: Math.round(r.durationMs) };
      }
      // Written whole (two runs at once in one checkout each leave a whole file). In a read-only checkout ordering
      // falls back to file order next time; nothing else changes.
      if (writeCacheFile(file, `${JSON.stringify(next, null, 1)}\n`)) known = next;
    },
  };
}

/**
 * `items` longest expected first; those with no expected duration first of all, in their given order (a stable
 * sort keeps equal durations in file order too).
 */
export function longestFirst<T>(items: readonly T[], expectedMs: (item: T) => number | undefined): T[] {
  const rank = (item: T): number => expectedMs(item) ?? Number.POSITIVE_INFINITY;
  return [...items].sort((a, b) => {
    const longer = rank(b) - rank(a);
    return Number.isNaN(longer) ? 0 : longer; // two unknowns: Infinity − Infinity
  });
}
