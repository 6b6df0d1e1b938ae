/**
 * `expect`: several expectations at once, run concurrently so a no-message window overlaps the positive waits
 * instead of adding to them. Every failure is reported, numbered.
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

function runExpectation(e: Expectation, ctx: StepContext): Promise<void> {
  if ('message' in e) return expectMessage(e.message, ctx);
  if ('noMessage' in e) return expectNoMessage(e.noMessage, ctx);
  if ('cacheInvalidated' in e) return expectCacheInvalidated(e.cacheInvalidated, ctx);
  if ('event' in e) return expectEvent(e.event, ctx);
  if ('connection' in e) return expectConnection(e.connection, ctx);
  return expectClosed(e.closed, ctx);
}

export const expectStep: StepKind<'expect'> = {
  action: 'expect',
  needsInsides: (step: Step) => (step.expect ?? []).some((e) => 'cacheInvalidated' in e || 'connection' in e || 'event' in e),
  changesState: false,
  async run(expectations, ctx) {
    const settled = await Promise.allSettled(expectations.map((e) => runExpectation(e, ctx)));
    const errors = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as Error] : []));
    if (errors.length === 1) throw errors[0];
    if (errors.length) throw new StepFailure(errors.map((e, i) => `(${i + 1}) ${describeFailure(e)}`).join('\n'));
  },
};
