/** `fault`: injects one of the emulator's faults (management API statuses, dead sockets, throttling, timeouts, cold starts). */
import { toMs } from '../format.js';
import { matches } from '../matchers.js';
import { always, type StepKind } from './context.js';

export const faultStep: StepKind<'fault'> = {
  action: 'fault',
  needsInsides: always,
  changesState: true,
  async run(fault, ctx) {
    const faults = ctx.insides().faults;
    if ('postToConnection' in fault) {
      const f = fault.postToConnection;
      for (const c of ctx.clientsOf(f.client)) faults.postToConnection(ctx.connectionIdOf(c), f.status, f.count ?? 1);
    } else if ('socketDies' in fault) {
      for (const c of ctx.clientsOf(fault.socketDies.client))
        faults.socketDies(ctx.connectionIdOf(c), fault.socketDies.disconnectFails ?? false);
    } else if ('dynamodbThrottle' in fault) faults.dynamodbThrottle(fault.dynamodbThrottle.count, fault.dynamodbThrottle.operation);
    else if ('dynamodbUnprocessed' in fault) faults.dynamodbUnprocessed(fault.dynamodbUnprocessed.count, fault.dynamodbUnprocessed.table);
    else if ('lambdaTimeout' in fault) {
      const { function: fn, count, afterMs, afterCalls, service } = fault.lambdaTimeout;
      faults.lambdaTimeout(fn, count ?? 1, {
        ...(afterMs !== undefined ? { afterMs: toMs(afterMs, 0) } : {}),
        ...(afterCalls !== undefined ? { afterCalls } : {}),
        ...(service !== undefined ? { service } : {}),
      });
    } else if ('dynamodbIndexLag' in fault) await faults.indexLag(toMs(fault.dynamodbIndexLag.ms, 0));
    else if ('streamRecordFails' in fault) {
      const pattern = fault.streamRecordFails.match;
      faults.streamRecordFails(
        (record) => matches(pattern, record),
        fault.streamRecordFails.description ?? `a record matching ${JSON.stringify(pattern)}`,
      );
    } else faults.coldStart(fault.coldStart.function);
  },
};
