/**
 * End to end on the emulator with PerkUp's real handlers: two WebSocket clients with tokens (Paris + Restaurant,
 * Lyon), an admin running the seed's three mutations over HTTP; a client whose socket dies without a close frame
 * and whose $disconnect failed is later hit by a notification, gets 410, and its record is gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { startEmulator, type Emulator } from '../harness/emulator.js';
import { ScenarioClient } from '../harness/scenarios/client.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';
import { CREATE_PARTNER, DELETE_PARTNER, UPDATE_PARTNER, seedPartnerInput, seedPartnerUpdate } from './fixtures/seed.js';

const SECRET = 'e2e-secret';
const ISO = { $isoTimestamp: true };
let emulator: Emulator;
const clients: ScenarioClient[] = [];

beforeAll(async () => {
  emulator = await startEmulator({ projectRoot: fileURLToPath(new URL('..', import.meta.url)), environment: { JWT_SECRET: SECRET } });
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
  return client;
}

async function graphql(query: string, variables: Record<string, unknown>) {
  const token = await signDevelopmentToken({ sub: 'admin-1', role: 'admin' }, SECRET);
  const response = await fetch(emulator.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { data: Record<string, any> };
}

const recordExists = async (connectionId: string) =>
  (
    await emulator.dynamodb.client.send(
      new GetItemCommand({
        TableName: 'perkup-dev-connections',
        Key: { pk: { S: `CONN#${connectionId}` }, sk: { S: 'META' } },
        ConsistentRead: true,
      }),
    )
  ).Item !== undefined;

describe('PerkUp on the emulator, end to end', () => {
  it("the seed's mutations reach the Paris client with the seed's shapes and never the Lyon client", async () => {
    const paris = await member('member-paris');
    const lyon = await member('member-lyon');
    paris.send(
      JSON.stringify({
        type: 'subscribe',
        data: { topics: ['partners', 'cache_invalidation'], city: 'Paris', categories: ['Restaurant'] },
      }),
    );
    lyon.send(JSON.stringify({ type: 'subscribe', data: { topics: ['partners'], city: 'Lyon' } }));
    await paris.waitFor({ type: 'subscribed' }, 10_000);
    await lyon.waitFor({ type: 'subscribed' }, 10_000);

    const created = await graphql(CREATE_PARTNER, { input: seedPartnerInput });
    const id: string = created.data.createPartner.partner.id;
    await graphql(UPDATE_PARTNER, { id, input: seedPartnerUpdate });
    await graphql(DELETE_PARTNER, { id });

    // The seed's keys as it writes them (category and city as stored), then the case-insensitive spellings listings use.
    const keys = [`partner:${id}`, 'all_partners', 'category:Restaurant', 'city:Paris', 'category:restaurant', 'city:paris'];
    // Exactly the seed's fields plus eventId (added: the stream record's id, for dropping duplicates).
    const eventId = { $anyString: true };
    await paris.waitFor(
      {
        $exact: {
          type: 'partner_updated',
          action: 'created',
          partnerId: id,
          data: { $exact: { id, name: seedPartnerInput.name, category: 'Restaurant', city: 'Paris', discount: 15 } },
          timestamp: ISO,
          eventId,
        },
      },
      10_000,
    );
    await paris.waitFor(
      {
        $exact: {
          type: 'partner_updated',
          action: 'updated',
          partnerId: id,
          data: { $exact: { id, changes: ['phone', 'discount'], updatedAt: ISO } },
          timestamp: ISO,
          eventId,
        },
      },
      10_000,
    );
    await paris.waitFor({ $exact: { type: 'partner_updated', action: 'deleted', partnerId: id, timestamp: ISO, eventId } }, 10_000);
    // One cache_invalidated per stream batch: the three mutations may share a batch (their keys are the same).
    await paris.waitFor({ type: 'cache_invalidated', keys, timestamp: ISO, eventId }, 10_000);
    await lyon.expectNone({ type: 'partner_updated' }, 300);
  });

  it('bad tokens fail the handshake; "not json" gets an error and the connection stays usable', async () => {
    const forged = new ScenarioClient('forged', 'not-a-token');
    expect(await forged.connect(emulator.wsUrl)).toEqual({ ok: false, status: 401 });
    const other = new ScenarioClient('other-secret', await signDevelopmentToken({ sub: 'x', role: 'user' }, 'another-secret'));
    expect(await other.connect(emulator.wsUrl)).toEqual({ ok: false, status: 401 });
    const client = await member('member-typo');
    client.send('not json');
    await client.waitFor({ type: 'error', code: 'INVALID_JSON' }, 10_000);
    client.send('{"type":"ping"}');
    await client.waitFor({ type: 'pong' }, 10_000);
    expect(client.isOpen).toBe(true);
  });

  it('a dead socket whose $disconnect failed gets 410 at the next notification and its record is deleted', async () => {
    const ghost = await member('member-ghost');
    ghost.send(JSON.stringify({ type: 'subscribe', data: { topics: ['partners'], city: 'Paris' } }));
    await ghost.waitFor({ type: 'subscribed' }, 10_000);
    emulator.websocketApi.faults.dropDisconnect(ghost.connectionId!);
    ghost.raw.terminate(); // no close frame
    await ghost.closed(10_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(await recordExists(ghost.connectionId!)).toBe(true);

    const before = emulator.eventLog.all().length;
    await graphql(CREATE_PARTNER, { input: { ...seedPartnerInput, name: 'Nouveau partenaire' } });
    // The notification leaves from the stream after the mutation answered: wait for the post.
    const ghostPosts = () =>
      emulator.eventLog
        .all()
        .slice(before)
        .filter((e) => e.kind === 'management' && e.connectionId === ghost.connectionId);
    for (const deadline = Date.now() + 10_000; ghostPosts().length === 0 && Date.now() < deadline; )
      await new Promise((r) => setTimeout(r, 20));
    await emulator.mappingsIdle();
    const management = ghostPosts();
    expect(management).toEqual([expect.objectContaining({ method: 'POST', statusCode: 410, errorType: 'GoneException' })]);
    expect(await recordExists(ghost.connectionId!)).toBe(false);
  });

  it('reloading the handlers (what a change in src/ triggers) keeps open connections; the next invocation is cold', async () => {
    const client = await member('member-reload');
    const invocations = () => emulator.eventLog.all().filter((e) => e.kind === 'invoke' && e.trigger === '$default');
    const waitForInvocations = async (count: number) => {
      const deadline = Date.now() + 3000;
      while (invocations().length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    };
    const initial = invocations().length;
    client.send('{"type":"ping"}');
    await client.waitFor({ type: 'pong' }, 10_000);
    // The pong is posted from inside the invocation: let it finish before reloading.
    await waitForInvocations(initial + 1);
    await emulator.reload();
    client.send('{"type":"ping"}');
    await client.waitFor({ type: 'pong' }, 10_000);
    expect(client.isOpen).toBe(true);
    await waitForInvocations(initial + 2);
    expect(invocations()).toHaveLength(initial + 2);
    expect(invocations().at(-1)).toMatchObject({ coldStart: true, outcome: 'ok' });
  });
});
