/**
 * Production safety, cache and AWS clients, on dynalite: the generation guard against a stale store after an
 * invalidation (the exact interleaving) and its two phases (expire, then purge; the notifier's purge failing), cache
 * failures served uncached and logged, a bounded number of variants per key, values over DynamoDB's item limit not
 * cached, partnersNear bounded in items read, BatchWrite backoff, and the management client's connect timeout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchWriteCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import { startBackend, TABLES, type Backend } from './helpers/backend.js';
import { seedPartnerInput } from './fixtures/seed.js';
import { createCacheStore } from '../src/cache/cacheStore.js';
import { batchWriteAll } from '../src/aws/dynamoPages.js';
import { managementClient, managementEndpoint } from '../src/aws/clients.js';
import { createPartnerRepository, TooManyItemsError } from '../src/partners/repository.js';
import { encodeGeohash } from '../src/partners/geohash.js';
import { readConfig } from '../src/config/env.js';
import { createApp } from '../src/app.js';
import { createNotifier } from '../src/realtime/notifier.js';

let backend: Backend;
let user: string;
beforeAll(async () => {
  backend = await startBackend();
  user = await backend.token('cache-user');
});
afterAll(() => backend.close());

function recordingLogger() {
  const lines: Array<{ level: string; message: string; data: Record<string, unknown> }> = [];
  const record = (level: string) => (message: string, data: Record<string, unknown>) => void lines.push({ level, message, data });
  const logger = { info: record('info'), warn: record('warn'), error: record('error') } as unknown as Logger;
  return { lines, logger };
}

const variantsUnder = async (key: string) => (await backend.cacheItemsUnder(key)).filter((item) => !String(item.sk).startsWith('#'));

/** A promise and the function that settles it: lets a test hold a load open while something else happens. */
function gate<T>() {
  let open!: (value: T) => void;
  const opened = new Promise<T>((resolve) => (open = resolve));
  return { open, opened };
}

describe('generation guard', () => {
  it('reader misses and loads, writer writes and invalidates, reader stores: the old value is neither kept nor served', async () => {
    const cache = createCacheStore(backend.doc, TABLES.cache, 300);
    const key = 'city:interleave';
    let table = 'old';
    const loading = gate<void>();
    const released = gate<void>();
    // Reader: misses, starts loading (reads "old" from the table), then waits.
    const reader = cache.readThrough(key, 'v', async () => {
      const value = table;
      loading.open();
      await released.opened;
      return value;
    });
    await loading.opened;
    // Writer: writes the table and invalidates while the reader holds its old value.
    table = 'new';
    await cache.invalidate([key]);
    // Reader: stores what it loaded.
    released.open();
    expect(await reader).toBe('old'); // it answers what it read; it must not cache it
    expect(await variantsUnder(key)).toEqual([]);
    expect(await cache.readThrough(key, 'v', async () => table)).toBe('new');
    expect(await cache.readThrough(key, 'v', async () => 'never loaded: served from the cache')).toBe('new');
  });

  it('a value stored under an older generation is never served, even if its clean-up failed', async () => {
    const cache = createCacheStore(backend.doc, TABLES.cache, 300);
    const key = 'city:leftover';
    expect(await cache.readThrough(key, 'v', async () => 'v1')).toBe('v1');
    await cache.invalidate([key]);
    // The put a clean-up missed: a live item of generation 0 while the key is at 1.
    await backend.doc.send(
      new PutCommand({
        TableName: TABLES.cache,
        Item: { pk: key, sk: 'v', value: JSON.stringify('stale'), gen: 0, ttl: Math.floor(Date.now() / 1000) + 300 },
      }),
    );
    expect(await cache.readThrough(key, 'v', async () => 'fresh')).toBe('fresh');
  });

  it('expire alone voids the old values at once; purge then deletes them and keeps a value stored since', async () => {
    const cache = createCacheStore(backend.doc, TABLES.cache, 300, { maxVariantsPerKey: 3 });
    const key = 'city:two-phase';
    expect(await cache.readThrough(key, 'a', async () => 'a1')).toBe('a1');
    expect(await cache.readThrough(key, 'b', async () => 'b1')).toBe('b1');
    const generations = await cache.expire([key, key]);
    expect(generations).toEqual(new Map([[key, 1]]));
    // Both old values are still there, and neither is served: a reader loads, and its value (generation 1) is stored.
    expect((await variantsUnder(key)).map((item) => item.sk).sort()).toEqual(['a', 'b']);
    expect(await cache.readThrough(key, 'a', async () => 'a2')).toBe('a2');
    expect(await cache.purge(generations)).toBe(1);
    expect((await variantsUnder(key)).map((item) => [item.sk, item.gen])).toEqual([['a', 1]]);
    expect(await cache.readThrough(key, 'a', async () => 'never loaded: served from the cache')).toBe('a2');
    // The counter went with the old values: the key takes new variants again (a, b and a again had filled its 3).
    expect(await cache.readThrough(key, 'c', async () => 'c2')).toBe('c2');
    expect(await cache.readThrough(key, 'd', async () => 'd2')).toBe('d2');
    expect((await variantsUnder(key)).map((item) => item.sk).sort()).toEqual(['a', 'c', 'd']);
  });
});

describe("the notifier's cache clean-up", () => {
  it('a clean-up that fails is logged once it has failed, and the batch still notifies and succeeds', async () => {
    const id = 'cleanupSubscriber=';
    expect((await backend.ws.connect(id, await backend.token('cleanup-user'))).statusCode).toBe(200);
    await backend.ws.send(id, { type: 'subscribe', data: { topics: ['partners'], city: 'Paris' } });
    const cache = createCacheStore(backend.doc, TABLES.cache, 300);
    await cache.readThrough('city:paris', 'listing', async () => 'before the change');
    // DynamoDB's answer to the clean-up's Query, some time after it was sent: a notifier that did not wait for its
    // clean-up would have answered before this line is logged.
    const throttledQueries = {
      async send(command: Parameters<DynamoDBDocumentClient['send']>[0]) {
        if (command.constructor.name === 'QueryCommand' && (command.input as { TableName?: string }).TableName === TABLES.cache) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          throw Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
            name: 'ProvisionedThroughputExceededException',
          });
        }
        return backend.doc.send(command);
      },
    } as unknown as DynamoDBDocumentClient;
    const { lines, logger } = recordingLogger();
    const app = createApp();
    const notifier = createNotifier({
      connections: app.connections,
      cache: createCacheStore(throttledQueries, TABLES.cache, 300),
      managementClient: () => managementClient(managementEndpoint(app.cfg.websocketApiEndpoint), app.cfg),
      logger,
      sendOptions: app.sendOptions,
      fanout: { shardThreshold: 1000, shardSize: 100 },
      queue: undefined,
    });
    const now = new Date().toISOString();
    const partner = { ...seedPartnerInput, id: 'cleanup-partner', active: true, version: 1, createdAt: now, updatedAt: now };
    const report = await notifier.notifyChanges([
      { eventId: 'cleanup-event', sequenceNumber: '1', committedBy: Date.now(), event: { action: 'created', partner } },
    ]);
    expect(report.sent?.delivered).toEqual([id]);
    expect(backend.messages(id).filter((m) => m.type === 'partner_updated')).toEqual([
      expect.objectContaining({ partnerId: 'cleanup-partner', eventId: 'cleanup-event' }),
    ]);
    expect(lines.filter((line) => line.level !== 'info').map(({ level, message }) => ({ level, message }))).toEqual([
      { level: 'warn', message: 'cache clean-up failed; the expired values stay until their ttl, never served' },
    ]);
    // Left behind, and never served: the key's generation moved on.
    expect(await variantsUnder('city:paris')).toHaveLength(1);
    expect(await cache.readThrough('city:paris', 'listing', async () => 'after the change')).toBe('after the change');
  });
});

describe('cache failures degrade to uncached reads, logged', () => {
  it('a cache table that cannot be read', async () => {
    const { lines, logger } = recordingLogger();
    const cache = createCacheStore(backend.doc, 'no-such-cache-table', 300, { logger });
    expect(await cache.readThrough('partner:x', 'item', async () => ({ id: 'x' }))).toEqual({ id: 'x' });
    expect(lines.map((l) => l.message)).toEqual(['cache read failed; serving uncached']);
    expect(String(lines[0].data.error)).toMatch(/ResourceNotFound|non-existent table/i);
  });

  it('a cache table that cannot be written', async () => {
    const { lines, logger } = recordingLogger();
    // DynamoDB's own answer to a write it refuses; reads still go to dynalite.
    const db = {
      send: (command: { constructor: { name: string } }) =>
        command.constructor.name === 'PutCommand' || command.constructor.name === 'UpdateCommand'
          ? Promise.reject(
              Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
                name: 'ProvisionedThroughputExceededException',
              }),
            )
          : backend.doc.send(command as never),
    } as unknown as DynamoDBDocumentClient;
    const cache = createCacheStore(db, TABLES.cache, 300, { logger });
    expect(await cache.readThrough('partner:y', 'item', async () => ({ id: 'y' }))).toEqual({ id: 'y' });
    expect(lines.map((l) => l.message)).toEqual(['cache write failed; the read is served uncached']);
  });
});

describe('bounded variants per key', () => {
  it('past maxVariantsPerKey new variants are served uncached; an invalidation frees the key', async () => {
    const { lines, logger } = recordingLogger();
    const cache = createCacheStore(backend.doc, TABLES.cache, 300, { logger, maxVariantsPerKey: 3 });
    const key = 'city:variants';
    for (let i = 0; i < 6; i++) expect(await cache.readThrough(key, `v${i}`, async () => i)).toBe(i);
    expect((await variantsUnder(key)).map((item) => item.sk).sort()).toEqual(['v0', 'v1', 'v2']);
    expect(lines.filter((l) => l.message === 'cache skipped: variant limit reached for this key')).toHaveLength(3);
    expect(await cache.invalidate([key])).toBe(3);
    expect(await cache.readThrough(key, 'v5', async () => 5)).toBe(5);
    expect((await variantsUnder(key)).map((item) => item.sk)).toEqual(['v5']);
  });

  it('many keys invalidated at once: every one goes, the count is their sum, at most 8 calls are in flight; a failure ends it with nothing left running', async () => {
    let inFlight = 0;
    let most = 0;
    // The real client underneath; the wrapper only counts the calls outstanding at once.
    const counting = {
      async send(command: Parameters<DynamoDBDocumentClient['send']>[0]) {
        most = Math.max(most, ++inFlight);
        try {
          return await backend.doc.send(command);
        } finally {
          inFlight--;
        }
      },
    } as unknown as DynamoDBDocumentClient;
    const cache = createCacheStore(counting, TABLES.cache, 300);
    const keys = Array.from({ length: 20 }, (_, i) => `city:many-${i}`);
    for (const [i, key] of keys.entries()) for (let v = 0; v <= i % 3; v++) await cache.readThrough(key, `v${v}`, async () => v);
    const cached = keys.reduce((n, _, i) => n + (i % 3) + 1, 0);
    most = 0;
    expect(await cache.invalidate(keys)).toBe(cached);
    expect(most).toBe(8);
    for (const key of keys) expect(await variantsUnder(key)).toEqual([]);

    // One key's call fails: the invalidation fails with it, and only once nothing it started is still in flight.
    const failing = {
      send(command: Parameters<DynamoDBDocumentClient['send']>[0]) {
        const key = (command.input as { Key?: { pk?: string } }).Key?.pk;
        if (key === 'city:many-3') return Promise.reject(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }));
        return counting.send(command);
      },
    } as unknown as DynamoDBDocumentClient;
    const rejected = createCacheStore(failing, TABLES.cache, 300)
      .invalidate(keys)
      .then(
        () => 'resolved',
        (error: Error) => `${error.name} with ${inFlight} call(s) in flight`,
      );
    expect(await rejected).toBe('ThrottlingException with 0 call(s) in flight');
  });

  it('partners(city, category: <random>) from any user cannot grow one key past the default bound (50)', async () => {
    const query = `query ($category: String) { partners(city: "Variantville", category: $category) { items { id } } }`;
    for (let i = 0; i < 60; i++) {
      const result = await backend.graphql(query, { category: `random-${i}-${Math.random()}` }, user);
      expect(result.body.errors).toBeUndefined();
    }
    expect((await variantsUnder('city:variantville')).length).toBe(50);
  });
});

describe('values over the item limit', () => {
  it('a 500 KB value is served and not cached (no failing write on every call)', async () => {
    const { lines, logger } = recordingLogger();
    const cache = createCacheStore(backend.doc, TABLES.cache, 300, { logger });
    const big = 'x'.repeat(500 * 1024);
    expect(await cache.readThrough('city:big', 'v', async () => big)).toBe(big);
    expect(await variantsUnder('city:big')).toEqual([]);
    expect(lines).toEqual([
      { level: 'warn', message: 'cache skipped: value larger than a DynamoDB item', data: { key: 'city:big', bytes: expect.any(Number) } },
    ]);
  });

  it('a listing page over 400 KB is answered through GraphQL', async () => {
    const now = new Date().toISOString();
    const partners = Array.from({ length: 100 }, (_, i) => ({
      ...seedPartnerInput,
      id: `big-${i}`,
      name: `Big ${i}`,
      city: 'Bigtown',
      description: 'd'.repeat(2000),
      website: `https://example.com/${'w'.repeat(2000)}`,
      active: true,
      version: 1,
      createdAt: now,
      updatedAt: now,
      cityKey: 'bigtown',
      categoryKey: 'restaurant',
      geohash: encodeGeohash(seedPartnerInput.latitude, seedPartnerInput.longitude, 9),
      geoPartition: encodeGeohash(seedPartnerInput.latitude, seedPartnerInput.longitude, 3),
    }));
    for (let i = 0; i < partners.length; i += 25) {
      await backend.doc.send(
        new BatchWriteCommand({ RequestItems: { [TABLES.partners]: partners.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }),
      );
    }
    const query = `{ partners(city: "Bigtown", limit: 100) { items { id description website } } }`;
    for (let round = 0; round < 2; round++) {
      const result = await backend.graphql(query, {}, user);
      expect(result.body.errors).toBeUndefined();
      expect(result.body.data!.partners.items).toHaveLength(100);
    }
  });
});

describe('partnersNear is bounded in items read', () => {
  it('more partners than the bound in the area searched → TooManyItemsError; under it, the nearest', async () => {
    const table = 'perkup-test-partners';
    const repository = createPartnerRepository(backend.doc, table);
    const created = [];
    for (let i = 0; i < 8; i++)
      created.push(
        await repository.create({ ...seedPartnerInput, name: `Dense ${i}`, latitude: -33.8688 + i * 0.0001, longitude: 151.2093 }),
      );
    const bounded = createPartnerRepository(backend.doc, table, { nearMaxItems: 5 });
    await expect(bounded.near(-33.8688, 151.2093, 1, 3)).rejects.toBeInstanceOf(TooManyItemsError);
    const roomy = createPartnerRepository(backend.doc, table, { nearMaxItems: 8 });
    expect((await roomy.near(-33.8688, 151.2093, 1, 3)).map((r) => r.partner.id)).toEqual(created.slice(0, 3).map((p) => p.id));
  });
});

describe('AWS clients', () => {
  it('batchWriteAll backs off, longer each round, before resubmitting unprocessed items', async () => {
    const delays: number[] = [];
    let calls = 0;
    // DynamoDB's answer under throttling: 200 with UnprocessedItems (dynalite never throttles, so it is scripted here).
    const db = {
      send: async (command: BatchWriteCommand) => {
        calls++;
        const pending = command.input.RequestItems!.t;
        return { UnprocessedItems: calls <= 4 ? { t: pending.slice(1) } : {} };
      },
    } as unknown as DynamoDBDocumentClient;
    const requests = Array.from({ length: 5 }, (_, i) => ({ PutRequest: { Item: { pk: `k${i}` } } }));
    await batchWriteAll(db, 't', requests, { baseDelayMs: 100, maxDelayMs: 10_000, sleep: async (ms) => void delays.push(ms) });
    expect(calls).toBe(5);
    expect(delays).toHaveLength(4);
    delays.forEach((delay, i) => {
      expect(delay).toBeGreaterThanOrEqual((100 * 2 ** i) / 2);
      expect(delay).toBeLessThanOrEqual(100 * 2 ** i);
    });
  });

  it('batchWriteAll gives up loudly after its rounds', async () => {
    const db = {
      send: async (command: BatchWriteCommand) => ({ UnprocessedItems: command.input.RequestItems }),
    } as unknown as DynamoDBDocumentClient;
    await expect(
      batchWriteAll(db, 't', [{ PutRequest: { Item: { pk: 'a' } } }], { maxRounds: 3, sleep: async () => undefined }),
    ).rejects.toThrow('BatchWrite on t: 1 requests still unprocessed after 3 rounds');
  });

  it('the management client has a connect timeout (NOTIFY_CONNECT_TIMEOUT_MS, default 1000 ms) beside its request timeout', async () => {
    const cfg = readConfig({ PARTNERS_TABLE: 'a', WEBSOCKET_CONNECTIONS_TABLE: 'b', CACHE_TABLE: 'c', JWT_SECRET: 's' });
    expect(cfg.notify.connectTimeoutMs).toBe(1000);
    const client = managementClient('https://timeouts.execute-api.eu-west-3.amazonaws.com/x', cfg);
    // The SDK resolves the handler's options asynchronously; its config promise is not part of the public type.
    const handler = client.config.requestHandler as unknown as {
      configProvider: Promise<{ connectionTimeout?: number; requestTimeout?: number }>;
    };
    expect(await handler.configProvider).toMatchObject({ connectionTimeout: 1000, requestTimeout: 3000 });
  });
});
