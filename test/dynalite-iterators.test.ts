/**
 * dynalite 4 closes a read's iterator through `return()`, which abstract-level 3's iterators lack: without the
 * emulator's fix every Query and Scan left its iterator open (and memory-level's tree of that moment alive) for the
 * life of the store. harness/dynamodb/iteratorClose.ts.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient, PutItemCommand, QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { loadServerlessConfig } from '../harness/config/serverless.js';
import { startDynamoDB, type DynamoDBProvider } from '../harness/dynamodb/provider.js';
import { dynaliteIteratorBases } from '../harness/dynamodb/iteratorClose.js';

const perkup = loadServerlessConfig(fileURLToPath(new URL('../serverless.yml', import.meta.url)), { refs: () => 'apiid' });
let db: DynamoDBProvider | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await db?.close();
  db = undefined;
});

describe("dynalite's read iterators", () => {
  it('are closed when their Query or Scan is over, not when the store closes', async () => {
    db = await startDynamoDB({ storage: 'memory', tables: perkup.tables });
    const client = new DynamoDBClient({
      endpoint: db.endpoint,
      region: 'eu-west-3',
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    const TableName = 'perkup-dev-connections';
    for (let i = 0; i < 5; i++)
      await client.send(new PutItemCommand({ TableName, Item: { pk: { S: 'CONN#a' }, sk: { S: `SUB#${i}` }, target: { S: 'CITY#x' } } }));
    const closes = dynaliteIteratorBases().map((base) => vi.spyOn(base, 'close'));
    const closed = () => closes.reduce((sum, spy) => sum + spy.mock.calls.length, 0);
    const reads = 12;
    for (let i = 0; i < reads / 3; i++) {
      // A read that stops early (Limit), one that reads to the end, and a Scan.
      const limited = await client.send(
        new QueryCommand({
          TableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: 'CONN#a' } },
          Limit: 2,
        }),
      );
      expect(limited.Items).toHaveLength(2);
      const all = await client.send(
        new QueryCommand({ TableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'CONN#a' } } }),
      );
      expect(all.Items).toHaveLength(5);
      await client.send(new ScanCommand({ TableName }));
    }
    // Closing runs on the stream's end or destruction, which may trail the answer by a turn of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed()).toBeGreaterThanOrEqual(reads);
  });
});
