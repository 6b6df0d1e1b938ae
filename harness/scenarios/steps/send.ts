/** `send`: every member of a group sends a text frame (`text`, optionally repeated) or `json`. */
import { never, type StepKind } from './context.js';

export const sendStep: StepKind<'send'> = {
  action: 'send',
  needsInsides: never,
  changesState: false,
  async run(s, ctx) {
    const text = s.text !== undefined ? s.text.repeat(s.repeat ?? 1) : JSON.stringify(s.json);
    for (const client of ctx.clientsOf(s.client)) client.send(text);
  },
};
