import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { startBackend, TABLES, type Backend } from './helpers/backend.js';
import { CREATE_PARTNER, UPDATE_PARTNER, seedPartnerInput } from './fixtures/seed.js';

let backend: Backend;
let admin: string;
let user: string;

beforeAll(async () => {
  backend = await startBackend();
  admin = await backend.token('admin-1', 'admin');
  user = await backend.token('user-1');
});
afterAll(() => backend.close());

const create = async (override: Record<string, unknown>) =>
  (await backend.graphql(CREATE_PARTNER, { input: { ...seedPartnerInput, ...override } }, admin)).body.data!.createPartner.partner as {
    id: string;
  };

describe('partner(id) through the cache', () => {
  it('a read fills partner:<id>; a mutation invalidates it and the next read reloads from the table', async () => {
    const { id } = await create({ name: 'Cached Café' });
    const query = `query ($id: ID!) { partner(id: $id) { id name discount } }`;
    expect((await backend.graphql(query, { id }, user)).body.data!.partner).toEqual({ id, name: 'Cached Café', discount: 15 });
    const cached = await backend.doc.send(new GetCommand({ TableName: TABLES.cache, Key: { pk: `partner:${id}`, sk: 'item' } }));
    expect(cached.Item).toBeDefined();

    // A write behind the API's back is invisible while the cache entry lives: the read is served from the cache.
    await backend.doc.send(
      new UpdateCommand({
        TableName: TABLES.partners,
        Key: { id },
        UpdateExpression: 'SET #n = :n',
        ExpressionAttributeNames: { '#n': 'name' },
        ExpressionAttributeValues: { ':n': 'Sneaky' },
      }),
    );
    expect((await backend.graphql(query, { id }, user)).body.data!.partner.name).toBe('Cached Café');

    await backend.graphql(UPDATE_PARTNER, { id, input: { discount: 25 } }, admin);
    expect(
      (await backend.doc.send(new GetCommand({ TableName: TABLES.cache, Key: { pk: `partner:${id}`, sk: 'item' } }))).Item,
    ).toBeUndefined();
    expect((await backend.graphql(query, { id }, user)).body.data!.partner).toEqual({ id, name: 'Sneaky', discount: 25 });
  });

  it('an expired cache item is ignored even though DynamoDB has not deleted it yet', async () => {
    const { id } = await create({ name: 'Expiring' });
    const query = `query ($id: ID!) { partner(id: $id) { name } }`;
    await backend.graphql(query, { id }, user);
    await backend.doc.send(
      new UpdateCommand({
        TableName: TABLES.cache,
        Key: { pk: `partner:${id}`, sk: 'item' },
        UpdateExpression: 'SET #v = :v, #t = :t',
        ExpressionAttributeNames: { '#v': 'value', '#t': 'ttl' },
        ExpressionAttributeValues: { ':v': JSON.stringify({ name: 'stale' }), ':t': 1 },
      }),
    );
    expect((await backend.graphql(query, { id }, user)).body.data!.partner.name).toBe('Expiring');
  });
});

describe('partners(city, category, limit, nextToken)', () => {
  it('filters by city and category through indexes and paginates', async () => {
    for (const name of ['Bordeaux A', 'Bordeaux B', 'Bordeaux C'])
      await create({ name, city: 'Bordeaux', zipCode: '33000', category: 'Bar' });
    await create({ name: 'Bordeaux Gym', city: 'Bordeaux', zipCode: '33000', category: 'Gym' });
    const query = `query ($city: String, $category: String, $limit: Int, $next: String) { partners(city: $city, category: $category, limit: $limit, nextToken: $next) { items { name city category } nextToken } }`;
    backend.dbOps.length = 0;
    const first = (await backend.graphql(query, { city: 'bordeaux', category: 'BAR', limit: 2 }, user)).body.data!.partners;
    expect(first.items).toHaveLength(2);
    expect(first.nextToken).toEqual(expect.any(String));
    expect(backend.dbOps.find((op) => op.body.TableName === TABLES.partners)).toMatchObject({
      operation: 'Query',
      body: { IndexName: 'byCity' },
    });
    const second = (await backend.graphql(query, { city: 'bordeaux', category: 'BAR', limit: 2, next: first.nextToken }, user)).body.data!
      .partners;
    const names = [...first.items, ...second.items].map((p: { name: string }) => p.name).sort();
    expect(names).toEqual(['Bordeaux A', 'Bordeaux B', 'Bordeaux C']);
    expect(second.nextToken).toBeNull();
  });

  it('a listing is cached under its city key and refreshed after a mutation in that city', async () => {
    const query = `{ partners(city: "Nantes") { items { name } } }`;
    expect((await backend.graphql(query, {}, user)).body.data!.partners.items).toEqual([]);
    await create({ name: 'Nantes One', city: 'Nantes', zipCode: '44000' });
    expect((await backend.graphql(query, {}, user)).body.data!.partners.items).toEqual([{ name: 'Nantes One' }]);
  });

  it('a nextToken the API never issued → BAD_USER_INPUT', async () => {
    const result = await backend.graphql(`{ partners(nextToken: "garbage!") { items { id } } }`, {}, user);
    expect(result.body.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
  });
});

describe('partnersNear', () => {
  it('returns partners within the radius, nearest first, from Queries on the geohash index (no Scan)', async () => {
    await create({ name: 'Near Louvre', latitude: 48.8606, longitude: 2.3376 }); // ~1.3 km from Hôtel de Ville
    await create({ name: 'Near Bastille', latitude: 48.8532, longitude: 2.3692 }); // ~1.3 km
    await create({ name: 'Versailles', latitude: 48.8049, longitude: 2.1204, city: 'Versailles', zipCode: '78000' }); // ~17 km
    backend.dbOps.length = 0;
    const result = await backend.graphql(
      `{ partnersNear(latitude: 48.8566, longitude: 2.3522, radiusKm: 3) { partner { name } distanceKm } }`,
      {},
      user,
    );
    const near = result.body.data!.partnersNear as Array<{ partner: { name: string }; distanceKm: number }>;
    const names = near.map((n) => n.partner.name);
    expect(names).toContain('Near Louvre');
    expect(names).toContain('Near Bastille');
    expect(names).not.toContain('Versailles');
    expect(near.map((n) => n.distanceKm)).toEqual([...near.map((n) => n.distanceKm)].sort((a, b) => a - b));
    const reads = backend.dbOps.filter((op) => op.body.TableName === TABLES.partners);
    expect(reads.length).toBeGreaterThan(0);
    for (const op of reads) expect(op).toMatchObject({ operation: 'Query', body: { IndexName: 'byGeohash' } });
  });

  it('refuses a radius over 100 km', async () => {
    const result = await backend.graphql(`{ partnersNear(latitude: 48.8, longitude: 2.3, radiusKm: 500) { distanceKm } }`, {}, user);
    expect(result.body.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
  });
});
