/** `connect`: every member of a client group opens its WebSocket (or, with `expectStatus`, is refused with it). */
import { never, StepFailure, type StepKind } from './context.js';

export const connectStep: StepKind<'connect'> = {
  action: 'connect',
  needsInsides: never,
  changesState: false,
  async run(connect, ctx) {
    const spec = typeof connect === 'string' ? { client: connect } : connect;
    const members = ctx.clientsOf(spec.client);
    let connected = 0;
    // Large groups report progress, so a load scenario setting up thousands of sockets is visibly moving.
    const progress = members.length >= 100 ? ctx.onProgress : undefined;
    await Promise.all(
      members.map(async (client) => {
        const outcome = await client.connect(ctx.target.wsUrl);
        if (spec.expectStatus !== undefined) {
          if (outcome.ok) throw new StepFailure(`${client.name}: the handshake succeeded, expected it refused with ${spec.expectStatus}`);
          if (outcome.status !== spec.expectStatus)
            throw new StepFailure(`${client.name}: the handshake was refused with ${outcome.status}, expected ${spec.expectStatus}`);
          return;
        }
        if (!outcome.ok) throw new StepFailure(`${client.name}: the handshake was refused with ${outcome.status}`);
        client.connectionId = await ctx.target.insides?.connectionIdOf(client.userAgent);
        progress?.({ scenario: ctx.scenario.name, step: `connect ${spec.client}`, done: ++connected, total: members.length });
      }),
    );
  },
};
