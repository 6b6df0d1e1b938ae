/**
 * The progress of a load run on an interactive terminal (cli-progress): connections open, mutations sent,
 * notifications received against those expected so far. Off when stderr is not a terminal (CI logs stay clean).
 */
import { MultiBar, Presets } from 'cli-progress';
import type { LoadProgress } from './run.js';

export function loadProgressBars(stream: NodeJS.WriteStream = process.stderr) {
  if (!stream.isTTY) return undefined;
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
