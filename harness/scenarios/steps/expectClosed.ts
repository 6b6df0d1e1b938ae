/** `expectClosed`: every member's connection is closed within the window (with `code`, when given). */
import { toMs, type ClosedExpectation } from '../format.js';
import { never, StepFailure, type StepContext, type StepKind } from './context.js';

export async function expectClosed(e: ClosedExpectation, ctx: StepContext): Promise<void> {
  await Promise.all(
    ctx.clientsOf(e.client).map(async (client) => {
      const info = await client.closed(toMs(e.within, ctx.defaultWithinMs));
      if (e.code !== undefined && info.code !== e.code)
        throw new StepFailure(`${client.name} was closed with ${info.code} "${info.reason}", expected ${e.code}`);
      // Later steps see the state after API Gateway's $disconnect, as they would on AWS once it has run.
      if (client.connectionId) await ctx.target.insides?.settle(client.connectionId);
    }),
  );
}

export const expectClosedStep: StepKind<'expectClosed'> = {
  action: 'expectClosed',
  needsInsides: never,
  changesState: false,
  run: expectClosed,
};
