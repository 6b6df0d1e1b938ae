/**
 * F14 DynamoDB: the real AWS SDK v3 over the real wire protocol to dynalite (in memory, or on disk), tables from
 * serverless.yml, TTL expiry on the emulator's clock (dynalite has none), throttling faults as DynamoDB answers
 * them. The same tables on LocalStack and Floci: test/localstack.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll } from '../src/aws/dynamoPages.js';
import { loadServerlessConfig } from '../harness/config/serverless.js';
import { startDynamoDB, type DynamoDBProvider } from '../harness/dynamodb/provider.js';
import { createClock } from '../harness/clock.js';
import { createEventLog } from '../harness/eventLog.js';

const perkup = loadServerlessConfig(fileURLToPath(new URL('../serverless.yml', import.meta.url)), { refs: () => 'apiid' });
const fixture = loadServerlessConfig(fileURLToPath(new URL('./fixtures/lambda-app/serverless.yml', import.meta.url)));
const started: DynamoDBProvider[] = [];
afterEach(async () => {
  while (started.length) await started.pop()!.close();
});

async function start(options: Parameters<typeof startDynamoDB>[0]) {
  const db = await startDynamoDB(options);
  started.push(db);
  const raw = new DynamoDBClient({ endpoint: db.endpoint, region: 'eu-west-3', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
  return { db, raw, doc: DynamoDBDocumentClient.from(raw) };
}

describe('F14 DynamoDB', () => {
  it("creates serverless.yml's tables with their keys and indexes", async () => {
    const { raw } = await start({ storage: 'memory', tables: perkup.tables });
    const { Table } = await raw.send(new DescribeTableCommand({ TableName: 'perkup-dev-connections' }));
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName)).toEqual(['byTarget']);
    const partners = await raw.send(new DescribeTableCommand({ TableName: 'perkup-dev-partners' }));
    expect(partners.Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName).sort()).toEqual(['byCategory', 'byCity', 'byGeohash']);
  });

  it('round-trips items through the real document client and records each operation', async () => {
    const eventLog = createEventLog();
    const { doc } = await start({ storage: 'memory', tables: fixture.tables, eventLog });
    await doc.send(new PutCommand({ TableName: 'fixture-test-items', Item: { id: 'a', n: 1, tags: new Set(['x']) } }));
    expect((await doc.send(new GetCommand({ TableName: 'fixture-test-items', Key: { id: 'a' } }))).Item).toEqual({
      id: 'a',
      n: 1,
      tags: new Set(['x']),
    });
    expect(
      eventLog
        .all()
        .filter((e) => e.kind === 'dynamodb')
        .map((e) => [(e as { operation: string }).operation, (e as { table?: string }).table, (e as { statusCode: number }).statusCode]),
    ).toEqual([
      ['PutItem', 'fixture-test-items', 200],
      ['GetItem', 'fixture-test-items', 200],
    ]);
  });

  it('expires items whose TTL attribute is past on the emulated clock (dynalite has no TTL of its own)', async () => {
    const clock = createClock();
    const { db, doc } = await start({ storage: 'memory', tables: fixture.tables, clock });
    const inAnHour = Math.floor(clock.now() / 1000) + 3600;
    await doc.send(new PutCommand({ TableName: 'fixture-test-items', Item: { id: 'short', expiresAt: inAnHour } }));
    await doc.send(new PutCommand({ TableName: 'fixture-test-items', Item: { id: 'long', expiresAt: inAnHour + 86_400 } }));
    await doc.send(new PutCommand({ TableName: 'fixture-test-items', Item: { id: 'forever' } }));
    expect(await db.sweepExpiredItems()).toBe(0);
    clock.advance(3601 * 1000);
    expect(await db.sweepExpiredItems()).toBe(1);
    const ids = await Promise.all(
      ['short', 'long', 'forever'].map(
        async (id) => (await doc.send(new GetCommand({ TableName: 'fixture-test-items', Key: { id } }))).Item?.id,
      ),
    );
    expect(ids).toEqual([undefined, 'long', 'forever']);
  });

  it('throttles the next N requests with ProvisionedThroughputExceededException, which the SDK retries by default', async () => {
    const { db, raw } = await start({ storage: 'memory', tables: fixture.tables });
    const noRetry = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: db.endpoint,
        region: 'eu-west-3',
        maxAttempts: 1,
        credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      }),
    );
    db.faults.throttleNext(1, { operation: 'PutItem' });
    const error = await noRetry.send(new PutCommand({ TableName: 'fixture-test-items', Item: { id: 'x' } })).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ProvisionedThroughputExceededException', $metadata: { httpStatusCode: 400 } });
    expect((await noRetry.send(new GetCommand({ TableName: 'fixture-test-items', Key: { id: 'x' } }))).Item).toBeUndefined();

    db.faults.throttleNext(2);
    const retried = await DynamoDBDocumentClient.from(raw).send(new PutCommand({ TableName: 'fixture-test-items', Item: { id: 'y' } }));
    expect(retried.$metadata.attempts).toBe(3);
  });

  it("leaves part of a BatchWriteItem unprocessed (HTTP 200, UnprocessedItems) as DynamoDB does under load; the app's resubmit loop writes it all", async () => {
    const eventLog = createEventLog();
    const { db, doc } = await start({ storage: 'memory', tables: fixture.tables, eventLog });
    const table = 'fixture-test-items';
    const put = (id: string) => ({ PutRequest: { Item: { id } } });
    const stored = async (ids: string[]) =>
      (await Promise.all(ids.map((id) => doc.send(new GetCommand({ TableName: table, Key: { id } }))))).filter((r) => r.Item).length;

    // Four requests: the later two come back, through the SDK's checksum check, and were not written.
    db.faults.unprocessedNext(1);
    const first = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: ['a', 'b', 'c', 'd'].map(put) } }));
    expect(first.UnprocessedItems).toEqual({ [table]: [put('c'), put('d')] });
    expect(await stored(['a', 'b', 'c', 'd'])).toBe(2);
    // A single request: all of it comes back; nothing is written.
    db.faults.unprocessedNext(1, { table });
    const single = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: [put('e')] } }));
    expect(single.UnprocessedItems).toEqual({ [table]: [put('e')] });
    expect(await stored(['e'])).toBe(0);
    // A fault for another table leaves this one alone.
    db.faults.unprocessedNext(1, { table: 'another-table' });
    expect((await doc.send(new BatchWriteCommand({ RequestItems: { [table]: [put('f')] } }))).UnprocessedItems).toEqual({});
    db.faults.clear();

    // The production helper resubmits what comes back until none is left.
    db.faults.unprocessedNext(3);
    const ids = Array.from({ length: 10 }, (_, i) => `batch-${i}`);
    await batchWriteAll(doc, table, ids.map(put), { sleep: async () => undefined });
    expect(await stored(ids)).toBe(10);
    expect(eventLog.all().filter((e) => e.kind === 'fault' && /^DynamoDB left \d+ request/.test(e.description)).length).toBe(5);
  });

  it('on disk, data survives a restart', async () => {
    const path = mkdtempSync(join(tmpdir(), 'dynalite-'));
    try {
      const first = await start({ storage: { path }, tables: fixture.tables });
      await first.doc.send(new PutCommand({ TableName: 'fixture-test-items', Item: { id: 'kept' } }));
      await started.pop()!.close();
      const second = await start({ storage: { path }, tables: fixture.tables });
      expect((await second.doc.send(new GetCommand({ TableName: 'fixture-test-items', Key: { id: 'kept' } }))).Item).toEqual({
        id: 'kept',
      });
    } finally {
      while (started.length) await started.pop()!.close();
      rmSync(path, { recursive: true, force: true });
    }
  });

  it('truncate() empties every table', async () => {
    const { db, doc } = await start({ storage: 'memory', tables: fixture.tables });
    await doc.send(new PutCommand({ TableName: 'fixture-test-items', Item: { id: 'gone' } }));
    await db.truncate();
    expect((await doc.send(new GetCommand({ TableName: 'fixture-test-items', Key: { id: 'gone' } }))).Item).toBeUndefined();
  });
});
