/**
 * `subscribe`: the app's own subscribe message (serverless.yml `custom.emulator.scenarios.subscribe`), with the step's
 * fields, sent by every member of the group; each waits for the app's acknowledgement.
 */
import { never, StepFailure, type StepKind } from './context.js';

export const subscribeStep: StepKind<'subscribe'> = {
  action: 'subscribe',
  needsInsides: never,
  changesState: false,
  async run({ client: name, ...fields }, ctx) {
    const protocol = ctx.target.subscribe;
    if (!protocol) throw new StepFailure('subscribe needs custom.emulator.scenarios.subscribe in serverless.yml');
    const message = { ...protocol.send, ...(protocol.dataField ? { [protocol.dataField]: fields } : fields) };
    await Promise.all(
      ctx.clientsOf(name).map(async (client) => {
        client.send(JSON.stringify(message));
        await client.waitFor(protocol.ack, ctx.defaultWithinMs);
      }),
    );
  },
};
