/** `event` (in an `expect` block): at least `count` emulator events match the pattern (stream records, batches, queue moves…). */
import { toMs, type EventExpectation } from '../format.js';
import { matches } from '../matchers.js';
import { poll, StepFailure, type StepContext } from './context.js';

export async function expectEvent(e: EventExpectation, ctx: StepContext): Promise<void> {
  const count = e.count ?? 1;
  const found = () =>
    ctx
      .insides()
      .events()
      .filter((event) => matches(e.match, event));
  const ok = await poll(toMs(e.within, ctx.defaultWithinMs), () => (found().length >= count ? true : undefined));
  if (!ok) throw new StepFailure(`${found().length} event(s) match ${JSON.stringify(e.match)}; expected at least ${count}`);
}
