import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll, queryAll } from '../aws/dynamoPages.js';

/**
 * A read-through cache in a DynamoDB table, so it behaves the same on AWS and on dynalite with no extra service.
 * Items: pk = invalidation key (partner:<id>, city:<city>, …), sk = the variant cached under it (e.g. the listing's
 * arguments), value = JSON, ttl = expiry in epoch seconds. Invalidating a key deletes every variant under it.
 * Reads ignore expired items because DynamoDB's TTL deletion can lag by up to ~48 hours.
 */
export function createCacheStore(db: DynamoDBDocumentClient, table: string, ttlSeconds: number, now: () => number = Date.now) {
  const nowSeconds = (): number => Math.floor(now() / 1000);

  async function get<T>(key: string, variant: string): Promise<T | undefined> {
    const { Item } = await db.send(new GetCommand({ TableName: table, Key: { pk: key, sk: variant } }));
    if (!Item || typeof Item.ttl !== 'number' || Item.ttl <= nowSeconds()) return undefined;
    return JSON.parse(String(Item.value)) as T;
  }

  async function set(key: string, variant: string, value: unknown): Promise<void> {
    await db.send(
      new PutCommand({ TableName: table, Item: { pk: key, sk: variant, value: JSON.stringify(value), ttl: nowSeconds() + ttlSeconds } }),
    );
  }

  /** Deletes every variant cached under each key; returns how many items went. */
  async function invalidate(keys: readonly string[]): Promise<number> {
    let deleted = 0;
    for (const key of keys) {
      const items = await queryAll(db, { TableName: table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': key }, ProjectionExpression: 'pk, sk' });
      await batchWriteAll(db, table, items.map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } })));
      deleted += items.length;
    }
    return deleted;
  }

  /** Returns the cached value or loads, caches and returns it. */
  async function readThrough<T>(key: string, variant: string, load: () => Promise<T>): Promise<T> {
    const cached = await get<T>(key, variant);
    if (cached !== undefined) return cached;
    const value = await load();
    await set(key, variant, value);
    return value;
  }

  return { get, set, invalidate, readThrough };
}

export type CacheStore = ReturnType<typeof createCacheStore>;
