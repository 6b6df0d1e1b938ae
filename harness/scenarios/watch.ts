/**
 * `--watch`: after the first run, the emulators stay warm and each scenario file saved again is rerun alone. The
 * folders of the selected files are watched (not the files: editors save by writing a new file and renaming it over
 * the old one, which a watch on the file itself loses); a burst of events for one save becomes one rerun.
 */
import { watch, type FSWatcher } from 'node:fs';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const SCENARIO_FILE = /\.ya?ml$/;
/** Editors write a file in several events within a few milliseconds; this waits the burst out. */
const SETTLE_MS = 60;

export interface ScenarioWatcher {
  close(): void;
}

/**
 * Calls `onChange` with the scenario files (absolute paths, existing, sorted) saved since the last call. Calls never
 * overlap: saves that happen while a rerun is running are collected and given to the next call.
 */
export function watchScenarioFiles(files: string[], onChange: (changed: string[], savedAt: number) => Promise<void>): ScenarioWatcher {
  const pending = new Set<string>();
  /** When the first save of the pending ones happened: what a rerun's time is counted from. */
  let savedAt = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const flush = async (): Promise<void> => {
    timer = undefined;
    if (running) return; // the running rerun flushes again when it ends
    const changed = [...pending].filter((f) => existsSync(f)).sort();
    pending.clear();
    if (!changed.length) return;
    running = onChange(changed, savedAt).finally(() => {
      running = undefined;
      if (pending.size && !timer) timer = setTimeout(() => void flush(), SETTLE_MS);
    });
    await running;
  };

  const watchers: FSWatcher[] = [...new Set(files.map((f) => dirname(resolve(f))))].map((dir) =>
    watch(dir, (_event, name) => {
      if (!name || !SCENARIO_FILE.test(name)) return;
      if (!pending.size) savedAt = Date.now();
      pending.add(join(dir, name));
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => void flush(), SETTLE_MS);
    }),
  );
  return {
    close() {
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
