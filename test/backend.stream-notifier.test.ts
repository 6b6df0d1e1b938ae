/**
 * The notifier off the mutation's path: batching within one stream batch (one cache_invalidated per connection with
 * the union of keys, one partner_updated per change, one `notifications` frame for "batch": true subscribers),
 * frames split under 128 KB, unreadable records reported for a retry, and idempotent createPartner.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { startBackend, TABLES, type Backend } from './helpers/backend.js';
import { seedPartnerInput } from './fixtures/seed.js';
import { MAX_MESSAGE_BYTES, packFrames, type Notification } from '../src/realtime/notifications.js';
import { decodeShard, MAX_SHARD_BYTES, sendBatches, shardBodies } from '../src/realtime/fanoutQueue.js';

let backend: Backend;
let admin: string;

beforeAll(async () => {
  backend = await startBackend();
  admin = await backend.token('admin-1', 'admin');
});
afterAll(() => backend.close());

const partnerCount = async () => (await backend.doc.send(new ScanCommand({ TableName: TABLES.partners, Select: 'COUNT' }))).Count;
const create = (input: Record<string, unknown>, clientMutationId?: string) =>
  backend.graphql(
    `mutation ($input: PartnerInput!, $id: String) { createPartner(input: $input, clientMutationId: $id) { success message errors { field } partner { id name version } } }`,
    { input, ...(clientMutationId ? { id: clientMutationId } : {}) },
    admin,
  );

async function subscriber(id: string, data: Record<string, unknown>) {
  expect((await backend.ws.connect(id, await backend.token(`member-${id}`))).statusCode).toBe(200);
  await backend.ws.send(id, { type: 'subscribe', data });
  return id;
}

describe('batching within one stream batch', () => {
  it('three changes in one batch: one partner_updated each, ONE cache_invalidated with the union of keys, one frame for a batch subscriber', async () => {
    const cache = await subscriber('cache-1=', { topics: ['cache_invalidation'] });
    const partners = await subscriber('partners-1=', { topics: ['partners'], city: 'Paris' });
    const batched = await subscriber('batched-1=', { topics: ['partners', 'cache_invalidation'], city: 'Paris', batch: true });
    expect(backend.messages(batched).at(-1)).toMatchObject({ type: 'subscribed', batch: true });
    const postsBefore = backend.managementCalls.length;

    backend.pauseStream(true);
    const ids: string[] = [];
    for (const category of ['Restaurant', 'Bar', 'Gym'])
      ids.push((await create({ ...seedPartnerInput, category })).body.data!.createPartner.partner.id);
    backend.pauseStream(false);
    await backend.drainStream();
    const records = backend.streamRecords().slice(-3);

    const invalidations = backend.messages(cache).filter((m) => m.type === 'cache_invalidated');
    expect(invalidations).toHaveLength(1);
    expect(invalidations[0].keys).toEqual([
      `partner:${ids[0]}`,
      'all_partners',
      'category:Restaurant',
      'city:Paris',
      'category:restaurant',
      'city:paris',
      `partner:${ids[1]}`,
      'category:Bar',
      'category:bar',
      `partner:${ids[2]}`,
      'category:Gym',
      'category:gym',
    ]);
    expect(invalidations[0].eventIds).toEqual(records.map((r) => r.eventID));
    expect(invalidations[0].eventId).toMatch(/^batch-[0-9a-f]{16}$/);

    expect(
      backend
        .messages(partners)
        .filter((m) => m.type === 'partner_updated')
        .map((m) => [m.partnerId, m.eventId]),
    ).toEqual(ids.map((id, i) => [id, records[i].eventID]));

    const frames = backend.messages(batched).filter((m) => m.type !== 'subscribed');
    expect(frames).toHaveLength(1);
    expect(frames[0]).toMatchObject({ type: 'notifications', part: 1, parts: 1 });
    expect(frames[0].notifications.map((n: Notification) => n.type)).toEqual([
      'partner_updated',
      'partner_updated',
      'partner_updated',
      'cache_invalidated',
    ]);

    // One message per mutation would have been 3 (cache) + 3 (partners) + 6 (batched): 12 posts; batching made 5.
    expect(backend.managementCalls.length - postsBefore).toBe(5);
  });

  it('a batch too large for one message is split into frames under 128 KB, in order, numbered', () => {
    const notifications: Notification[] = Array.from({ length: 400 }, (_, i) => ({
      type: 'cache_invalidated',
      keys: [`partner:${i}`, 'x'.repeat(1000)],
      timestamp: '2026-01-01T00:00:00.000Z',
    }));
    const frames = packFrames(notifications, '2026-01-01T00:00:00.000Z');
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames) expect(Buffer.byteLength(frame)).toBeLessThan(MAX_MESSAGE_BYTES);
    const parsed = frames.map((f) => JSON.parse(f) as { part: number; parts: number; notifications: Notification[] });
    expect(parsed.map((p) => [p.part, p.parts])).toEqual(parsed.map((_, i) => [i + 1, frames.length]));
    expect(parsed.flatMap((p) => p.notifications)).toEqual(notifications);
  });

  it('fanout shards hold each distinct payload once and stay under the queue message limit', () => {
    const shared = JSON.stringify({ type: 'cache_invalidated', keys: ['all_partners'], timestamp: 't' });
    const deliveries = Array.from({ length: 5000 }, (_, i) => ({ connectionId: `conn-${i}-${'c'.repeat(40)}`, payloads: [shared] }));
    const bodies = shardBodies(deliveries, 2000);
    for (const body of bodies) expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_SHARD_BYTES);
    expect(bodies.flatMap((b) => decodeShard(b).deliveries)).toEqual(deliveries);
    expect(JSON.parse(bodies[0]).payloads).toEqual([shared]);
  });

  it('shards are sent in batches of at most 10 entries and at most MAX_SHARD_BYTES in total (SQS BatchRequestTooLong)', () => {
    const shared = JSON.stringify({ type: 'cache_invalidated', keys: ['all_partners'], timestamp: 't' });
    // 10,000 connections in shards of 2,000: five ~100 KB shards, which SQS takes one by one but not all in one batch.
    const deliveries = Array.from({ length: 10_000 }, (_, i) => ({ connectionId: `conn-${i}-${'c'.repeat(20)}`, payloads: [shared] }));
    const bodies = shardBodies(deliveries, 2000);
    const total = bodies.reduce((n, b) => n + Buffer.byteLength(b), 0);
    expect(total).toBeGreaterThan(MAX_SHARD_BYTES);
    const batches = sendBatches(bodies);
    expect(batches.flat()).toEqual(bodies);
    for (const batch of batches) {
      expect(batch.length).toBeLessThanOrEqual(10);
      expect(batch.reduce((n, b) => n + Buffer.byteLength(b), 0)).toBeLessThanOrEqual(MAX_SHARD_BYTES);
    }
    const small = Array.from({ length: 23 }, () => 'x');
    expect(sendBatches(small).map((b) => b.length)).toEqual([10, 10, 3]);
  });

  it('an unreadable record is reported by sequence number; the records before it are handled, the ones after left for the retry', async () => {
    const cache = await subscriber('cache-2=', { topics: ['cache_invalidation'] });
    backend.pauseStream(true);
    const id = (await create({ ...seedPartnerInput, name: 'Avant' })).body.data!.createPartner.partner.id;
    backend.pauseStream(false);
    const [good] = backend.streamRecords().slice(-1);
    const bad = {
      ...good,
      eventID: 'bad-1',
      eventName: 'INSERT',
      dynamodb: { ...good.dynamodb, SequenceNumber: '900000000000000000001', NewImage: { name: { S: 'no id' } } },
    };
    const after = { ...good, eventID: 'after-1', dynamodb: { ...good.dynamodb, SequenceNumber: '900000000000000000002' } };
    const before = backend.messages(cache).length;
    const response = await backend.notifierHandler(
      { Records: [good, bad, after] } as never,
      { getRemainingTimeInMillis: () => 60_000 } as never,
    );
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: '900000000000000000001' }] });
    const received = backend.messages(cache).slice(before);
    expect(received).toEqual([
      expect.objectContaining({ type: 'cache_invalidated', eventId: good.eventID, keys: expect.arrayContaining([`partner:${id}`]) }),
    ]);
  });
});

describe('idempotent createPartner (clientMutationId)', () => {
  it('a retry with the same key answers the first result and writes nothing', async () => {
    const first = await create({ ...seedPartnerInput, name: 'Idem Un' }, 'retry-key-1');
    const count = await partnerCount();
    const puts = () =>
      backend.dbOps.filter(
        (op) => op.body.TableName === TABLES.partners && op.operation !== 'GetItem' && op.operation !== 'Query' && op.operation !== 'Scan',
      ).length;
    const writesBefore = puts();
    const again = await create({ ...seedPartnerInput, name: 'Idem Un' }, 'retry-key-1');
    expect(again.body.data!.createPartner).toEqual(first.body.data!.createPartner);
    expect(await partnerCount()).toBe(count);
    expect(puts()).toBe(writesBefore);
  });

  it('concurrent retries with one key produce one partner', async () => {
    const count = await partnerCount();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => create({ ...seedPartnerInput, name: 'Idem Concurrent' }, 'concurrent-key')),
    );
    const ids = new Set(answers.map((a) => a.body.data!.createPartner.partner.id));
    expect(answers.every((a) => a.body.data!.createPartner.success)).toBe(true);
    expect(ids.size).toBe(1);
    expect(await partnerCount()).toBe((count ?? 0) + 1);
  });

  it('the same key with another input is refused and writes nothing; a malformed key is refused', async () => {
    await create({ ...seedPartnerInput, name: 'Idem Deux' }, 'retry-key-2');
    const count = await partnerCount();
    const other = await create({ ...seedPartnerInput, name: 'Autre chose' }, 'retry-key-2');
    expect(other.body.data!.createPartner).toMatchObject({
      success: false,
      message: 'clientMutationId retry-key-2 was already used for a different input',
      partner: null,
    });
    const malformed = await create({ ...seedPartnerInput }, 'has spaces!');
    expect(malformed.body.data!.createPartner).toMatchObject({ success: false, partner: null, errors: [{ field: 'clientMutationId' }] });
    expect(await partnerCount()).toBe(count);
  });

  it('without a key, two creates are two partners (as before)', async () => {
    const count = await partnerCount();
    await create({ ...seedPartnerInput, name: 'Sans clé' });
    await create({ ...seedPartnerInput, name: 'Sans clé' });
    expect(await partnerCount()).toBe((count ?? 0) + 2);
  });
});
