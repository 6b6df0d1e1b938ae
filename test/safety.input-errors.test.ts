/**
 * Production safety, input and errors, against the real handlers on dynalite: explicit nulls, blank required fields on
 * update, oversize strings and out-of-range numbers are refused by field with nothing written; a bad item already stored
 * never fails a listing (repaired or skipped, and logged); client-caused errors carry a stable code and no internals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import { startBackend, TABLES, type Backend } from './helpers/backend.js';
import { CREATE_PARTNER, UPDATE_PARTNER, seedPartnerInput } from './fixtures/seed.js';
import { createPartnerRepository } from '../src/partners/repository.js';
import { createApolloServer } from '../src/graphql/server.js';
import { readConfig } from '../src/config/env.js';
import type { PartnerService } from '../src/partners/service.js';

let backend: Backend;
let admin: string;
let user: string;

beforeAll(async () => {
  backend = await startBackend();
  admin = await backend.token('admin-1', 'admin');
  user = await backend.token('user-1');
});
afterAll(() => backend.close());

const partnerCount = async () => (await backend.doc.send(new ScanCommand({ TableName: TABLES.partners, Select: 'COUNT' }))).Count;
const row = async (id: string) => (await backend.doc.send(new GetCommand({ TableName: TABLES.partners, Key: { id } }))).Item;
const create = async (override: Record<string, unknown>) =>
  (await backend.graphql(CREATE_PARTNER, { input: { ...seedPartnerInput, ...override } }, admin)).body;

describe('bad input is refused by field and writes nothing', () => {
  it('createPartner with active: null', async () => {
    const before = await partnerCount();
    const body = await create({ active: null });
    expect(body.errors).toBeUndefined();
    expect(body.data!.createPartner).toMatchObject({
      success: false,
      partner: null,
      errors: [{ field: 'active', message: 'cannot be null' }],
    });
    expect(await partnerCount()).toBe(before);
  });

  it('createPartner with description/email/website: null stores no null', async () => {
    const body = await create({ name: 'Nulls Optional', description: null, email: null, website: null });
    const id = body.data!.createPartner.partner.id as string;
    const stored = await row(id);
    expect(stored).not.toHaveProperty('description');
    expect(stored).not.toHaveProperty('email');
    expect(stored).not.toHaveProperty('website');
  });

  it.each([
    ['city', ' '],
    ['name', '\t\n'],
    ['category', ''],
    ['address', '   '],
  ])('updatePartner with a blank %s', async (field, value) => {
    const id = (await create({ name: `Blank ${field}` })).data!.createPartner.partner.id as string;
    const stored = await row(id);
    const result = await backend.graphql(UPDATE_PARTNER, { id, input: { [field]: value } }, admin);
    expect(result.body.data!.updatePartner).toMatchObject({
      success: false,
      partner: null,
      errors: [{ field, message: 'must not be empty' }],
    });
    expect(await row(id)).toEqual(stored);
  });

  it.each([
    ['name', 'n'.repeat(121), 'must be at most 120 characters'],
    ['description', 'd'.repeat(2001), 'must be at most 2000 characters'],
    ['website', `https://example.com/${'w'.repeat(3000)}`, 'must be at most 2048 characters'],
    ['email', `${'e'.repeat(300)}@example.com`, 'must be at most 254 characters'],
    ['phone', '0'.repeat(100_000), 'must be at most 64 characters'],
    ['discount', 100.5, 'must be between 0 and 100'],
    ['discount', -1, 'must be between 0 and 100'],
    ['latitude', 90.0001, 'must be between -90 and 90'],
    ['longitude', -180.5, 'must be between -180 and 180'],
  ])('%s = oversize or out of range, on create and on update', async (field, value, message) => {
    const before = await partnerCount();
    const created = await create({ [field]: value });
    expect(created.data!.createPartner).toMatchObject({ success: false, errors: [{ field, message }] });
    expect(await partnerCount()).toBe(before);

    const id = (await create({ name: `Range ${field}` })).data!.createPartner.partner.id as string;
    const stored = await row(id);
    const updated = await backend.graphql(UPDATE_PARTNER, { id, input: { [field]: value } }, admin);
    expect(updated.body.data!.updatePartner).toMatchObject({ success: false, errors: [{ field, message }] });
    expect(await row(id)).toEqual(stored);
  });
});

describe('numbers DynamoDB cannot hold (found by the fuzz suite)', () => {
  it('a Float under 1e-130 (e.g. 5e-324) is stored as 0 instead of failing the write with "Number underflow"', async () => {
    const body = await create({ name: 'Tiny Numbers', discount: 5e-324, latitude: -1e-200, longitude: 2.5e-131 });
    expect(body.errors).toBeUndefined();
    const partner = body.data!.createPartner.partner as { id: string; discount: number; latitude: number; longitude: number };
    expect(partner).toMatchObject({ discount: 0, latitude: 0, longitude: 0 });
    expect(await row(partner.id)).toMatchObject({ discount: 0, latitude: 0, longitude: 0 });
    const subscribed = 'tiny=';
    expect((await backend.ws.connect(subscribed, user)).statusCode).toBe(200);
    await backend.ws.send(subscribed, {
      type: 'subscribe',
      data: { topics: ['partners'], near: { latitude: 5e-324, longitude: 0, radiusKm: 1 } },
    });
    expect(backend.messages(subscribed).at(-1)).toMatchObject({ type: 'subscribed' });
  });
});

describe('a bad item already stored never fails a listing', () => {
  const LIST = `query ($city: String) { partners(city: $city, limit: 50) { items { id name active description } nextToken } }`;

  it('an active: null item is served repaired, an item missing its name is skipped, the rest is listed; both are logged', async () => {
    const good = (await create({ name: 'Good One', city: 'Corruptville' })).data!.createPartner.partner.id as string;
    const base = (await row(good))!;
    await backend.doc.send(
      new PutCommand({
        TableName: TABLES.partners,
        Item: { ...base, id: 'null-active', name: 'Null Active', active: null, description: null },
      }),
    );
    const { name: _drop, ...nameless } = base;
    await backend.doc.send(new PutCommand({ TableName: TABLES.partners, Item: { ...nameless, id: 'nameless' } }));

    const result = await backend.graphql(LIST, { city: 'Corruptville' }, user);
    expect(result.body.errors).toBeUndefined();
    const items = result.body.data!.partners.items as Array<{ id: string; active: boolean }>;
    expect(items.map((i) => i.id).sort()).toEqual([good, 'null-active'].sort());
    expect(items.find((i) => i.id === 'null-active')).toMatchObject({ active: true, description: null });

    const logged: Array<[string, string, Record<string, unknown>]> = [];
    const logger = {
      warn: (message: string, data: Record<string, unknown>) => logged.push(['warn', message, data]),
      error: (message: string, data: Record<string, unknown>) => logged.push(['error', message, data]),
    } as unknown as Logger;
    const repository = createPartnerRepository(backend.doc, TABLES.partners, { logger });
    await repository.list({ city: 'Corruptville', limit: 50 });
    expect(logged).toContainEqual([
      'warn',
      'stored partner repaired on read',
      { id: 'null-active', repairs: ['active null → true', 'description null → absent'] },
    ]);
    expect(logged).toContainEqual(['error', 'stored partner unreadable, skipped', { id: 'nameless', problem: 'name is null' }]);
  });
});

describe('errors a client can cause have a stable code and give nothing away', () => {
  const LIST = `query ($city: String, $category: String, $next: String) { partners(city: $city, category: $category, limit: 1, nextToken: $next) { items { id } nextToken } }`;
  const token = (key: unknown) => Buffer.from(JSON.stringify(key)).toString('base64url');

  it.each([
    ['a key of another schema', { city: 'Paris' }, { foo: 'bar' }],
    ['a table key on an index listing', { city: 'Paris' }, { id: 'x' }],
    ['an index key of another city', { city: 'Paris' }, { id: 'x', cityKey: 'lyon', categoryKey: 'restaurant' }],
    ['a non-string key value', {}, { id: { S: 'x' } }],
    ['an empty key value', {}, { id: '' }],
    ['a category key on the full scan', {}, { id: 'x', categoryKey: 'bar', cityKey: 'paris' }],
    ['not JSON', {}, undefined],
  ])('a nextToken that is %s → BAD_USER_INPUT, no stack trace', async (_label, args, key) => {
    const next = key === undefined ? 'bm90IGpzb24' : token(key);
    const result = await backend.graphql(LIST, { ...args, next }, user);
    expect(result.statusCode).toBeLessThan(500);
    expect(result.body.errors).toHaveLength(1);
    expect(result.body.errors![0]).toMatchObject({
      message: 'nextToken is not a token this API returned for this listing',
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(result.body.errors![0].extensions).not.toHaveProperty('stacktrace');
  });

  it('a nextToken this API returned still pages through', async () => {
    for (const name of ['Page A', 'Page B']) await create({ name, city: 'Pagetown' });
    const first = await backend.graphql(LIST, { city: 'Pagetown' }, user);
    const second = await backend.graphql(LIST, { city: 'Pagetown', next: first.body.data!.partners.nextToken }, user);
    expect(second.body.errors).toBeUndefined();
    expect(second.body.data!.partners.items).toHaveLength(1);
    expect(second.body.data!.partners.items[0].id).not.toBe(first.body.data!.partners.items[0].id);
  });

  it.each([
    ['partner(id: "")', `{ partner(id: "") { id } }`],
    ['a 10 kB id', `{ partner(id: "${'x'.repeat(10_000)}") { id } }`],
    ['a 10 kB city', `{ partners(city: "${'x'.repeat(10_000)}") { items { id } } }`],
  ])('%s → BAD_USER_INPUT', async (_label, query) => {
    const result = await backend.graphql(query, {}, user);
    expect(result.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('update/delete of an empty id answers a field error', async () => {
    const result = await backend.graphql(UPDATE_PARTNER, { id: '', input: { discount: 5 } }, admin);
    expect(result.body.data!.updatePartner).toMatchObject({ success: false, errors: [{ field: 'id', message: 'must not be empty' }] });
  });

  it('introspection is refused outside the emulator, without or with a token', async () => {
    const result = await backend.graphql('{ __schema { types { name } } }', {}, user);
    expect(result.body.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(result.body.data).toBeUndefined();
  });
});

describe('internal errors: details only in the emulator', () => {
  const failing = {
    getPartner: async () => {
      throw new Error('ENOENT: /var/task/src/partners/repository.ts table perkup-prod-partners');
    },
  } as unknown as PartnerService;
  const silent = { error: () => undefined };

  it('outside the emulator an internal error is a bare "Internal server error" with no stack trace or path', async () => {
    const server = createApolloServer(failing, {
      ...readConfig({ PARTNERS_TABLE: 'a', WEBSOCKET_CONNECTIONS_TABLE: 'b', CACHE_TABLE: 'c', JWT_SECRET: 's' }).graphql,
      logger: silent,
    });
    const response = await server.executeOperation(
      { query: '{ partner(id: "x") { id } }' },
      { contextValue: { principal: { userId: 'u', role: 'user' }, authError: undefined } },
    );
    const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
    expect(errors).toEqual([{ message: 'Internal server error', path: ['partner'], extensions: { code: 'INTERNAL_SERVER_ERROR' } }]);
    expect(JSON.stringify(errors)).not.toContain('/var/task');
  });

  it('in the emulator (IS_OFFLINE) the message and stack trace are shown, and introspection is on', async () => {
    const cfg = readConfig({
      PARTNERS_TABLE: 'a',
      WEBSOCKET_CONNECTIONS_TABLE: 'b',
      CACHE_TABLE: 'c',
      JWT_SECRET: 's',
      IS_OFFLINE: 'true',
    }).graphql;
    expect(cfg).toEqual({ debug: true, introspection: true });
    const server = createApolloServer(failing, { ...cfg, logger: silent });
    const response = await server.executeOperation(
      { query: '{ partner(id: "x") { id } }' },
      { contextValue: { principal: { userId: 'u', role: 'user' }, authError: undefined } },
    );
    const error = response.body.kind === 'single' ? response.body.singleResult.errors?.[0] : undefined;
    expect(error?.message).toContain('/var/task');
    expect(error?.extensions?.stacktrace).toBeDefined();
  });

  it('schema suggestions ("Did you mean …?") are hidden when introspection is off', async () => {
    const server = createApolloServer(failing, { debug: false, introspection: false, logger: silent });
    const response = await server.executeOperation(
      { query: '{ partnr(id: "x") { id } }' },
      { contextValue: { principal: undefined, authError: undefined } },
    );
    const error = response.body.kind === 'single' ? response.body.singleResult.errors?.[0] : undefined;
    expect(error?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(error?.message).not.toContain('Did you mean');
  });
});
