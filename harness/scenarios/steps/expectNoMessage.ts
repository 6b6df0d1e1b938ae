/**
 * `expectNoMessage`: no member of the group receives a frame matching the pattern during the whole window. A frame
 * counts even if another expectation of the same `expect` block consumed it: a broader positive pattern must not
 * hide a forbidden frame. The window stays open until `during` after `after`:
 * - in an `expect` block, the block's positive expectations met: the frame that must not come is usually caused by
 *   the same event as the ones that must, and may come as late as they do;
 * - on its own, the target's event pipelines done with what the steps before wrote (`pipelinesDelivered`): a
 *   notification fed by a stream comes after its batching window (1 s in serverless.yml), and a window of 300 ms
 *   that closed before it could not fail. In-process that costs nothing when nothing was written.
 */
import { toMs, type NoMessageExpectation } from '../format.js';
import { never, type StepContext, type StepKind } from './context.js';

export async function expectNoMessage(e: NoMessageExpectation, ctx: StepContext, after?: Promise<unknown>): Promise<void> {
  const seq = (): number => ctx.target.insides?.events().at(-1)?.seq ?? 0;
  const duringMs = toMs(e.during, 0);
  const window = { step: ctx.stepIndex, client: e.client, match: e.match ?? { $any: true }, duringMs, fromSeq: seq() };
  try {
    await Promise.all(ctx.clientsOf(e.client).map((client) => client.expectNone(window.match, duringMs, after)));
    ctx.absenceWindows.push({ ...window, toSeq: seq(), status: 'passed' });
  } catch (error) {
    ctx.absenceWindows.push({ ...window, toSeq: seq(), status: 'failed' });
    throw error;
  }
}

export const expectNoMessageStep: StepKind<'expectNoMessage'> = {
  action: 'expectNoMessage',
  needsInsides: never,
  changesState: false,
  run: (e, ctx) => expectNoMessage(e, ctx, ctx.target.pipelinesDelivered?.()),
};
