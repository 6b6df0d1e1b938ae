/**
 * `expectNoMessage`: no member of the group receives a frame matching the pattern during the whole window. A frame
 * counts even if another expectation of the same `expect` block consumed it: a broader positive pattern must not
 * hide a forbidden frame.
 */
import { toMs, type NoMessageExpectation } from '../format.js';
import { never, type StepContext, type StepKind } from './context.js';

export async function expectNoMessage(e: NoMessageExpectation, ctx: StepContext): Promise<void> {
  await Promise.all(ctx.clientsOf(e.client).map((client) => client.expectNone(e.match ?? { $any: true }, toMs(e.during, 0))));
}

export const expectNoMessageStep: StepKind<'expectNoMessage'> = {
  action: 'expectNoMessage',
  needsInsides: never,
  changesState: false,
  run: expectNoMessage,
};
