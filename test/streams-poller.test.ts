/**
 * The external stream poller (harness/dynamodb/streamsPoller.ts) reading a real DynamoDB Streams API over HTTP with
 * the real SDK client: the emulator's own streams, served on its DynamoDB port (streamsEndpoint.ts), stand in for
 * LocalStack's. Records are handed over exactly once and in order per item, across a shard rollover (children after
 * parents), after an iterator expires, after a shard ages out, and `skip` drops what was written meanwhile.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BatchWriteItemCommand, DynamoDBClient, PutItemCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { createClock } from '../harness/clock.js';
import { startDynamoDB, type DynamoDBProvider } from '../harness/dynamodb/provider.js';
import { startStreamsPoller, type StreamsPoller } from '../harness/dynamodb/streamsPoller.js';
import type { StreamRecord } from '../harness/dynamodb/streams.js';
import type { TableDefinition } from '../harness/config/serverless.js';
import { until } from './helpers/until.js';

const TABLE = 'poller-items';
const table: TableDefinition = {
  logicalId: 'Items',
  TableName: TABLE,
  AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
  KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
  BillingMode: 'PAY_PER_REQUEST',
  StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
};

const clock = createClock();
let external: DynamoDBProvider;
let db: DynamoDBClient;
let poller: StreamsPoller | undefined;
let received: StreamRecord[] = [];

beforeAll(async () => {
  external = await startDynamoDB({ storage: 'memory', tables: [table], clock, region: 'eu-west-1' });
  db = new DynamoDBClient({ endpoint: external.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
});
afterAll(async () => {
  db.destroy();
  await external.close();
});
beforeEach(() => {
  received = [];
});
afterEach(async () => {
  await poller?.stop();
  poller = undefined;
});

const start = (startingPosition: 'LATEST' | 'TRIM_HORIZON' = 'LATEST') =>
  startStreamsPoller({
    endpoint: external.endpoint,
    region: 'eu-west-1',
    dynamodb: db,
    tables: [{ tableName: TABLE, startingPosition }],
    onRecord: (tableName, record) => {
      expect(tableName).toBe(TABLE);
      received.push(record);
    },
  });

const S = (s: string): AttributeValue => ({ S: s });
const put = (id: string, v: string) => db.send(new PutItemCommand({ TableName: TABLE, Item: { id: S(id), v: S(v) } }));
const update = (id: string, v: string) =>
  db.send(
    new UpdateItemCommand({
      TableName: TABLE,
      Key: { id: S(id) },
      UpdateExpression: 'SET v = :v',
      ExpressionAttributeValues: { ':v': S(v) },
    }),
  );

/** Waits for `n` more completed GetRecords calls: anything the shards held by now has been read. */
async function settled(n = 3): Promise<void> {
  const from = poller!.counters.getRecords;
  await until(() => poller!.counters.getRecords >= from + n, `${n} more GetRecords calls`);
}

/** What the poller handed over, as "eventName id=v". */
const seen = (): string[] => received.map((r) => `${r.eventName} ${r.dynamodb.Keys.id.S}=${r.dynamodb.NewImage?.v?.S}`);
/** The records of the emulated stream, as the endpoint holds them (the truth the poller must reproduce). */
const source = (): StreamRecord[] => external.streams.streams.get(TABLE)!.records;

describe('external stream poller', () => {
  it('LATEST at start: skips what was there, then hands over every new record once, in order, as the Lambda event carries it', async () => {
    await put('old', '0');
    poller = await start('LATEST');
    const before = source().length;
    for (let i = 1; i <= 6; i++) for (const id of ['a', 'b', 'c']) await (i === 1 ? put(id, String(i)) : update(id, String(i)));
    await until(() => received.length >= 18, '18 records');
    await settled();
    expect(received.map((r) => r.eventID)).toEqual(
      source()
        .slice(before)
        .map((r) => r.eventID),
    );
    expect(new Set(received.map((r) => r.eventID)).size).toBe(18);
    for (const id of ['a', 'b', 'c'])
      expect(seen().filter((s) => s.includes(` ${id}=`))).toEqual([`INSERT ${id}=1`, ...[2, 3, 4, 5, 6].map((v) => `MODIFY ${id}=${v}`)]);
    const [first] = received;
    const streamArn = poller.streamArns.get(TABLE);
    expect(first).toMatchObject({ eventVersion: '1.1', eventSource: 'aws:dynamodb', awsRegion: 'eu-west-1', eventSourceARN: streamArn });
    expect(first.dynamodb).toEqual(source()[before].dynamodb);
  });

  it('TRIM_HORIZON across a rollover: the parent shard is read to its end before the child, each record once', async () => {
    await put('x', '1');
    // More than one GetRecords page (1,000 records) in the parent: a child read alongside would overtake it.
    for (let i = 0; i < 1100; i += 25)
      await db.send(
        new BatchWriteItemCommand({
          RequestItems: {
            [TABLE]: Array.from({ length: 25 }, (_, j) => ({ PutRequest: { Item: { id: S(`bulk-${i + j}`), v: S('0') } } })),
          },
        }),
      );
    await update('x', '2');
    external.streams.rollShard(TABLE);
    await update('x', '3');
    external.streams.rollShard(TABLE);
    await update('x', '4');
    poller = await start('TRIM_HORIZON');
    await until(() => seen().includes('MODIFY x=4'), 'the last record');
    await update('x', '5'); // and the open shard goes on being read
    await until(() => seen().includes('MODIFY x=5'), 'a record written after start');
    await settled();
    expect(seen().filter((s) => s.includes(' x='))).toEqual(['INSERT x=1', 'MODIFY x=2', 'MODIFY x=3', 'MODIFY x=4', 'MODIFY x=5']);
    // Everything the stream holds, in sequence order (parents' records come before their children's).
    expect(received.map((r) => r.eventID)).toEqual(source().map((r) => r.eventID));
  });

  it('more shards than one DescribeStream page (100): the poller pages with ExclusiveStartShardId and reaches the last', async () => {
    for (let i = 0; i < 110; i++) external.streams.rollShard(TABLE);
    expect(external.streams.streams.get(TABLE)!.shards.length).toBeGreaterThan(100);
    poller = await start('LATEST');
    await put('p', '1'); // in the open shard, which only the last page of DescribeStream lists
    await until(() => received.length >= 1, 'the record in the last shard');
    await settled();
    expect(seen()).toEqual(['INSERT p=1']);
  });

  it('a rollover while reading: the child shard is found and read after the parent', async () => {
    poller = await start('LATEST');
    await put('r', '1');
    await until(() => seen().includes('INSERT r=1'), 'the first record');
    external.streams.rollShard(TABLE);
    await update('r', '2');
    await update('r', '3');
    await until(() => seen().includes('MODIFY r=3'), 'the child shard');
    await settled();
    expect(seen()).toEqual(['INSERT r=1', 'MODIFY r=2', 'MODIFY r=3']);
  });

  it('an expired iterator (15 minutes on the endpoint clock) is replaced after the last record read: nothing lost or repeated', async () => {
    poller = await start('LATEST');
    await put('e', '1');
    await until(() => received.length === 1, 'the first record');
    clock.advance(16 * 60 * 1000);
    await put('e', '2');
    await until(() => poller!.counters.expiredIterators >= 1 && received.length >= 2, 'the expiry and the next record');
    await settled();
    expect(seen()).toEqual(['INSERT e=1', 'MODIFY e=2']);
  });

  it('a shard that aged out (24 hours) is left for its child; the next record arrives once', async () => {
    poller = await start('LATEST');
    await put('t', '1');
    await until(() => received.length === 1, 'the first record');
    clock.advance(25 * 60 * 60 * 1000);
    await update('t', '2'); // trims 't=1' and rolls the shard over: the poller's shard is gone
    await until(() => received.length >= 2, 'the record in the child shard');
    await settled();
    expect(seen()).toEqual(['INSERT t=1', 'MODIFY t=2']);
  });

  it('LimitExceededException: the poller backs off and reads on; each record still arrives once', async () => {
    poller = await start('LATEST');
    external.streamsEndpoint.limitGetRecords(3);
    await put('l', '1');
    await update('l', '2');
    await until(() => received.length >= 2, 'the records after the throttling');
    await settled();
    expect(poller.counters.throttled).toBe(3);
    expect(seen()).toEqual(['INSERT l=1', 'MODIFY l=2']);
  });

  it('skip: records written while skipping are never handed over; the next ones are', async () => {
    poller = await start('LATEST');
    await put('s', '1');
    await until(() => received.length === 1, 'the first record');
    await poller.skip(async () => {
      await update('s', '2');
      await update('s', '3');
    });
    await update('s', '4');
    await until(() => received.length >= 2, 'the record after the skip');
    await settled();
    expect(seen()).toEqual(['INSERT s=1', 'MODIFY s=4']);
  });

  it('a table without a stream on the endpoint is a clear error at start, not a silent loss', async () => {
    const plain = await startDynamoDB({ storage: 'memory', tables: [{ ...table, StreamSpecification: undefined }], region: 'eu-west-1' });
    const client = new DynamoDBClient({
      endpoint: plain.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    try {
      await expect(
        startStreamsPoller({
          endpoint: plain.endpoint,
          region: 'eu-west-1',
          dynamodb: client,
          tables: [{ tableName: TABLE, startingPosition: 'LATEST' }],
          onRecord: () => undefined,
        }),
      ).rejects.toThrow(/poller-items has no stream on the DynamoDB endpoint/);
    } finally {
      client.destroy();
      await plain.close();
    }
  });
});
