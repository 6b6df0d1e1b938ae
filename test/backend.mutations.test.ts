import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { startBackend, TABLES, type Backend } from './helpers/backend.js';
import { CREATE_PARTNER, DELETE_PARTNER, UPDATE_PARTNER, seedPartnerInput, seedPartnerUpdate } from './fixtures/seed.js';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
let backend: Backend;
let admin: string;
let user: string;

beforeAll(async () => {
  backend = await startBackend();
  admin = await backend.token('admin-1', 'admin');
  user = await backend.token('user-1', 'user');
});
afterAll(() => backend.close());

const partnerRow = async (id: string) => (await backend.doc.send(new GetCommand({ TableName: TABLES.partners, Key: { id } }))).Item;
const partnerCount = async () => (await backend.doc.send(new ScanCommand({ TableName: TABLES.partners, Select: 'COUNT' }))).Count;

describe("the seed's three mutations against dynalite, with notifications", () => {
  it('create → update → delete writes DynamoDB and notifies a Paris restaurant subscriber with the seed shapes; a Lyon subscriber gets no partner_updated', async () => {
    expect((await backend.ws.connect('paris=', await backend.token('member-paris'))).statusCode).toBe(200);
    expect((await backend.ws.connect('lyon=', await backend.token('member-lyon'))).statusCode).toBe(200);
    await backend.ws.send('paris=', {
      type: 'subscribe',
      data: { topics: ['partners', 'cache_invalidation'], city: 'Paris', categories: ['Restaurant'] },
    });
    await backend.ws.send('lyon=', { type: 'subscribe', data: { topics: ['partners', 'cache_invalidation'], city: 'Lyon' } });
    expect(backend.messages('paris=')[0]).toMatchObject({
      type: 'subscribed',
      topics: ['partners', 'cache_invalidation'],
      city: 'Paris',
      categories: ['Restaurant'],
    });

    const created = await backend.graphql(CREATE_PARTNER, { input: seedPartnerInput }, admin);
    expect(created.body.errors).toBeUndefined();
    const response = created.body.data!.createPartner;
    expect(response).toMatchObject({ success: true, partner: { name: seedPartnerInput.name, city: 'Paris', discount: 15, version: 1 } });
    const id: string = response.partner.id;
    expect(await partnerRow(id)).toMatchObject({
      id,
      name: seedPartnerInput.name,
      zipCode: '75004',
      cityKey: 'paris',
      categoryKey: 'restaurant',
    });

    const updated = await backend.graphql(UPDATE_PARTNER, { id, input: seedPartnerUpdate }, admin);
    expect(updated.body.data!.updatePartner).toMatchObject({
      success: true,
      partner: { discount: 20, phone: '+33 1 42 72 13 78', version: 2 },
    });
    expect(await partnerRow(id)).toMatchObject({ discount: 20, version: 2 });

    const deleted = await backend.graphql(DELETE_PARTNER, { id }, admin);
    expect(deleted.body.data!.deletePartner).toMatchObject({ success: true, partner: { id } });
    expect(await partnerRow(id)).toBeUndefined();

    // The seed's shapes exactly, plus the stream record's eventId (an added field: clients drop duplicates by it).
    const eventIds = backend.streamRecords().map((r) => r.eventID);
    const paris = backend.messages('paris=').filter((m) => m.type === 'partner_updated');
    expect(paris).toEqual([
      {
        type: 'partner_updated',
        action: 'created',
        partnerId: id,
        data: { id, name: seedPartnerInput.name, category: 'Restaurant', city: 'Paris', discount: 15 },
        timestamp: expect.stringMatching(ISO),
        eventId: eventIds.at(-3),
      },
      {
        type: 'partner_updated',
        action: 'updated',
        partnerId: id,
        data: { id, changes: ['phone', 'discount'], updatedAt: expect.stringMatching(ISO) },
        timestamp: expect.stringMatching(ISO),
        eventId: eventIds.at(-2),
      },
      { type: 'partner_updated', action: 'deleted', partnerId: id, timestamp: expect.stringMatching(ISO), eventId: eventIds.at(-1) },
    ]);
    // The seed's keys as it writes them (category as stored: category:Restaurant), then the listings' spellings.
    const keys = [`partner:${id}`, 'all_partners', 'category:Restaurant', 'city:Paris', 'category:restaurant', 'city:paris'];
    const invalidations = backend.messages('paris=').filter((m) => m.type === 'cache_invalidated');
    expect(invalidations).toEqual(
      [-3, -2, -1].map((i) => ({ type: 'cache_invalidated', keys, timestamp: expect.stringMatching(ISO), eventId: eventIds.at(i) })),
    );

    // Lyon subscribed to cache_invalidation too: it gets those, never a Paris partner_updated.
    expect(backend.messages('lyon=').filter((m) => m.type === 'partner_updated')).toEqual([]);
    expect(backend.messages('lyon=').filter((m) => m.type === 'cache_invalidated')).toHaveLength(3);
  });

  it('updating or deleting an unknown id answers success: false with a clear message and writes nothing', async () => {
    const before = await partnerCount();
    const update = await backend.graphql(UPDATE_PARTNER, { id: 'no-such-partner', input: { discount: 5 } }, admin);
    expect(update.body.data!.updatePartner).toEqual({
      success: false,
      message: 'Partner no-such-partner not found',
      errors: null,
      partner: null,
    });
    const del = await backend.graphql(DELETE_PARTNER, { id: 'no-such-partner' }, admin);
    expect(del.body.data!.deletePartner).toEqual({ success: false, message: 'Partner no-such-partner not found', partner: null });
    expect(await partnerCount()).toBe(before);
  });
});

describe('withAuth: nothing is written without an admin token', () => {
  it.each([
    ['no token', undefined, 'UNAUTHENTICATED'],
    ['a token signed with another secret', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4Iiwicm9sZSI6ImFkbWluIn0.c2lnbmF0dXJl', 'UNAUTHENTICATED'],
  ])('%s → UNAUTHENTICATED', async (_label, token, code) => {
    const before = await partnerCount();
    const result = await backend.graphql(CREATE_PARTNER, { input: seedPartnerInput }, token);
    expect(result.body.errors?.[0].extensions?.code).toBe(code);
    expect(result.body.data).toBeNull();
    expect(await partnerCount()).toBe(before);
  });

  it('an expired token → UNAUTHENTICATED mentioning expiry', async () => {
    const { signDevelopmentToken } = await import('../src/auth/tokens.js');
    const expired = await signDevelopmentToken(
      { sub: 'a', role: 'admin' },
      'test-secret-for-backend-tests',
      Math.floor(Date.now() / 1000) - 60,
    );
    const result = await backend.graphql(CREATE_PARTNER, { input: seedPartnerInput }, expired);
    expect(result.body.errors?.[0]).toMatchObject({ message: 'The token has expired', extensions: { code: 'UNAUTHENTICATED' } });
  });

  it('a user (non-admin) token → FORBIDDEN on every mutation, and queries still need a token', async () => {
    const before = await partnerCount();
    const create = await backend.graphql(CREATE_PARTNER, { input: seedPartnerInput }, user);
    expect(create.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    const del = await backend.graphql(DELETE_PARTNER, { id: 'x' }, user);
    expect(del.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    expect(await partnerCount()).toBe(before);
    const anonymousQuery = await backend.graphql('{ partners { items { id } } }');
    expect(anonymousQuery.body.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    const userQuery = await backend.graphql('{ partners { items { id } } }', {}, user);
    expect(userQuery.body.errors).toBeUndefined();
  });
});

describe('validation: invalid input is refused field by field and writes nothing', () => {
  it.each([
    ['discount above 100', { discount: 101 }, 'discount'],
    ['negative discount', { discount: -1 }, 'discount'],
    ['latitude out of range', { latitude: 91 }, 'latitude'],
    ['longitude out of range', { longitude: -181 }, 'longitude'],
    ['blank name', { name: '   ' }, 'name'],
    ['blank city', { city: '' }, 'city'],
    ['blank category', { category: ' ' }, 'category'],
    ['overlong name', { name: 'x'.repeat(121) }, 'name'],
    ['non-French zip code', { zipCode: '1234' }, 'zipCode'],
    ['bad phone', { phone: '12345' }, 'phone'],
  ])('%s', async (_label, override, field) => {
    const before = await partnerCount();
    const result = await backend.graphql(CREATE_PARTNER, { input: { ...seedPartnerInput, ...override } }, admin);
    const response = result.body.data!.createPartner;
    expect(response.success).toBe(false);
    expect(response.partner).toBeNull();
    expect(response.errors.map((e: { field: string }) => e.field)).toContain(field);
    expect(response.message).toMatch(/^Invalid input: /);
    expect(await partnerCount()).toBe(before);
  });

  it.each(['01 42 72 13 77', '0142721377', '+33 1 42 72 13 77', '+33142721377', '01.42.72.13.77', '06-12-34-56-78'])(
    'accepts the French phone format %s',
    async (phone) => {
      const result = await backend.graphql(CREATE_PARTNER, { input: { ...seedPartnerInput, phone } }, admin);
      expect(result.body.data!.createPartner.success).toBe(true);
    },
  );

  it('an invalid update writes nothing and keeps the version', async () => {
    const { body } = await backend.graphql(CREATE_PARTNER, { input: seedPartnerInput }, admin);
    const id = body.data!.createPartner.partner.id;
    const result = await backend.graphql(UPDATE_PARTNER, { id, input: { discount: 150 } }, admin);
    expect(result.body.data!.updatePartner).toMatchObject({
      success: false,
      errors: [{ field: 'discount', message: 'must be between 0 and 100' }],
    });
    expect(await partnerRow(id)).toMatchObject({ discount: 15, version: 1 });
  });
});

describe('optimistic concurrency', () => {
  it('two concurrent updates of different fields both land (the loser re-reads and re-applies)', async () => {
    const { body } = await backend.graphql(CREATE_PARTNER, { input: seedPartnerInput }, admin);
    const id = body.data!.createPartner.partner.id;
    const [a, b] = await Promise.all([
      backend.graphql(UPDATE_PARTNER, { id, input: { discount: 30 } }, admin),
      backend.graphql(UPDATE_PARTNER, { id, input: { name: 'Le Comptoir' } }, admin),
    ]);
    expect(a.body.data!.updatePartner.success).toBe(true);
    expect(b.body.data!.updatePartner.success).toBe(true);
    expect(await partnerRow(id)).toMatchObject({ discount: 30, name: 'Le Comptoir', version: 3 });
  });

  it('an update with a stale expectedVersion is a clear conflict and writes nothing', async () => {
    const { body } = await backend.graphql(CREATE_PARTNER, { input: seedPartnerInput }, admin);
    const id = body.data!.createPartner.partner.id;
    await backend.graphql(UPDATE_PARTNER, { id, input: { discount: 40 } }, admin);
    const stale = await backend.graphql(UPDATE_PARTNER, { id, input: { discount: 50, expectedVersion: 1 } }, admin);
    expect(stale.body.data!.updatePartner).toMatchObject({ success: false, message: expect.stringContaining('is at version 2, not 1') });
    expect(await partnerRow(id)).toMatchObject({ discount: 40, version: 2 });
  });
});
