/**
 * Figure 5's arithmetic (bench/capacity.bench.ts) against dynalite over the real DynamoDB protocol: the reads a
 * client sends are observed, replayed with ReturnConsumedCapacity, and a Scan is charged the whole table while a
 * key Query is charged its own items only — which is what lets the figure tell one from the other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchWriteItemCommand, DynamoDBClient, QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { startDynamoDB, type DynamoDBProvider } from '../harness/dynamodb/provider.js';
import {
  allItems,
  consumedReadCapacity,
  itemsReadCapacity,
  minimumReadUnits,
  readsOf,
  type ObservedRequest,
} from '../bench/capacity.bench.js';

const TABLE = 'bench-capacity-connections';

describe('figure 5: read capacity of observed reads', () => {
  let dynamodb: DynamoDBProvider;
  let client: DynamoDBClient;
  const observed: ObservedRequest[] = [];

  beforeAll(async () => {
    dynamodb = await startDynamoDB({
      storage: 'memory',
      region: 'eu-west-1',
      tables: [
        {
          logicalId: 'Connections',
          TableName: TABLE,
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'target', AttributeType: 'S' },
          ],
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          GlobalSecondaryIndexes: [
            { IndexName: 'byTarget', KeySchema: [{ AttributeName: 'target', KeyType: 'HASH' }], Projection: { ProjectionType: 'ALL' } },
          ],
          BillingMode: 'PAY_PER_REQUEST',
        },
      ],
      onRequest: (request) => observed.push({ operation: request.operation, body: request.body }),
    });
    client = new DynamoDBClient({
      endpoint: dynamodb.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    // 400 rows over 10 targets, ~300 bytes each: the table is ~120 KB, one target ~12 KB.
    for (let start = 0; start < 400; start += 25) {
      const rows = Array.from({ length: 25 }, (_, j) => ({
        PutRequest: {
          Item: { pk: { S: `row-${start + j}` }, target: { S: `city-${(start + j) % 10}` }, padding: { S: 'x'.repeat(280) } },
        },
      }));
      await client.send(new BatchWriteItemCommand({ RequestItems: { [TABLE]: rows } }));
    }
  });
  afterAll(async () => {
    client?.destroy();
    await dynamodb?.close();
  });

  it('charges a key Query its matching items and a Scan the whole table; a Query that finds nothing gets the minimum', async () => {
    observed.length = 0;
    const query = {
      TableName: TABLE,
      IndexName: 'byTarget',
      KeyConditionExpression: '#t = :t',
      ExpressionAttributeNames: { '#t': 'target' },
    };
    await client.send(new QueryCommand({ ...query, ExpressionAttributeValues: { ':t': { S: 'city-3' } } }));
    await client.send(new QueryCommand({ ...query, ExpressionAttributeValues: { ':t': { S: 'nobody' } } }));
    await client.send(new ScanCommand({ TableName: TABLE }));
    const reads = readsOf(observed, TABLE);
    expect(reads.map((r) => r.operation)).toEqual(['Query', 'Query', 'Scan']);

    const [queried, empty, scanned] = await consumedReadCapacity(dynamodb.client, reads);
    const items = await allItems(dynamodb.client, TABLE);
    expect(items).toHaveLength(400);
    const matching = items.filter((item) => item.target?.S === 'city-3');
    expect(queried).toBe(itemsReadCapacity(matching));
    expect(scanned).toBe(itemsReadCapacity(items));
    // Figure 5's ratio: 1 for the key Query; a Scan to find the same items would be far past the goal of 1.2.
    expect(queried / itemsReadCapacity(matching)).toBe(1);
    expect(scanned / itemsReadCapacity(matching)).toBeGreaterThan(5);
    expect(empty).toBe(0);
    expect(minimumReadUnits(reads[1])).toBe(0.5);
  });

  it('leaves writes out of the reads', () => {
    expect(readsOf([{ operation: 'PutItem', body: { TableName: TABLE } }], TABLE)).toEqual([]);
  });
});
