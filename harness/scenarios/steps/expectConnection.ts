/** `expectConnection`: the app's record of a client's connection is present or gone; or the records number `count`. */
import { toMs, type ConnectionExpectation } from '../format.js';
import { always, poll, StepFailure, type StepContext, type StepKind } from './context.js';

export async function expectConnection(e: ConnectionExpectation, ctx: StepContext): Promise<void> {
  const within = toMs(e.within, ctx.defaultWithinMs);
  if (e.client) {
    const wantPresent = (e.state ?? 'present') === 'present';
    for (const client of ctx.clientsOf(e.client)) {
      const id = ctx.connectionIdOf(client);
      const ok = await poll(within, async () => ((await ctx.insides().connectionRecordExists(id)) === wantPresent ? true : undefined));
      if (!ok)
        throw new StepFailure(
          `the connection record of ${client.name} (${id}) is ${wantPresent ? 'absent' : 'still present'} after ${within} ms; expected ${wantPresent ? 'present' : 'gone'}`,
        );
    }
  }
  if (e.count !== undefined) {
    let last = -1;
    const ok = await poll(within, async () => ((last = await ctx.insides().connectionRecordCount()) === e.count ? true : undefined));
    if (!ok) throw new StepFailure(`expected ${e.count} connection records, found ${last}`);
  }
}

export const expectConnectionStep: StepKind<'expectConnection'> = {
  action: 'expectConnection',
  needsInsides: always,
  changesState: false,
  run: expectConnection,
};
