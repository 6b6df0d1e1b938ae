/** `expectMessage`: every member of a client group receives a frame matching the pattern within the window. */
import { toMs, type MessageExpectation } from '../format.js';
import { never, type StepContext, type StepKind } from './context.js';

export async function expectMessage(e: MessageExpectation, ctx: StepContext): Promise<void> {
  await Promise.all(
    ctx.clientsOf(e.client).map(async (client) => {
      const frame = await client.waitFor(e.match, toMs(e.within, ctx.defaultWithinMs));
      ctx.messageLatenciesMs.push(Math.max(0, frame.receivedAt - ctx.lastActionAt));
    }),
  );
}

export const expectMessageStep: StepKind<'expectMessage'> = { action: 'expectMessage', needsInsides: never, changesState: false, run: expectMessage };
