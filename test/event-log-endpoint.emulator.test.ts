/**
 * GET /_emulator/events: the event log as JSON for tools in another process. One createPartner through the real
 * GraphQL handler; the endpoint must show its stream record, then the notifier's invocation, in that order, and its
 * filters must narrow what comes back and refuse what they cannot read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from '../harness/emulator.js';
import type { LoggedEvent } from '../harness/eventLog.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';
import { CREATE_PARTNER, seedPartnerInput } from './fixtures/seed.js';

const SECRET = 'events-secret';
let emulator: Emulator;

beforeAll(async () => {
  emulator = await startEmulator({ projectRoot: fileURLToPath(new URL('..', import.meta.url)), environment: { JWT_SECRET: SECRET } });
});
afterAll(async () => {
  await emulator.close();
});

async function events(query: string): Promise<{ status: number; body: { events?: LoggedEvent[]; message?: string } }> {
  const response = await fetch(`${emulator.eventsUrl}?${query}`);
  return { status: response.status, body: (await response.json()) as { events?: LoggedEvent[]; message?: string } };
}

describe('GET /_emulator/events', () => {
  it("shows a mutation's stream record and then the notifier's invocation, filtered by kind, function and seq", async () => {
    const before = (await events('limit=1')).body.events!.at(-1)?.seq ?? 0;
    const admin = await signDevelopmentToken({ sub: 'admin-1', role: 'admin' }, SECRET);
    const response = await fetch(emulator.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
      body: JSON.stringify({ query: CREATE_PARTNER, variables: { input: seedPartnerInput } }),
    });
    expect(response.status).toBe(200);
    await emulator.mappingsIdle();

    const { status, body } = await events(`kind=streamRecord,invokeStart&after=${before}`);
    expect(status).toBe(200);
    const seen = body.events!;
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((e) => e.seq > before && (e.kind === 'streamRecord' || e.kind === 'invokeStart'))).toBe(true);
    const record = seen.findIndex((e) => e.kind === 'streamRecord' && e.table.endsWith('-partners') && e.eventName === 'INSERT');
    const notifier = seen.findIndex((e) => e.kind === 'invokeStart' && e.functionName === 'notifier');
    expect(record).toBeGreaterThanOrEqual(0);
    expect(notifier).toBeGreaterThan(record);
    expect(seen[notifier].time).toBeGreaterThanOrEqual(seen[record].time);

    const onlyNotifier = (await events(`function=notifier&after=${before}`)).body.events!;
    expect(onlyNotifier.length).toBeGreaterThan(0);
    expect(onlyNotifier.every((e) => 'functionName' in e && e.functionName === 'notifier')).toBe(true);
    expect((await events(`kind=invokeStart&after=${before}&limit=1`)).body.events).toHaveLength(1);
  });

  it('refuses an unknown kind or a bad number with 400 and a message naming the problem', async () => {
    const unknown = await events('kind=invokeStart,teleport');
    expect(unknown.status).toBe(400);
    expect(unknown.body.message).toMatch(/unknown event kind teleport/);
    for (const bad of ['after=-1', 'limit=0', 'limit=ten']) {
      const answer = await events(bad);
      expect(answer.status, bad).toBe(400);
      expect(answer.body.message).toMatch(/whole number/);
    }
  });
});
