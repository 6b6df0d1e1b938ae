import { createHash } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll, queryAll } from '../aws/dynamoPages.js';

/**
 * A read-through cache in a DynamoDB table, so it behaves the same on AWS and on dynalite with no extra service.
 * Items: pk = invalidation key (partner:<id>, city:<city>, …), sk = the variant cached under it (e.g. the listing's
 * arguments), value = JSON, gen = the key's generation when the value was loaded, ttl = expiry in epoch seconds.
 * Reads ignore expired items because DynamoDB's TTL deletion can lag by up to ~48 hours.
 *
 * Two bookkeeping items per key, under sort keys no variant can take:
 * - `#generation` {gen}: bumped by every invalidation (`expire`) before its variants are deleted (`purge`, which the
 *   notifier runs while it notifies). A value is served only if it was loaded in the current generation, and a store
 *   re-checks the generation and takes its value back if an invalidation came in between. So the race "reader misses
 *   and loads, writer writes and invalidates, reader stores the old value" leaves nothing stale behind (and could not
 *   serve it even if the clean-up failed).
 * - `#variants` {count, ttl}: how many variants were stored in the current window of `ttlSeconds`. Past
 *   `maxVariantsPerKey` new variants are not cached until the window ends; since a variant lives one window, at most
 *   twice that many are live under a key, however many distinct arguments clients send — and invalidating the key
 *   stays a bounded amount of work.
 *
 * The cache is an optimisation: any failure of it is logged and the read is served uncached.
 */
export interface CacheOptions {
  now?: () => number;
  logger?: Pick<Logger, 'warn' | 'error'>;
  maxVariantsPerKey?: number;
}

const GENERATION = '#generation';
const VARIANTS = '#variants';
/** Keys invalidated at once: enough to overlap their round trips, few enough not to flood the table's partitions. */
const INVALIDATION_CONCURRENCY = 8;
/** DynamoDB's item limit is 400 KB including attribute names; keep a margin for pk, sk, gen and ttl. */
export const MAX_CACHED_VALUE_BYTES = 400 * 1024 - 4 * 1024;
/** Sort keys may be 1 KB; longer variants (a listing with a long nextToken) are stored under their hash. */
const MAX_VARIANT_LENGTH = 256;
export const DEFAULT_MAX_VARIANTS_PER_KEY = 50;

const sortKeyOf = (variant: string): string =>
  variant.length <= MAX_VARIANT_LENGTH && !variant.startsWith('#')
    ? variant
    : `sha256:${createHash('sha256').update(variant).digest('hex')}`;

export function createCacheStore(db: DynamoDBDocumentClient, table: string, ttlSeconds: number, options: CacheOptions = {}) {
  const now = options.now ?? Date.now;
  const nowSeconds = (): number => Math.floor(now() / 1000);
  const maxVariants = options.maxVariantsPerKey ?? DEFAULT_MAX_VARIANTS_PER_KEY;

  async function generationOf(key: string): Promise<number> {
    const { Item } = await db.send(new GetCommand({ TableName: table, Key: { pk: key, sk: GENERATION }, ConsistentRead: true }));
    return typeof Item?.gen === 'number' ? Item.gen : 0;
  }

  /** The cached value if it is live and of the current generation, plus what a store needs to know. */
  async function lookup(key: string, sk: string) {
    const { Responses } = await db.send(
      new BatchGetCommand({
        RequestItems: { [table]: { Keys: [GENERATION, VARIANTS, sk].map((s) => ({ pk: key, sk: s })), ConsistentRead: true } },
      }),
    );
    const items = Responses?.[table] ?? [];
    const find = (s: string) => items.find((item) => item.sk === s);
    const gen = typeof find(GENERATION)?.gen === 'number' ? (find(GENERATION)!.gen as number) : 0;
    const counter = find(VARIANTS);
    const entry = find(sk);
    const live = entry && typeof entry.ttl === 'number' && entry.ttl > nowSeconds() && entry.gen === gen;
    return { gen, counter, hit: live ? { value: JSON.parse(String(entry.value)) as unknown } : undefined };
  }

  /** Takes a slot for a new variant in the current window; false when the key has its fill. */
  async function takeVariantSlot(key: string, counter: Record<string, unknown> | undefined): Promise<boolean> {
    const expired = !counter || typeof counter.ttl !== 'number' || counter.ttl <= nowSeconds();
    try {
      if (expired) {
        await db.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk: key, sk: VARIANTS },
            UpdateExpression: 'SET #count = :one, #ttl = :ttl',
            // Only the reader that saw the old window opens the new one; a concurrent opener makes this one retry-less.
            ConditionExpression: counter ? '#ttl = :seen' : 'attribute_not_exists(pk)',
            ExpressionAttributeNames: { '#count': 'count', '#ttl': 'ttl' },
            ExpressionAttributeValues: { ':one': 1, ':ttl': nowSeconds() + ttlSeconds, ...(counter ? { ':seen': counter.ttl } : {}) },
          }),
        );
      } else {
        await db.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk: key, sk: VARIANTS },
            UpdateExpression: 'ADD #count :one',
            ConditionExpression: '#ttl = :seen AND #count < :max',
            ExpressionAttributeNames: { '#count': 'count', '#ttl': 'ttl' },
            ExpressionAttributeValues: { ':one': 1, ':seen': counter.ttl, ':max': maxVariants },
          }),
        );
      }
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async function store(key: string, sk: string, gen: number, counter: Record<string, unknown> | undefined, value: unknown): Promise<void> {
    const json = JSON.stringify(value);
    const bytes = Buffer.byteLength(json) + Buffer.byteLength(key) + Buffer.byteLength(sk);
    if (bytes > MAX_CACHED_VALUE_BYTES) {
      options.logger?.warn('cache skipped: value larger than a DynamoDB item', { key, bytes });
      return;
    }
    if (!(await takeVariantSlot(key, counter))) {
      options.logger?.warn('cache skipped: variant limit reached for this key', { key, maxVariantsPerKey: maxVariants });
      return;
    }
    await db.send(new PutCommand({ TableName: table, Item: { pk: key, sk, value: json, gen, ttl: nowSeconds() + ttlSeconds } }));
    // An invalidation may have come between our load and our put: then what we stored is stale, so take it back.
    if ((await generationOf(key)) !== gen) {
      await db
        .send(
          new DeleteCommand({
            TableName: table,
            Key: { pk: key, sk },
            ConditionExpression: 'gen = :gen',
            ExpressionAttributeValues: { ':gen': gen },
          }),
        )
        .catch((error: unknown) => {
          if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
        });
    }
  }

  /**
   * Runs `each` over `items`, at most INVALIDATION_CONCURRENCY at a time. After a failure no item is started, and the
   * caller hears of it once every call has stopped: nothing started here is left running when it rejects (a Lambda
   * would freeze with it in flight).
   */
  async function boundedEach<T>(items: readonly T[], each: (item: T) => Promise<void>): Promise<void> {
    let failure: { error: unknown } | undefined;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length && !failure) {
        try {
          await each(items[next++]);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(INVALIDATION_CONCURRENCY, items.length) }, worker));
    if (failure) throw failure.error;
  }

  /**
   * The part of an invalidation readers depend on: bumps each key's generation (a few keys at once). Once it
   * resolves, nothing loaded before is served or kept, so a client told of the change reads fresh data; the values
   * left under the keys are garbage that `purge` deletes. Answers each key's new generation, for `purge`.
   */
  async function expire(keys: readonly string[]): Promise<Map<string, number>> {
    const generations = new Map<string, number>();
    await boundedEach([...new Set(keys)], async (key) => {
      const { Attributes } = await db.send(
        new UpdateCommand({
          TableName: table,
          Key: { pk: key, sk: GENERATION },
          UpdateExpression: 'ADD gen :one',
          ExpressionAttributeValues: { ':one': 1 },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      generations.set(key, Number(Attributes?.gen));
    });
    return generations;
  }

  /**
   * The clean-up after `expire`: deletes each key's variants of an older generation than the one `expire` set, and
   * its variant counter (the key's fill starts again). A variant a reader stored since, of the new generation, stays.
   * Returns how many cached values went.
   */
  async function purge(generations: ReadonlyMap<string, number>): Promise<number> {
    let deleted = 0;
    await boundedEach([...generations], async ([key, generation]) => {
      const items = await queryAll(db, {
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': key },
        ProjectionExpression: 'pk, sk, gen',
        ConsistentRead: true,
      });
      const doomed = items.filter((item) => item.sk !== GENERATION && !(typeof item.gen === 'number' && item.gen >= generation));
      await batchWriteAll(
        db,
        table,
        doomed.map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } })),
      );
      deleted += doomed.filter((item) => item.sk !== VARIANTS).length;
    });
    return deleted;
  }

  /** Expires the keys, then deletes what they held (`expire`, then `purge`). Returns how many cached values went. */
  async function invalidate(keys: readonly string[]): Promise<number> {
    return purge(await expire(keys));
  }

  /** Returns the cached value or loads, caches and returns it. A cache failure never fails the read. */
  async function readThrough<T>(key: string, variant: string, load: () => Promise<T>): Promise<T> {
    const sk = sortKeyOf(variant);
    let found: Awaited<ReturnType<typeof lookup>> | undefined;
    try {
      found = await lookup(key, sk);
      if (found.hit) return found.hit.value as T;
    } catch (error) {
      options.logger?.error('cache read failed; serving uncached', { key, error: error as Error });
    }
    const value = await load();
    if (found) {
      try {
        await store(key, sk, found.gen, found.counter, value);
      } catch (error) {
        options.logger?.error('cache write failed; the read is served uncached', { key, error: error as Error });
      }
    }
    return value;
  }

  return { readThrough, invalidate, expire, purge };
}

export type CacheStore = ReturnType<typeof createCacheStore>;
