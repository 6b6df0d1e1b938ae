/**
 * `expect`: several expectations at once, run concurrently so a no-message window overlaps the positive waits.
 * A no-message window stays open until `during` after the positive expectations are met: closing it earlier would
 * miss the forbidden frame of the same event (a notifier that runs a second after the mutation would post to Lyon
 * after a 500 ms window opened at the mutation had closed). It also waits for the target's event pipelines, as a
 * standalone `expectNoMessage` does: a block of absences only has no positive to wait for. Every failure is reported,
 * numbered.
 */
import type { Expectation, Step } from '../format.js';
import { describeFailure } from '../failures.js';
import { StepFailure, type StepContext, type StepKind } from './context.js';
import { expectCacheInvalidated } from './expectCacheInvalidated.js';
import { expectClosed } from './expectClosed.js';
import { expectConnection } from './expectConnection.js';
import { expectEvent } from './expectEvent.js';
import { expectMessage } from './expectMessage.js';
import { expectNoMessage } from './expectNoMessage.js';

function runExpectation(e: Expectation, ctx: StepContext, positivesSettled: Promise<unknown>): Promise<void> {
  if ('message' in e) return expectMessage(e.message, ctx);
  if ('noMessage' in e) return expectNoMessage(e.noMessage, ctx, positivesSettled);
  if ('cacheInvalidated' in e) return expectCacheInvalidated(e.cacheInvalidated, ctx);
  if ('event' in e) return expectEvent(e.event, ctx);
  if ('connection' in e) return expectConnection(e.connection, ctx);
  return expectClosed(e.closed, ctx);
}

const isNegative = (e: Expectation): boolean => 'noMessage' in e;

export const expectStep: StepKind<'expect'> = {
  action: 'expect',
  needsInsides: (step: Step) => (step.expect ?? []).some((e) => 'cacheInvalidated' in e || 'connection' in e || 'event' in e),
  changesState: false,
  async run(expectations, ctx) {
    let positivesSettled: (value: unknown) => void = () => undefined;
    const positivesDone = new Promise((resolve) => {
      positivesSettled = resolve;
    });
    const runs = expectations.map((e) => (isNegative(e) ? undefined : runExpectation(e, ctx, positivesDone)));
    // The pipelines are watched only for a block with absences: nothing else waits for them.
    const pipelines = expectations.some(isNegative) ? ctx.target.pipelinesDelivered?.() : undefined;
    void Promise.allSettled([...runs.filter(Boolean), pipelines]).then(positivesSettled);
    const settled = await Promise.allSettled(expectations.map((e, i) => runs[i] ?? runExpectation(e, ctx, positivesDone)));
    const errors = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as Error] : []));
    if (errors.length === 1) throw errors[0];
    if (errors.length) throw new StepFailure(errors.map((e, i) => `(${i + 1}) ${describeFailure(e)}`).join('\n'));
  },
};
