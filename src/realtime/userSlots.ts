import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * At most `max` open WebSocket connections per user, counted in one item of the connections table
 * (pk = USER#<userId>, sk = CONNECTIONS): `open`, a counter, and `slots`, a map connectionId → the connection's ttl.
 *
 * - Taking a slot is one conditional UpdateItem (`open < max` and this connection not yet in `slots`), so concurrent
 *   handshakes of one user cannot overshoot: DynamoDB applies them one at a time and refuses the extra ones.
 * - Freeing is conditional on the connection still holding its slot, so $disconnect and a 410 clean-up of the same
 *   connection (or a retried $disconnect) free it once.
 * - A connection that vanished without either (its rows expired by TTL) keeps its entry until its ttl passes; the next
 *   handshake refused at the limit prunes expired entries and tries again.
 */
const userKey = (userId: string) => ({ pk: `USER#${userId}`, sk: 'CONNECTIONS' });

const isConditionFailure = (error: unknown): boolean => (error as { name?: string }).name === 'ConditionalCheckFailedException';
/** A SET on slots.#c before the `slots` map exists is refused as an invalid document path. */
const isMissingMap = (error: unknown): boolean => (error as { name?: string }).name === 'ValidationException';

export function createUserSlots(db: DynamoDBDocumentClient, table: string, max: number, nowMs: () => number = Date.now) {
  const nowSeconds = (): number => Math.floor(nowMs() / 1000);

  async function tryTake(userId: string, connectionId: string, ttl: number): Promise<boolean> {
    const update = () =>
      db.send(
        new UpdateCommand({
          TableName: table,
          Key: userKey(userId),
          UpdateExpression: 'SET slots.#c = :ttl ADD #open :one',
          ConditionExpression: '(attribute_not_exists(#open) OR #open < :max) AND attribute_not_exists(slots.#c)',
          ExpressionAttributeNames: { '#c': connectionId, '#open': 'open' },
          ExpressionAttributeValues: { ':ttl': ttl, ':one': 1, ':max': max },
        }),
      );
    try {
      await update();
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      if (!isMissingMap(error)) throw error;
    }
    // First connection of this user: create the item holding this slot. If a concurrent handshake created it first,
    // the item now exists and the conditional update decides.
    try {
      await db.send(
        new PutCommand({
          TableName: table,
          Item: { ...userKey(userId), open: 1, slots: { [connectionId]: ttl } },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
    }
    try {
      await update();
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /**
   * Frees the slots whose connection's ttl has passed, each only if it still holds that ttl. 'raced' when another
   * writer changed one of them first (a slot may have been freed meanwhile: worth another try).
   */
  async function pruneExpired(userId: string): Promise<'none' | 'pruned' | 'raced'> {
    const { Item } = await db.send(new GetCommand({ TableName: table, Key: userKey(userId), ConsistentRead: true }));
    const slots = (Item?.slots ?? {}) as Record<string, number>;
    const expired = Object.entries(slots).filter(([, ttl]) => typeof ttl === 'number' && ttl <= nowSeconds());
    // Nothing to prune, but a slot freed since our refused attempt is as good: say so, so the caller tries again.
    if (expired.length === 0) return typeof Item?.open === 'number' && Item.open < max ? 'raced' : 'none';
    const names: Record<string, string> = { '#open': 'open' };
    const values: Record<string, number> = { ':minus': -expired.length };
    expired.forEach(([connectionId, ttl], i) => {
      names[`#c${i}`] = connectionId;
      values[`:t${i}`] = ttl;
    });
    try {
      await db.send(
        new UpdateCommand({
          TableName: table,
          Key: userKey(userId),
          UpdateExpression: `REMOVE ${expired.map((_, i) => `slots.#c${i}`).join(', ')} ADD #open :minus`,
          ConditionExpression: expired.map((_, i) => `slots.#c${i} = :t${i}`).join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return 'pruned';
    } catch (error) {
      // Someone else pruned or freed one of them first: their update counted it.
      if (isConditionFailure(error)) return 'raced';
      throw error;
    }
  }

  /** Takes a slot for this connection; false when the user already has `max` open connections. */
  async function take(userId: string, connectionId: string, ttl: number): Promise<boolean> {
    // Bounded: each round either takes a slot, finds nothing to free (a real refusal), or saw a slot freed.
    for (let round = 0; round < 3; round++) {
      if (await tryTake(userId, connectionId, ttl)) return true;
      if ((await pruneExpired(userId)) === 'none') return false;
    }
    return tryTake(userId, connectionId, ttl);
  }

  /** Frees this connection's slot if it holds one; true when it did. */
  async function release(userId: string, connectionId: string): Promise<boolean> {
    try {
      await db.send(
        new UpdateCommand({
          TableName: table,
          Key: userKey(userId),
          UpdateExpression: 'REMOVE slots.#c ADD #open :minus',
          ConditionExpression: 'attribute_exists(slots.#c)',
          ExpressionAttributeNames: { '#c': connectionId, '#open': 'open' },
          ExpressionAttributeValues: { ':minus': -1 },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** The user's open-connection count, as stored. */
  async function count(userId: string): Promise<number> {
    const { Item } = await db.send(new GetCommand({ TableName: table, Key: userKey(userId), ConsistentRead: true }));
    return typeof Item?.open === 'number' ? Item.open : 0;
  }

  return { take, release, count };
}

export type UserSlots = ReturnType<typeof createUserSlots>;
