/**
 * The emulator's event log (harness/eventLog.ts): ordered, numbered, bounded by its capacity (oldest half dropped when
 * full), and the same values whatever strings the recorders handed it.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createEventLog } from '../harness/eventLog.js';
import { startEmulator } from '../harness/emulator.js';

describe('event log', () => {
  it('numbers events and stamps them with its clock', () => {
    let t = 1_000;
    const log = createEventLog({ now: () => t++ });
    log.record({ kind: 'fault', description: 'a' });
    log.record({ kind: 'dynamodb', operation: 'PutItem', table: 'items', statusCode: 200 });
    expect(log.all()).toEqual([
      { kind: 'fault', description: 'a', seq: 1, time: 1_000 },
      { kind: 'dynamodb', operation: 'PutItem', table: 'items', statusCode: 200, seq: 2, time: 1_001 },
    ]);
  });

  it('keeps at most its capacity: when full the oldest half goes, the newest stay, seq keeps counting', () => {
    const log = createEventLog({ capacity: 10 });
    for (let i = 1; i <= 10; i++) log.record({ kind: 'fault', description: `e${i}` });
    expect(log.all()).toHaveLength(10);
    log.record({ kind: 'fault', description: 'e11' });
    expect(log.all().map((e) => e.seq)).toEqual([7, 8, 9, 10, 11]);
    for (let i = 12; i <= 30; i++) log.record({ kind: 'fault', description: `e${i}` });
    expect(log.all().length).toBeLessThanOrEqual(10);
    expect(log.all().at(-1)).toMatchObject({ seq: 30, description: 'e30' });
    expect(log.tail(2).map((e) => e.seq)).toEqual([29, 30]);
  });

  it('refuses a capacity that is not an integer of at least 2', () => {
    for (const capacity of [0, 1, 2.5, Number.NaN]) expect(() => createEventLog({ capacity })).toThrow(/capacity/);
  });

  it("is the emulator's option eventLogCapacity (checked before anything starts)", async () => {
    const projectRoot = fileURLToPath(new URL('..', import.meta.url));
    await expect(startEmulator({ projectRoot, eventLogCapacity: 1 })).rejects.toThrow(
      /event log capacity must be an integer of at least 2, got 1/,
    );
  });

  it('records repeated names (tables, operations, functions) with their values, whichever string object carried them', () => {
    const log = createEventLog();
    const seen: string[] = [];
    log.subscribe((e) => seen.push(e.kind === 'dynamodb' ? `${e.operation} ${e.table}` : e.kind));
    // Fresh strings, as a parsed request body yields each time.
    const fresh = (text: string) => JSON.parse(JSON.stringify(text)) as string;
    for (const table of ['a', 'b', 'a']) log.record({ kind: 'dynamodb', operation: fresh('Query'), table: fresh(table), statusCode: 200 });
    log.record({ kind: 'invokeStart', functionName: fresh('notifier'), trigger: fresh('sqs'), requestId: 'r1', coldStart: false });
    expect(seen).toEqual(['Query a', 'Query b', 'Query a', 'invokeStart']);
    expect(log.all().at(-1)).toMatchObject({ functionName: 'notifier', trigger: 'sqs', requestId: 'r1' });
  });

  // A real collection, so what the heap holds is what the log keeps (node's documented way to reach gc at run time).
  const collect = (): void => {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
  };
  /** Heap bytes a fresh log holds after 20,000 `record` calls. */
  const heldAfter = (record: (log: ReturnType<typeof createEventLog>, i: number) => void): number => {
    const log = createEventLog();
    collect();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 20_000; i++) record(log, i);
    collect();
    const held = process.memoryUsage().heapUsed - before;
    expect(log.all()).toHaveLength(20_000);
    return held;
  };

  it('holds one copy of a payload delivered to many connections, each post a fresh string of it', () => {
    const notification = JSON.stringify({ type: 'partner_updated', data: { name: 'x'.repeat(2_000) } });
    // Fresh strings, as the management API decodes each post's body.
    const broadcast = heldAfter((log, i) =>
      log.record({ kind: 'delivered', connectionId: `c${i}`, data: Buffer.from(notification).toString('utf8') }),
    );
    const distinct = heldAfter((log, i) =>
      log.record({ kind: 'delivered', connectionId: `c${i}`, data: Buffer.from(notification + i).toString('utf8') }),
    );
    // 20,000 distinct 2 KB payloads are ~40 MB; one shared payload leaves the events themselves (~2–4 MB).
    expect(distinct).toBeGreaterThan(35 * 1024 * 1024);
    expect(broadcast).toBeLessThan(distinct / 5);
    const log = createEventLog();
    log.record({ kind: 'delivered', connectionId: 'a', data: Buffer.from(notification).toString('utf8') });
    expect(log.all()[0]).toMatchObject({ kind: 'delivered', connectionId: 'a', data: notification });
  });

  it("keeps a log line's repeated values once (service, function ARN, message…), each line parsed afresh", () => {
    const arn = `arn:aws:lambda:eu-west-3:123456789012:function:${'f'.repeat(150)}`;
    // As forwardLogs parses a function's JSON line: every string fresh.
    const line = (i: number, same: boolean) => {
      const suffix = same ? '' : String(i);
      const parsed = JSON.parse(
        JSON.stringify({
          message: `connection registered ${'m'.repeat(100)}${suffix}`,
          service: `perkup${suffix}`,
          function_arn: arn + suffix,
          id: `r${i}`,
        }),
      ) as Record<string, string>;
      const { message, ...data } = parsed;
      return { kind: 'log' as const, functionName: 'websocket', level: 'INFO', message, data };
    };
    const repeated = heldAfter((log, i) => log.record(line(i, true)));
    const varying = heldAfter((log, i) => log.record(line(i, false)));
    // ~20,000 × (200-char ARN + 120-char message): ≥ 6 MB more when every value differs.
    expect(varying - repeated).toBeGreaterThan(6 * 1024 * 1024);
    const log = createEventLog();
    log.record(line(1, true));
    log.record(line(2, false));
    expect(log.all().map((e) => e.kind === 'log' && [e.message.slice(-3), e.data])).toEqual([
      ['mmm', { service: 'perkup', function_arn: arn, id: 'r1' }],
      ['mm2', { service: 'perkup2', function_arn: `${arn}2`, id: 'r2' }],
    ]);
  });
});
