/**
 * F17 index lag: global secondary index reads lag writes, below the SDK (the real DocumentClient over the DynamoDB
 * protocol), while base-table reads stay immediate — as on DynamoDB, where "write operations propagate to a GSI
 * within 1 second" and every GSI read is eventually consistent.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { loadServerlessConfig } from '../harness/config/serverless.js';
import { startDynamoDB, type DynamoDBProvider } from '../harness/dynamodb/provider.js';
import { LATENCY_PROFILES } from '../harness/latency.js';

const perkup = loadServerlessConfig(fileURLToPath(new URL('../serverless.yml', import.meta.url)), { refs: () => 'apiid' });
const TABLE = 'perkup-dev-partners';
let db: DynamoDBProvider | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});

async function start(options: Partial<Parameters<typeof startDynamoDB>[0]> = {}) {
  db = await startDynamoDB({ storage: 'memory', tables: perkup.tables, ...options });
  return DynamoDBDocumentClient.from(
    new DynamoDBClient({ endpoint: db.endpoint, region: 'eu-west-3', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } }),
  );
}

const inLyon = (doc: DynamoDBDocumentClient) =>
  doc
    .send(
      new QueryCommand({
        TableName: TABLE,
        IndexName: 'byCity',
        KeyConditionExpression: 'cityKey = :c',
        ExpressionAttributeValues: { ':c': 'lyon' },
      }),
    )
    .then((r) => r.Items ?? []);
// Generous: the point is that the index catches up, not how fast a loaded machine gets there.
const eventually = { timeout: 15_000, interval: 50 };

describe('F17 index lag', () => {
  it('without a lag (profile none, the default) a GSI sees a write at once', async () => {
    const doc = await start();
    await doc.send(new PutCommand({ TableName: TABLE, Item: { id: 'p1', cityKey: 'lyon', categoryKey: 'bar' } }));
    expect(await inLyon(doc)).toHaveLength(1);
  });

  it('with a lag, a GSI misses a new item, shows the old version of an updated one and keeps a deleted one — until it catches up', async () => {
    const doc = await start();
    await doc.send(new PutCommand({ TableName: TABLE, Item: { id: 'old', cityKey: 'lyon', categoryKey: 'bar', name: 'before' } }));
    await db!.faults.indexLag(2000);

    await doc.send(new PutCommand({ TableName: TABLE, Item: { id: 'new', cityKey: 'lyon', categoryKey: 'cafe' } }));
    await doc.send(
      new UpdateCommand({
        TableName: TABLE,
        Key: { id: 'old' },
        UpdateExpression: 'SET #n = :n',
        ExpressionAttributeNames: { '#n': 'name' },
        ExpressionAttributeValues: { ':n': 'after' },
      }),
    );
    // The base table is read-your-writes (a consistent GetItem), as on DynamoDB.
    expect((await doc.send(new GetCommand({ TableName: TABLE, Key: { id: 'new' }, ConsistentRead: true }))).Item).toBeDefined();
    // The index still shows the state before the writes.
    expect(await inLyon(doc)).toEqual([{ id: 'old', cityKey: 'lyon', categoryKey: 'bar', name: 'before' }]);

    await vi.waitFor(
      async () => expect((await inLyon(doc)).map((i) => `${i.id}:${i.name ?? ''}`).sort()).toEqual(['new:', 'old:after']),
      eventually,
    );

    await doc.send(new DeleteCommand({ TableName: TABLE, Key: { id: 'old' } }));
    expect((await inLyon(doc)).map((i) => i.id).sort()).toEqual(['new', 'old']);
    await vi.waitFor(async () => expect((await inLyon(doc)).map((i) => i.id)).toEqual(['new']), eventually);
  });

  it('batch writes lag too, and turning the lag off serves the index from the table again at once', async () => {
    const doc = await start();
    await db!.faults.indexLag(60_000);
    await doc.send(
      new BatchWriteCommand({
        RequestItems: {
          [TABLE]: [
            { PutRequest: { Item: { id: 'b1', cityKey: 'lyon', categoryKey: 'bar' } } },
            { PutRequest: { Item: { id: 'b2', cityKey: 'lyon', categoryKey: 'bar' } } },
          ],
        },
      }),
    );
    expect(await inLyon(doc)).toEqual([]);
    await db!.faults.indexLag(0);
    expect((await inLyon(doc)).map((i) => i.id).sort()).toEqual(['b1', 'b2']);
  });

  it("the 'aws' profile lags indexes by up to about a second; a bad lag is refused", async () => {
    expect(LATENCY_PROFILES.aws.indexLag).toEqual({ baseMs: 100, jitterMs: 900 });
    const doc = await start({ indexLag: LATENCY_PROFILES.aws.indexLag });
    await doc.send(new PutCommand({ TableName: TABLE, Item: { id: 'p1', cityKey: 'lyon', categoryKey: 'bar' } }));
    await vi.waitFor(async () => expect(await inLyon(doc)).toHaveLength(1), eventually);
    await expect(db!.faults.indexLag(-5)).rejects.toThrow('Index lag must be ≥ 0 ms');
  });
});
