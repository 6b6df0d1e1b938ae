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

/**
 * Writes (puts/deletes) in BatchWrite chunks of 25, resubmitting what DynamoDB leaves unprocessed under load, so
 * nothing is silently dropped; gives up loudly after a few rounds.
 */
export async function batchWriteAll(db: DynamoDBDocumentClient, table: string, requests: Item[]): Promise<void> {
  for (let i = 0; i < requests.length; i += 25) {
    let pending: Item[] | undefined = requests.slice(i, i + 25);
    for (let attempt = 0; pending && pending.length; attempt++) {
      if (attempt >= 8) throw new Error(`BatchWrite on ${table}: ${pending.length} requests still unprocessed`);
      const result = await db.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
      pending = result.UnprocessedItems?.[table] as Item[] | undefined;
    }
  }
}
