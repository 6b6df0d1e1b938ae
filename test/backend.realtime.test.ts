import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DeleteCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { startBackend, TABLES, type Backend } from './helpers/backend.js';
import { CREATE_PARTNER, UPDATE_PARTNER, seedPartnerInput } from './fixtures/seed.js';

let backend: Backend;
let admin: string;
let counter = 0;

beforeAll(async () => {
  backend = await startBackend();
  admin = await backend.token('admin-1', 'admin');
});
afterAll(() => backend.close());
beforeEach(() => {
  backend.dbOps.length = 0;
  backend.managementCalls.length = 0;
});

/** A fresh connection id per test, in AWS's style. */
const newId = () => `conn${++counter}AbCdEf=`;

async function connectAndSubscribe(data: Record<string, unknown>): Promise<string> {
  const id = newId();
  expect((await backend.ws.connect(id, await backend.token(`user-${id}`))).statusCode).toBe(200);
  await backend.ws.send(id, { type: 'subscribe', data });
  expect(backend.messages(id).at(-1)).toMatchObject({ type: 'subscribed' });
  return id;
}

const rowsOf = async (connectionId: string) =>
  (
    await backend.doc.send(
      new QueryCommand({
        TableName: TABLES.connections,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `CONN#${connectionId}` },
      }),
    )
  ).Items ?? [];

const createPartner = async (override: Record<string, unknown> = {}) => {
  const result = await backend.graphql(CREATE_PARTNER, { input: { ...seedPartnerInput, ...override } }, admin);
  expect(result.body.data?.createPartner.success).toBe(true);
  return result.body.data!.createPartner.partner as { id: string };
};

const partnerUpdates = (id: string) => backend.messages(id).filter((m) => m.type === 'partner_updated');

describe('$connect', () => {
  it('refuses a missing token with 401 and an invalid one with 401, writing no record', async () => {
    const missing = newId();
    expect((await backend.ws.connect(missing)).statusCode).toBe(401);
    const invalid = newId();
    expect((await backend.ws.connect(invalid, 'not-a-jwt')).statusCode).toBe(401);
    expect(await rowsOf(missing)).toEqual([]);
    expect(await rowsOf(invalid)).toEqual([]);
  });

  it('refuses a valid token with an unknown role with 403', async () => {
    const { SignJWT } = await import('jose');
    const token = await new SignJWT({ role: 'superuser' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('x')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('test-secret-for-backend-tests'));
    const id = newId();
    expect((await backend.ws.connect(id, token)).statusCode).toBe(403);
    expect(await rowsOf(id)).toEqual([]);
  });

  it('stores the connection with its user and a TTL of connection time + 2 h + margin', async () => {
    const id = newId();
    await backend.ws.connect(id, await backend.token('alice'));
    const [meta] = await rowsOf(id);
    expect(meta).toMatchObject({ sk: 'META', connectionId: id, userId: 'alice', role: 'user' });
    const ttlFromNow = meta.ttl - Date.now() / 1000;
    expect(ttlFromNow).toBeGreaterThan(2 * 3600);
    expect(ttlFromNow).toBeLessThan(3 * 3600);
  });
});

describe('client messages', () => {
  it.each([
    ['not json', 'INVALID_JSON'],
    ['[]', 'INVALID_MESSAGE'],
    ['{"type":"dance"}', 'UNKNOWN_TYPE'],
    ['{"type":"subscribe"}', 'INVALID_MESSAGE'],
    ['{"type":"subscribe","data":{"topics":["weather"]}}', 'INVALID_MESSAGE'],
    ['{"type":"subscribe","data":{"topics":["partners"],"categories":"Restaurant"}}', 'INVALID_MESSAGE'],
    ['{"type":"subscribe","data":{"topics":["partners"],"near":{"latitude":200,"longitude":0,"radiusKm":5}}}', 'INVALID_MESSAGE'],
  ])('%s → an error message, the route succeeds and the connection stays usable', async (body, code) => {
    const id = newId();
    await backend.ws.connect(id, await backend.token('bob'));
    const result = await backend.ws.send(id, body);
    expect(result.statusCode).toBe(200);
    expect(backend.messages(id).at(-1)).toMatchObject({ type: 'error', code, message: expect.any(String) });
    await backend.ws.send(id, { type: 'ping' });
    expect(backend.messages(id).at(-1)).toMatchObject({ type: 'pong', timestamp: expect.any(String) });
    expect((await rowsOf(id)).filter((r) => r.sk !== 'META')).toEqual([]);
  });

  it('a subscribe is one Query of its connection and one BatchWriteItem; a re-subscribe replaces the topic’s rows', async () => {
    const id = newId();
    await backend.ws.connect(id, await backend.token(`user-${id}`));
    backend.dbOps.length = 0;
    await backend.ws.send(id, { type: 'subscribe', data: { topics: ['partners'], city: 'Paris', categories: ['Restaurant', 'Bar'] } });
    expect(backend.messages(id).at(-1)).toMatchObject({ type: 'subscribed' });
    const tableOf = (body: Record<string, unknown>) =>
      body.TableName ?? Object.keys((body.RequestItems as object | undefined) ?? {}).join();
    const calls = () => backend.dbOps.map((op) => `${op.operation} ${tableOf(op.body)}`);
    expect(calls()).toEqual([`Query ${TABLES.connections}`, `BatchWriteItem ${TABLES.connections}`]);

    backend.dbOps.length = 0;
    await backend.ws.send(id, { type: 'subscribe', data: { topics: ['partners'], city: 'Lyon' } });
    expect(calls()).toEqual([`Query ${TABLES.connections}`, `BatchWriteItem ${TABLES.connections}`]);
    const targets = (await rowsOf(id)).filter((r) => r.sk !== 'META').map((r) => r.target);
    expect(targets).toEqual(['partners#lyon#*']);
  });
  it.each([
    ['expired (its ttl has passed)', 'expire'],
    ['gone (no META row)', 'delete'],
  ])('a subscribe from a connection whose record is %s answers UNKNOWN_CONNECTION and writes nothing', async (_, how) => {
    const id = newId();
    await backend.ws.connect(id, await backend.token(`user-${id}`));
    const key = { pk: `CONN#${id}`, sk: 'META' };
    if (how === 'expire')
      await backend.doc.send(
        new UpdateCommand({
          TableName: TABLES.connections,
          Key: key,
          UpdateExpression: 'SET #ttl = :past',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':past': Math.floor(Date.now() / 1000) - 1 },
        }),
      );
    else await backend.doc.send(new DeleteCommand({ TableName: TABLES.connections, Key: key }));
    backend.dbOps.length = 0;
    await backend.ws.send(id, { type: 'subscribe', data: { topics: ['partners'], city: 'Paris' } });
    expect(backend.messages(id).at(-1)).toMatchObject({ type: 'error', code: 'UNKNOWN_CONNECTION' });
    expect(backend.dbOps.map((op) => op.operation)).toEqual(['Query']);
    expect((await rowsOf(id)).filter((r) => r.sk !== 'META')).toEqual([]);
  });

  it('unsubscribe removes the subscription: no more notifications', async () => {
    const id = await connectAndSubscribe({ topics: ['partners'], city: 'Paris' });
    await backend.ws.send(id, { type: 'unsubscribe', data: { topics: ['partners'] } });
    expect(backend.messages(id).at(-1)).toMatchObject({ type: 'unsubscribed', topics: ['partners'], removed: 1 });
    await createPartner();
    expect(partnerUpdates(id)).toEqual([]);
  });

  it('$disconnect deletes the connection and all its subscription rows', async () => {
    const id = await connectAndSubscribe({ topics: ['partners', 'cache_invalidation'], city: 'Paris', categories: ['Restaurant', 'Bar'] });
    expect(await rowsOf(id)).toHaveLength(4); // META + 2 categories + cache
    await backend.ws.disconnect(id);
    expect(await rowsOf(id)).toEqual([]);
  });
});

describe('targeting', () => {
  it('by topic, city and category: only matching subscribers receive partner_updated', async () => {
    const parisRestaurant = await connectAndSubscribe({ topics: ['partners'], city: 'paris', categories: ['restaurant'] });
    const parisAnything = await connectAndSubscribe({ topics: ['partner_updates'], city: 'Paris' });
    const everywhereRestaurants = await connectAndSubscribe({ topics: ['partners'], categories: ['Restaurant'] });
    const everything = await connectAndSubscribe({ topics: ['partners'] });
    const parisGyms = await connectAndSubscribe({ topics: ['partners'], city: 'Paris', categories: ['Gym'] });
    const lyon = await connectAndSubscribe({ topics: ['partners'], city: 'Lyon' });
    const cacheOnly = await connectAndSubscribe({ topics: ['cache_invalidation'], city: 'Lyon' });

    const partner = await createPartner();
    for (const id of [parisRestaurant, parisAnything, everywhereRestaurants, everything]) {
      expect(partnerUpdates(id)).toEqual([expect.objectContaining({ action: 'created', partnerId: partner.id })]);
    }
    for (const id of [parisGyms, lyon, cacheOnly]) expect(partnerUpdates(id)).toEqual([]);
    expect(backend.messages(cacheOnly).filter((m) => m.type === 'cache_invalidated')).toHaveLength(1);
  });

  it('a partner moving from Paris to Lyon notifies both cities and invalidates both city keys', async () => {
    const paris = await connectAndSubscribe({ topics: ['partners', 'cache_invalidation'], city: 'Paris' });
    const lyon = await connectAndSubscribe({ topics: ['partners'], city: 'Lyon' });
    const partner = await createPartner();
    await backend.graphql(UPDATE_PARTNER, { id: partner.id, input: { city: 'Lyon', zipCode: '69001' } }, admin);
    expect(partnerUpdates(lyon)).toEqual([
      expect.objectContaining({ action: 'updated', data: expect.objectContaining({ changes: ['city', 'zipCode'] }) }),
    ]);
    expect(partnerUpdates(paris).map((m) => m.action)).toEqual(['created', 'updated']);
    expect(
      backend
        .messages(paris)
        .filter((m) => m.type === 'cache_invalidated')
        .at(-1)!.keys,
    ).toEqual([
      `partner:${partner.id}`,
      'all_partners',
      'category:Restaurant',
      'city:Paris',
      'city:Lyon',
      'category:restaurant',
      'city:paris',
      'city:lyon',
    ]);
  });

  it('a point + radius subscription receives partners inside the circle only', async () => {
    const nearMarais = await connectAndSubscribe({ topics: ['partners'], near: { latitude: 48.8566, longitude: 2.3522, radiusKm: 2 } });
    const partnerInside = await createPartner(); // ~0.3 km away
    const partnerOutside = await createPartner({ latitude: 48.9, longitude: 2.25 }); // ~9 km away
    expect(partnerUpdates(nearMarais).map((m) => m.partnerId)).toEqual([partnerInside.id]);
    expect(partnerOutside.id).not.toBe(partnerInside.id);
  });

  it('the notifier finds subscribers with key Queries on the byTarget index — no Scan, no FilterExpression', async () => {
    await connectAndSubscribe({ topics: ['partners'], city: 'Paris' });
    backend.dbOps.length = 0;
    await createPartner();
    const connectionReads = backend.dbOps.filter((op) => op.body.TableName === TABLES.connections);
    expect(connectionReads.length).toBeGreaterThan(0);
    for (const op of connectionReads) {
      expect(op.operation).toBe('Query');
      expect(op.body).toMatchObject({ IndexName: 'byTarget', KeyConditionExpression: '#target = :target' });
      expect(op.body.FilterExpression).toBeUndefined();
    }
    // partners × partner_updates × (city|*) × (category|*) + the cache topic.
    expect(connectionReads).toHaveLength(9);
    expect(backend.dbOps.some((op) => op.operation === 'Scan')).toBe(false);
  });
});

describe('invalidation before notification', () => {
  it("the notifier bumps every key's generation before its first post and deletes the expired values before its invocation ends", async () => {
    const id = await connectAndSubscribe({ topics: ['partners', 'cache_invalidation'], city: 'Paris' });
    // A cached Paris listing: one of the values a Paris create voids.
    const listing = await backend.graphql('{ partners(city: "Paris") { items { id } } }', {}, admin);
    expect(listing.body.errors).toBeUndefined();
    const cachedUnder = async (key: string) => (await backend.cacheItemsUnder(key)).filter((item) => !String(item.sk).startsWith('#'));
    expect(await cachedUnder('city:paris')).toHaveLength(1);
    // The mutation expires the keys at its write too: only what the notifier does with the stream record is looked at.
    backend.pauseStream(true);
    try {
      await createPartner();
    } finally {
      backend.pauseStream(false);
    }
    backend.timeline.length = 0;
    backend.dbOps.length = 0;
    await backend.drainStream();
    // The timeline's DynamoDB entries are dbOps, in the same order.
    let op = 0;
    const steps = backend.timeline.map((entry) => (entry.startsWith('db ') ? { entry, request: backend.dbOps[op++] } : { entry }));
    const firstPost = steps.findIndex((step) => step.entry === `post ${id}`);
    expect(firstPost).toBeGreaterThan(0);
    const bumps = steps.flatMap((step, i) =>
      step.request?.operation === 'UpdateItem' && step.request.body.TableName === TABLES.cache
        ? [{ i, key: (step.request.body.Key as { pk: { S: string } }).pk.S }]
        : [],
    );
    const invalidated = backend.messages(id).find((m) => m.type === 'cache_invalidated') as { keys: string[] } | undefined;
    expect(invalidated?.keys).toContain('city:paris');
    expect(bumps.map((bump) => bump.key).sort()).toEqual([...invalidated!.keys].sort());
    expect(Math.max(...bumps.map((bump) => bump.i))).toBeLessThan(firstPost);
    // The clean-up ran within the invocation: the voided listing is gone.
    expect(await cachedUnder('city:paris')).toEqual([]);
  });
});

describe('delivery failures', () => {
  it('a 410 deletes the connection record and is never retried; the mutation still succeeds', async () => {
    const id = await connectAndSubscribe({ topics: ['partners'], city: 'Paris' });
    backend.ws.die(id); // socket gone, $disconnect never ran: the record is still there
    expect((await rowsOf(id)).length).toBeGreaterThan(0);
    backend.managementCalls.length = 0;
    await createPartner();
    expect(backend.managementCalls.filter((c) => c.connectionId === id)).toEqual([{ connectionId: id, status: 410 }]);
    expect(await rowsOf(id)).toEqual([]);
  });

  it('429 and 500 are retried with backoff and then delivered', async () => {
    const throttled = await connectAndSubscribe({ topics: ['partners'], city: 'Paris' });
    const failing = await connectAndSubscribe({ topics: ['partners'], city: 'Paris' });
    backend.managementCalls.length = 0; // forget the subscribe acknowledgements
    backend.failNextPosts(throttled, 429, 1);
    backend.failNextPosts(failing, 500, 2);
    const partner = await createPartner();
    expect(backend.managementCalls.filter((c) => c.connectionId === throttled).map((c) => c.status)).toEqual([429, 200]);
    expect(backend.managementCalls.filter((c) => c.connectionId === failing).map((c) => c.status)).toEqual([500, 500, 200]);
    expect(partnerUpdates(throttled)).toEqual([expect.objectContaining({ partnerId: partner.id })]);
    expect(partnerUpdates(failing)).toEqual([expect.objectContaining({ partnerId: partner.id })]);
  });

  it('a connection failing every attempt is given up on, kept (not gone), and the mutation still commits', async () => {
    const id = await connectAndSubscribe({ topics: ['partners'], city: 'Paris' });
    backend.managementCalls.length = 0;
    backend.failNextPosts(id, 500, 10);
    const partner = await createPartner();
    expect(backend.managementCalls.filter((c) => c.connectionId === id).map((c) => c.status)).toEqual([500, 500, 500]);
    expect((await rowsOf(id)).length).toBeGreaterThan(0);
    expect(partner.id).toBeTruthy();
  });

  it('a 403 is not retried', async () => {
    const id = await connectAndSubscribe({ topics: ['partners'], city: 'Paris' });
    backend.managementCalls.length = 0;
    backend.failNextPosts(id, 403, 5);
    await createPartner();
    expect(backend.managementCalls.filter((c) => c.connectionId === id).map((c) => c.status)).toEqual([403]);
  });
});
