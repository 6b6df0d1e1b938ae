/**
 * Large audiences on the emulator: past FANOUT_SHARD_THRESHOLD connections the notifier hands the fanout to the
 * fanout queue (SQS, through the real SDK client) in shards, and the fanout function posts each shard; posts that
 * still fail after the sender's retries (429) go back to the queue and arrive later, not never.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from '../harness/emulator.js';
import { ScenarioClient } from '../harness/scenarios/client.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';
import { CREATE_PARTNER, seedPartnerInput } from './fixtures/seed.js';

const SECRET = 'fanout-secret';
let emulator: Emulator;
const clients: ScenarioClient[] = [];

beforeAll(async () => {
  emulator = await startEmulator({
    projectRoot: fileURLToPath(new URL('..', import.meta.url)),
    environment: { JWT_SECRET: SECRET, FANOUT_SHARD_THRESHOLD: '2', FANOUT_SHARD_SIZE: '2', NOTIFY_RETRY_BASE_DELAY_MS: '5' },
  });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.disconnect({ abrupt: true }).catch(() => undefined)));
  await emulator.close();
});

async function member(sub: string): Promise<ScenarioClient> {
  const client = new ScenarioClient(sub, await signDevelopmentToken({ sub, role: 'user' }, SECRET));
  clients.push(client);
  expect(await client.connect(emulator.wsUrl)).toEqual({ ok: true });
  client.connectionId = emulator.websocketApi.connections.find((c) => c.userAgent === client.userAgent)!;
  client.send(JSON.stringify({ type: 'subscribe', data: { topics: ['partners'], city: 'Paris' } }));
  await client.waitFor({ type: 'subscribed' }, 10_000);
  return client;
}

async function createPartner(name: string): Promise<string> {
  const token = await signDevelopmentToken({ sub: 'admin-1', role: 'admin' }, SECRET);
  const response = await fetch(emulator.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: CREATE_PARTNER, variables: { input: { ...seedPartnerInput, name } } }),
  });
  return ((await response.json()) as { data: { createPartner: { partner: { id: string } } } }).data.createPartner.partner.id;
}

describe('large audiences: shards on the fanout queue', () => {
  it('5 subscribers past a threshold of 2 are served by 3 shards through SQS; everyone gets the notification once', async () => {
    const members = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((s) => member(`member-${s}`)));
    const id = await createPartner('Le Grand Public');
    for (const m of members) await m.waitFor({ type: 'partner_updated', action: 'created', partnerId: id }, 10_000);
    await emulator.mappingsIdle();
    const sent = emulator.eventLog.all().filter((e) => e.kind === 'sqs' && e.queue === 'perkup-dev-fanout' && e.action === 'sent');
    expect(sent).toHaveLength(3);
    const fanoutBatches = emulator.eventLog
      .all()
      .filter((e) => e.kind === 'batch' && e.source === 'sqs' && e.functionName === 'fanout' && e.action === 'ok');
    expect(fanoutBatches).toHaveLength(3);
    for (const m of members) await m.expectNone({ type: 'partner_updated', partnerId: id }, 200);
  });

  it('a connection answering 429 past the retries is re-queued and still gets its notification', async () => {
    const members = await Promise.all(['f', 'g', 'h'].map((s) => member(`member-${s}`)));
    // 3 attempts per post (NOTIFY_MAX_ATTEMPTS): the first round fails entirely for this connection.
    emulator.websocketApi.faults.failNextPosts(members[0].connectionId!, 429, 3);
    const id = await createPartner('Le Patient');
    for (const m of members) await m.waitFor({ type: 'partner_updated', action: 'created', partnerId: id }, 15_000);
    // The worker logs the retry shard after its posts, on its container's stdout, which may trail the frame: wait for it.
    const retryShards = () =>
      emulator.eventLog
        .all()
        .filter((e) => e.kind === 'log' && e.functionName === 'fanout' && e.message === 'fanout shard sent' && e.data?.retry === true);
    for (const deadline = Date.now() + 10_000; retryShards().length === 0 && Date.now() < deadline; )
      await new Promise((r) => setTimeout(r, 20));
    expect(retryShards().length).toBeGreaterThanOrEqual(1);
  });
});
