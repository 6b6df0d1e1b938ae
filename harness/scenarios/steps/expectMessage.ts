/** `expectMessage`: every member of a client group receives a frame matching the pattern within the window. */
import { toMs, type MessageExpectation } from '../format.js';
import { describeFailure } from '../failures.js';
import { capture } from '../interpolate.js';
import { schemaErrorsText, userSchema } from '../loading/validate.js';
import { never, StepFailure, type StepContext, type StepKind } from './context.js';

export async function expectMessage(e: MessageExpectation, ctx: StepContext): Promise<void> {
  const members = ctx.clientsOf(e.client);
  const settled = await Promise.allSettled(
    members.map(async (client) => {
      const frame = await client.waitFor(e.match, toMs(e.within, ctx.defaultWithinMs));
      ctx.messageLatenciesMs.push(Math.max(0, frame.receivedAt - ctx.lastActionAt));
      if (e.schema !== undefined) {
        const validate = userSchema(e.schema);
        if (!validate(frame.json))
          throw new StepFailure(
            `${client.name}: the frame matching the pattern does not satisfy the schema: ${schemaErrorsText(validate)}\n  frame: ${frame.text.slice(0, 300)}`,
          );
      }
      // Values from the frame for later steps (e.g. an eventId to expect again after a retried batch).
      for (const [name, path] of Object.entries(e.capture ?? {})) {
        const value = capture(path, frame.json);
        if (value === undefined) throw new StepFailure(`capture ${name}: ${path} matched nothing in ${frame.text.slice(0, 300)}`);
        ctx.captures[name] = value;
      }
    }),
  );
  const missed = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as Error] : []));
  if (!missed.length) return;
  if (members.length === 1) throw missed[0];
  // For a group, how many went without is the finding (e.g. notifications lost under load); the first says how.
  throw new StepFailure(
    `${missed.length} of ${members.length} clients of ${e.client} got no matching message (lost)\n${describeFailure(missed[0])}`,
  );
}

export const expectMessageStep: StepKind<'expectMessage'> = {
  action: 'expectMessage',
  needsInsides: never,
  changesState: false,
  run: expectMessage,
};
