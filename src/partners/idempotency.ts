import { createHash } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Idempotency records for createPartner's `clientMutationId`: the first request claims the key with a conditional
 * put (one winner, however many concurrent retries) that also reserves the partner's id; the partner is then created
 * under that id with a put that never overwrites, and the record completed with the answer. A retry finds the
 * record: done → the first answer, nothing written; still pending (the first is in flight or died) → it creates
 * under the same reserved id, so at most one partner exists whoever wins. Records expire by TTL.
 */
export interface IdempotencyRecord {
  pk: string;
  fingerprint: string;
  partnerId: string;
  status: 'pending' | 'done';
  response?: string;
  ttl: number;
}

export const CLIENT_MUTATION_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** The same input, whatever its key order: a key reused with another input is refused rather than answered. */
export function fingerprintOf(input: object): string {
  const canonical = JSON.stringify(input, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
  return createHash('sha256').update(canonical).digest('hex');
}

export function createIdempotencyStore(db: DynamoDBDocumentClient, table: string, ttlSeconds: number, now: () => number = Date.now) {
  const pkOf = (operation: string, key: string): string => `${operation}#${key}`;
  const nowSeconds = (): number => Math.floor(now() / 1000);

  /** Claims `key`, or answers the record that holds it (a claim older than its TTL is free again). */
  async function claim(
    operation: string,
    key: string,
    fingerprint: string,
    partnerId: string,
  ): Promise<{ claimed: true } | { claimed: false; record: IdempotencyRecord }> {
    const record: IdempotencyRecord = {
      pk: pkOf(operation, key),
      fingerprint,
      partnerId,
      status: 'pending',
      ttl: nowSeconds() + ttlSeconds,
    };
    try {
      await db.send(
        new PutCommand({
          TableName: table,
          Item: record,
          ConditionExpression: 'attribute_not_exists(pk) OR #ttl <= :now',
          ExpressionAttributeNames: { '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':now': nowSeconds() },
        }),
      );
      return { claimed: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    const { Item } = await db.send(new GetCommand({ TableName: table, Key: { pk: record.pk }, ConsistentRead: true }));
    if (!Item) throw new Error(`idempotency record ${record.pk} vanished between the claim and the read`);
    return { claimed: false, record: Item as IdempotencyRecord };
  }

  async function complete(operation: string, key: string, response: unknown): Promise<void> {
    await db.send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: pkOf(operation, key) },
        UpdateExpression: 'SET #status = :done, #response = :response',
        ExpressionAttributeNames: { '#status': 'status', '#response': 'response' },
        ExpressionAttributeValues: { ':done': 'done', ':response': JSON.stringify(response) },
      }),
    );
  }

  return { claim, complete };
}

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>;
