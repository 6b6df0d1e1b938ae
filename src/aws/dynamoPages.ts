import { BatchWriteCommand, QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';

type Item = Record<string, unknown>;

/** Every item a Query returns, following LastEvaluatedKey across pages. */
export async function queryAll(db: DynamoDBDocumentClient, input: Omit<QueryCommandInput, 'ExclusiveStartKey'>): Promise<Item[]> {
  const items: Item[] = [];
  let start: Item | undefined;
  do {
    const page = await db.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

export interface BatchWriteOptions {
  /** First backoff between rounds; doubles each round (with jitter), capped at maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxRounds?: number;
  sleep?: (ms: number) => Promise<void>;
}

const sleepFor = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Writes (puts/deletes) in BatchWrite chunks of 25, resubmitting what DynamoDB leaves unprocessed under load, so
 * nothing is silently dropped. Unprocessed items mean the table is throttling: resubmitting at once would only be
 * throttled again, so each round waits longer (exponential backoff with full jitter, as AWS recommends); gives up
 * loudly after a few rounds.
 */
export async function batchWriteAll(
  db: DynamoDBDocumentClient,
  table: string,
  requests: Item[],
  options: BatchWriteOptions = {},
): Promise<void> {
  const { baseDelayMs = 50, maxDelayMs = 2000, maxRounds = 8, sleep = sleepFor } = options;
  for (let i = 0; i < requests.length; i += 25) {
    let pending: Item[] | undefined = requests.slice(i, i + 25);
    for (let attempt = 0; pending?.length; attempt++) {
      if (attempt >= maxRounds)
        throw new Error(`BatchWrite on ${table}: ${pending.length} requests still unprocessed after ${maxRounds} rounds`);
      if (attempt > 0) {
        const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
      }
      const result = await db.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
      pending = result.UnprocessedItems?.[table] as Item[] | undefined;
    }
  }
}
