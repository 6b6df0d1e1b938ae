/**
 * The progress of a load run on an interactive terminal (cli-progress): connections open, mutations sent,
 * notifications received against those expected so far. When stderr is not a terminal (CI logs, a run in the
 * background), one plain line every 10 s instead.
 */
import { MultiBar, Presets } from 'cli-progress';
import type { LoadProgress } from './run.js';

export function loadProgressBars(stream: NodeJS.WriteStream = process.stderr) {
  if (!stream.isTTY) return plainProgress(stream);
  const multi = new MultiBar(
    { format: '  {what} [{bar}] {value}/{total}', clearOnComplete: true, hideCursor: true, stream },
    Presets.shades_classic,
  );
  const bars = new Map<string, ReturnType<MultiBar['create']>>();
  const rows = [
    ['connections', 'connections open     '],
    ['mutations', 'mutations sent       '],
    ['notifications', 'notifications        '],
  ] as const;
  return {
    update(_scenario: string, progress: LoadProgress): void {
      for (const [key, what] of rows) {
        const { done, total } = progress[key];
        let bar = bars.get(key);
        if (!bar) {
          bar = multi.create(Math.max(total, 1), done, { what });
          bars.set(key, bar);
        }
        bar.setTotal(Math.max(total, 1));
        bar.update(done, { what });
      }
    },
    stop(): void {
      multi.stop();
      bars.clear();
    },
  };
}

/** One line every 10 s: a log file keeps the history a bar would overwrite. */
function plainProgress(stream: NodeJS.WritableStream) {
  let last = 0;
  const t0 = Date.now();
  return {
    update(scenario: string, p: LoadProgress): void {
      if (Date.now() - last < 10_000) return;
      last = Date.now();
      stream.write(
        `  ${Math.round((last - t0) / 1000)} s ${scenario}: connections ${p.connections.done}/${p.connections.total}, mutations ${p.mutations.done}/${p.mutations.total}, notifications ${p.notifications.done}/${p.notifications.total}\n`,
      );
    },
    stop(): void {
      last = 0;
    },
  };
}
