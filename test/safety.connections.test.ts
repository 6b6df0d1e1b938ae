/**
 * Per-user connection limit (MAX_CONNECTIONS_PER_USER, default 10) through the real WebSocket handler on dynalite:
 * exact under 100 concurrent handshakes of one user, 429 with nothing stored past it, and the slot freed on
 * $disconnect, on 410 clean-up and once the connection's TTL has passed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { startBackend, TABLES, type Backend } from './helpers/backend.js';
import { CREATE_PARTNER, seedPartnerInput } from './fixtures/seed.js';
import { DEFAULT_MAX_CONNECTIONS_PER_USER } from '../src/config/env.js';
import { createUserSlots } from '../src/realtime/userSlots.js';
import { createConnectionStore } from '../src/realtime/connections.js';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

let backend: Backend;
beforeAll(async () => {
  backend = await startBackend();
});
afterAll(() => backend.close());

const MAX = DEFAULT_MAX_CONNECTIONS_PER_USER;
const userItem = async (userId: string) =>
  (
    await backend.doc.send(
      new GetCommand({ TableName: TABLES.connections, Key: { pk: `USER#${userId}`, sk: 'CONNECTIONS' }, ConsistentRead: true }),
    )
  ).Item;
const metaRowsOf = async (userId: string) =>
  ((await backend.doc.send(new ScanCommand({ TableName: TABLES.connections, ConsistentRead: true }))).Items ?? []).filter(
    (row) => row.sk === 'META' && row.userId === userId,
  );
const rowsOfConnection = async (connectionId: string) =>
  (
    await backend.doc.send(
      new QueryCommand({
        TableName: TABLES.connections,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `CONN#${connectionId}` },
        ConsistentRead: true,
      }),
    )
  ).Items ?? [];

describe('per-user connection limit', () => {
  it(`100 concurrent handshakes of one user: exactly ${MAX} open, the rest refused with 429 and nothing stored`, {
    timeout: 120_000,
  }, async () => {
    const token = await backend.token('crowd');
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => backend.ws.connect(`crowd-${i}=`, token)));
    const accepted = results.filter((r) => r.statusCode === 200).length;
    const refused = results.filter((r) => r.statusCode === 429);
    expect({ accepted, refused: refused.length }).toEqual({ accepted: MAX, refused: 100 - MAX });
    expect(refused[0].body).toBe('Too many open connections for this user; close one and retry');
    expect(await metaRowsOf('crowd')).toHaveLength(MAX);
    expect(await userItem('crowd')).toMatchObject({ open: MAX });
    expect(Object.keys((await userItem('crowd'))!.slots).sort()).toEqual((await metaRowsOf('crowd')).map((row) => row.connectionId).sort());
    const refusedIds = results.map((r, i) => (r.statusCode === 429 ? `crowd-${i}=` : undefined)).filter(Boolean) as string[];
    for (const id of refusedIds.slice(0, 5)) expect(await rowsOfConnection(id)).toEqual([]);
    // Another user is not affected.
    expect((await backend.ws.connect('other-1=', await backend.token('other'))).statusCode).toBe(200);
  });

  it('$disconnect frees the slot once, even when it comes twice', async () => {
    const token = await backend.token('leaver');
    for (let i = 0; i < MAX; i++) expect((await backend.ws.connect(`leaver-${i}=`, token)).statusCode).toBe(200);
    expect((await backend.ws.connect('leaver-extra=', token)).statusCode).toBe(429);
    await backend.ws.disconnect('leaver-0=');
    await backend.ws.disconnect('leaver-0=');
    expect((await userItem('leaver'))!.open).toBe(MAX - 1);
    expect((await backend.ws.connect('leaver-extra=', token)).statusCode).toBe(200);
    expect((await backend.ws.connect('leaver-extra-2=', token)).statusCode).toBe(429);
  });

  it('a 410 from the management API (socket died, no $disconnect) frees the slot', async () => {
    const token = await backend.token('ghost');
    for (let i = 0; i < MAX; i++) expect((await backend.ws.connect(`ghost-${i}=`, token)).statusCode).toBe(200);
    await backend.ws.send('ghost-0=', { type: 'subscribe', data: { topics: ['partners'], city: 'Ghostville' } });
    backend.ws.die('ghost-0=');
    const admin = await backend.token('admin-ghost', 'admin');
    const created = await backend.graphql(CREATE_PARTNER, { input: { ...seedPartnerInput, city: 'Ghostville' } }, admin);
    expect(created.body.data!.createPartner.success).toBe(true);
    expect(backend.managementCalls).toContainEqual({ connectionId: 'ghost-0=', status: 410 });
    expect(await rowsOfConnection('ghost-0=')).toEqual([]);
    expect((await userItem('ghost'))!.open).toBe(MAX - 1);
    expect((await backend.ws.connect('ghost-new=', token)).statusCode).toBe(200);
  });

  it('a connection whose TTL has passed no longer counts: the next handshake at the limit prunes it', async () => {
    const token = await backend.token('expiring');
    for (let i = 0; i < MAX; i++) expect((await backend.ws.connect(`expiring-${i}=`, token)).statusCode).toBe(200);
    // As if expiring-0= vanished without $disconnect or 410 and its rows' TTL passed.
    await backend.doc.send(
      new UpdateCommand({
        TableName: TABLES.connections,
        Key: { pk: 'USER#expiring', sk: 'CONNECTIONS' },
        UpdateExpression: 'SET slots.#c = :past',
        ExpressionAttributeNames: { '#c': 'expiring-0=' },
        ExpressionAttributeValues: { ':past': Math.floor(Date.now() / 1000) - 1 },
      }),
    );
    expect((await backend.ws.connect('expiring-new=', token)).statusCode).toBe(200);
    const item = (await userItem('expiring'))!;
    expect(item.open).toBe(MAX);
    expect(Object.keys(item.slots)).not.toContain('expiring-0=');
    expect((await backend.ws.connect('expiring-newer=', token)).statusCode).toBe(429);
  });

  it('slots: a concurrent prune and release of the same connection free it once', async () => {
    let now = 1_000_000_000_000;
    const slots = createUserSlots(backend.doc, TABLES.connections, 2, () => now);
    expect(await slots.take('race', 'a', 1_000_000_010)).toBe(true);
    expect(await slots.take('race', 'b', 1_000_000_100)).toBe(true);
    expect(await slots.take('race', 'c', 1_000_000_100)).toBe(false);
    now += 20_000; // a's ttl has passed
    const [taken, released] = await Promise.all([slots.take('race', 'c', 1_000_000_100), slots.release('race', 'a')]);
    expect(taken).toBe(true);
    expect(typeof released).toBe('boolean');
    expect(await slots.count('race')).toBe(2);
  });
});

describe('subscriber lookup', () => {
  it('one target whose Query fails: the lookup fails with it, and only once no other Query is in flight', async () => {
    let inFlight = 0;
    // The real client underneath; one target's Query is refused as DynamoDB refuses a throttled one.
    const db = {
      async send(command: Parameters<DynamoDBDocumentClient['send']>[0]) {
        const values = (command.input as { ExpressionAttributeValues?: Record<string, unknown> }).ExpressionAttributeValues;
        if (values?.[':target'] === 'partners|Lyon|*') throw Object.assign(new Error('throttled'), { name: 'ThrottlingException' });
        inFlight++;
        try {
          return await backend.doc.send(command);
        } finally {
          inFlight--;
        }
      },
    } as unknown as DynamoDBDocumentClient;
    const store = createConnectionStore(db, TABLES.connections);
    const outcome = await store.subscribersOf(['partners|Paris|*', 'partners|Lyon|*', 'partners|*|*', 'cache_invalidation|*|*']).then(
      () => 'resolved',
      (error: Error) => `${error.name} with ${inFlight} Query(s) in flight`,
    );
    expect(outcome).toBe('ThrottlingException with 0 Query(s) in flight');
  });
});
