import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll, queryAll } from '../aws/dynamoPages.js';
import { settleAll } from '../common/settleAll.js';
import { targetOf, type Near, type SubscriptionRow, type Topic } from './subscriptions.js';
import type { UserSlots } from './userSlots.js';

/**
 * The connections table. One partition per connection (pk = CONN#<id>): its META row and one SUB# row per
 * subscription target, so $disconnect and 410 cleanup are one Query on the key. The byTarget index answers
 * "who subscribed to exactly (topic, city|*, category|*)" with a key Query whose cost grows with the matches only.
 * Every row has a ttl (connection time + 2 h + margin); reads skip expired rows since DynamoDB deletes them late.
 */
export interface ConnectionRecord {
  connectionId: string;
  userId: string;
  role: string;
  connectedAt: number;
  ttl: number;
}

export interface Subscriber {
  connectionId: string;
  rows: Array<SubscriptionRow & { near?: Near }>;
}

const pkOf = (connectionId: string): string => `CONN#${connectionId}`;
const META = 'META';
const subSk = (target: string): string => `SUB#${target}`;

/**
 * `slots`, when given, is the per-user connection limit: every way a connection's rows go ($disconnect, 410
 * clean-up) frees its slot too.
 */
export function createConnectionStore(
  db: DynamoDBDocumentClient,
  table: string,
  options: { nowMs?: () => number; slots?: UserSlots } = {},
) {
  const nowMs = options.nowMs ?? Date.now;
  const nowSeconds = (): number => Math.floor(nowMs() / 1000);

  const batchWrite = (requests: Record<string, unknown>[]): Promise<void> => batchWriteAll(db, table, requests);

  const rowsOf = (connectionId: string): Promise<Record<string, unknown>[]> =>
    queryAll(db, {
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pkOf(connectionId) },
      ConsistentRead: true,
    });

  async function save(record: ConnectionRecord): Promise<void> {
    await db.send(new PutCommand({ TableName: table, Item: { pk: pkOf(record.connectionId), sk: META, ...record } }));
  }

  /**
   * Replaces the connection's subscriptions to the topics in `rows` (a new subscribe for a topic changes its place
   * filter) and keeps the other topics'. Answers the connection's record, or undefined (and writes nothing) when it
   * is not registered or has expired. One Query reads both the META row and the rows to replace: a subscribe is
   * a Query and a BatchWriteItem, not two Queries of the same partition.
   */
  async function subscribe(connectionId: string, rows: SubscriptionRow[]): Promise<ConnectionRecord | undefined> {
    const existing = await rowsOf(connectionId);
    const meta = existing.find((row) => row.sk === META);
    if (!meta || (meta.ttl as number) <= nowSeconds()) return undefined;
    const { pk: _pk, sk: _sk, ...fields } = meta;
    const connection = fields as unknown as ConnectionRecord;
    const topics = new Set(rows.map((row) => row.topic));
    const stale = existing.filter((row) => row.sk !== META && topics.has(row.topic as Topic));
    const keep = new Set(rows.map((row) => subSk(targetOf(row))));
    const deletes = stale
      .filter((row) => !keep.has(row.sk as string))
      .map((row) => ({ DeleteRequest: { Key: { pk: row.pk, sk: row.sk } } }));
    const subscribedAt = nowMs();
    const puts = rows.map((row) => ({
      PutRequest: {
        Item: {
          pk: pkOf(connectionId),
          sk: subSk(targetOf(row)),
          target: targetOf(row),
          connectionId,
          userId: connection.userId,
          topic: row.topic,
          city: row.city,
          category: row.category,
          ...(row.near ? { near: row.near } : {}),
          ...(row.batch ? { batch: true } : {}),
          subscribedAt,
          ttl: connection.ttl,
        },
      },
    }));
    await batchWrite([...deletes, ...puts]);
    return connection;
  }

  /** Removes the subscriptions to `topics`, or all of them when none are named. Returns how many rows went. */
  async function unsubscribe(connectionId: string, topics?: readonly Topic[]): Promise<number> {
    const rows = (await rowsOf(connectionId)).filter((row) => row.sk !== META && (!topics || topics.includes(row.topic as Topic)));
    await batchWrite(rows.map((row) => ({ DeleteRequest: { Key: { pk: row.pk, sk: row.sk } } })));
    return rows.length;
  }

  /** Deletes the connection and every subscription row it has, and frees its user's slot. */
  async function remove(connectionId: string): Promise<number> {
    const rows = await rowsOf(connectionId);
    await batchWrite(rows.map((row) => ({ DeleteRequest: { Key: { pk: row.pk, sk: row.sk } } })));
    const userId = rows.find((row) => row.sk === META)?.userId;
    if (options.slots && typeof userId === 'string') await options.slots.release(userId, connectionId);
    return rows.length;
  }

  /** Connections subscribed to any of these exact targets, each with the rows that matched. Key Queries only. */
  async function subscribersOf(targets: readonly string[]): Promise<Subscriber[]> {
    const byConnection = new Map<string, Subscriber>();
    // Settled, then the first failure thrown: a failed Query must not leave the others running past the invocation.
    await settleAll(
      targets.map(async (target) => {
        const rows = await queryAll(db, {
          TableName: table,
          IndexName: 'byTarget',
          KeyConditionExpression: '#target = :target',
          ExpressionAttributeNames: { '#target': 'target' },
          ExpressionAttributeValues: { ':target': target },
        });
        for (const row of rows) {
          if ((row.ttl as number) <= nowSeconds()) continue;
          const connectionId = row.connectionId as string;
          let subscriber = byConnection.get(connectionId);
          if (!subscriber) byConnection.set(connectionId, (subscriber = { connectionId, rows: [] }));
          subscriber.rows.push({
            topic: row.topic as Topic,
            city: row.city as string,
            category: row.category as string,
            ...(row.near ? { near: row.near as Near } : {}),
            ...(row.batch === true ? { batch: true } : {}),
            ...(typeof row.subscribedAt === 'number' ? { subscribedAt: row.subscribedAt } : {}),
          });
        }
      }),
    );
    return [...byConnection.values()];
  }

  return { save, subscribe, unsubscribe, remove, subscribersOf, slots: options.slots };
}

export type ConnectionStore = ReturnType<typeof createConnectionStore>;
