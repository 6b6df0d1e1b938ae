/** `disconnect`: every member closes (with `code`, or abruptly without a close frame); API Gateway's $disconnect is awaited. */
import { never, type StepKind } from './context.js';

export const disconnectStep: StepKind<'disconnect'> = {
  action: 'disconnect',
  needsInsides: never,
  changesState: false,
  async run(disconnect, ctx) {
    const spec = typeof disconnect === 'string' ? { client: disconnect } : disconnect;
    await Promise.all(
      ctx.clientsOf(spec.client).map(async (c) => {
        await c.disconnect({ ...(spec.code ? { code: spec.code } : {}), ...(spec.abrupt ? { abrupt: true } : {}) });
        if (c.connectionId) await ctx.target.insides?.settle(c.connectionId);
      }),
    );
  },
};
