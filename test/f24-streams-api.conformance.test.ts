/**
 * F24 The DynamoDB Streams API the emulator serves on its DynamoDB port (harness/dynamodb/streamsEndpoint.ts), read
 * with the real `@aws-sdk/client-dynamodb-streams` client, against AWS's API reference: DescribeTable's
 * LatestStreamArn, ListStreams, DescribeStream (shards, parents, paging), GetShardIterator (the four types), GetRecords
 * (the record shape, NextShardIterator, closed shards) and the documented errors (ResourceNotFoundException,
 * ValidationException, ExpiredIteratorException after 15 minutes, TrimmedDataAccessException after 24 hours).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListStreamsCommand,
  ResourceNotFoundException,
  TrimmedDataAccessException,
  type _Record,
} from '@aws-sdk/client-dynamodb-streams';
import { createClock } from '../harness/clock.js';
import { startDynamoDB, type DynamoDBProvider } from '../harness/dynamodb/provider.js';
import type { TableDefinition } from '../harness/config/serverless.js';

const TABLE = 'streams-api-items';
const table: TableDefinition = {
  logicalId: 'Items',
  TableName: TABLE,
  AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
  KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
  BillingMode: 'PAY_PER_REQUEST',
  StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
};
const plain: TableDefinition = { ...table, logicalId: 'Plain', TableName: 'streams-api-plain', StreamSpecification: undefined };

const clock = createClock();
let dynamodb: DynamoDBProvider;
let db: DynamoDBClient;
let streams: DynamoDBStreamsClient;
let arn: string;

beforeAll(async () => {
  dynamodb = await startDynamoDB({ storage: 'memory', tables: [table, plain], clock, region: 'eu-west-1' });
  const config = { endpoint: dynamodb.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };
  db = new DynamoDBClient(config);
  streams = new DynamoDBStreamsClient(config);
  arn = (await db.send(new DescribeTableCommand({ TableName: TABLE }))).Table!.LatestStreamArn!;
});
afterAll(async () => {
  db.destroy();
  streams.destroy();
  await dynamodb.close();
});
beforeEach(() => dynamodb.truncate());

const S = (s: string): AttributeValue => ({ S: s });
const put = (id: string, extra: Record<string, AttributeValue> = {}) =>
  db.send(new PutItemCommand({ TableName: TABLE, Item: { id: S(id), ...extra } }));
const shards = async () => (await streams.send(new DescribeStreamCommand({ StreamArn: arn }))).StreamDescription!.Shards!;
const openShard = async () => (await shards()).find((s) => !s.SequenceNumberRange?.EndingSequenceNumber)!.ShardId!;
const iterator = async (ShardId: string, type: 'TRIM_HORIZON' | 'LATEST' = 'TRIM_HORIZON') =>
  (await streams.send(new GetShardIteratorCommand({ StreamArn: arn, ShardId, ShardIteratorType: type }))).ShardIterator!;
const ids = (records: _Record[] | undefined) => (records ?? []).map((r) => `${r.eventName} ${r.dynamodb?.Keys?.id?.S}`);

describe('tables and streams', () => {
  it('DescribeTable of a streamed table shows StreamSpecification, LatestStreamArn and LatestStreamLabel; a plain one none', async () => {
    const { Table } = await db.send(new DescribeTableCommand({ TableName: TABLE }));
    expect(Table?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(Table?.LatestStreamArn).toBe(`arn:aws:dynamodb:eu-west-1:123456789012:table/${TABLE}/stream/${Table?.LatestStreamLabel}`);
    const other = await db.send(new DescribeTableCommand({ TableName: plain.TableName }));
    expect(other.Table?.LatestStreamArn).toBeUndefined();
    expect(other.Table?.StreamSpecification).toBeUndefined();
  });

  it('CreateTable with a StreamSpecification starts a stream that records the new table writes', async () => {
    const created = await db.send(
      new CreateTableCommand({
        TableName: 'streams-api-created',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        StreamSpecification: { StreamEnabled: true, StreamViewType: 'KEYS_ONLY' },
      }),
    );
    const streamArn = created.TableDescription?.LatestStreamArn;
    expect(streamArn).toMatch(/^arn:aws:dynamodb:eu-west-1:123456789012:table\/streams-api-created\/stream\/\d{4}-\d\d-\d\dT/);
    await db.send(new PutItemCommand({ TableName: 'streams-api-created', Item: { pk: S('a'), v: S('1') } }));
    const { StreamDescription } = await streams.send(new DescribeStreamCommand({ StreamArn: streamArn }));
    expect(StreamDescription).toMatchObject({ StreamStatus: 'ENABLED', StreamViewType: 'KEYS_ONLY', TableName: 'streams-api-created' });
    const ShardIterator = (
      await streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: StreamDescription!.Shards![0].ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    const { Records } = await streams.send(new GetRecordsCommand({ ShardIterator }));
    expect(Records?.map((r) => r.dynamodb)).toEqual([expect.objectContaining({ Keys: { pk: S('a') }, StreamViewType: 'KEYS_ONLY' })]);
    expect(Records?.[0].dynamodb?.NewImage).toBeUndefined();
  });

  it('ListStreams lists the streams, by table and in pages', async () => {
    const all = await streams.send(new ListStreamsCommand({}));
    expect(all.Streams?.map((s) => s.TableName)).toContain(TABLE);
    expect(all.Streams?.map((s) => s.TableName)).not.toContain(plain.TableName);
    const one = await streams.send(new ListStreamsCommand({ TableName: TABLE }));
    expect(one.Streams).toEqual([{ StreamArn: arn, TableName: TABLE, StreamLabel: arn.split('/stream/')[1] }]);
    const page = await streams.send(new ListStreamsCommand({ Limit: 1 }));
    expect(page.Streams).toHaveLength(1);
    expect(page.LastEvaluatedStreamArn).toBe(page.Streams![0].StreamArn);
  });
});

describe('reading records', () => {
  it('GetRecords answers the records in order with the Streams API shape, and a NextShardIterator on an open shard', async () => {
    await put('a', { v: S('1') });
    await db.send(
      new UpdateItemCommand({
        TableName: TABLE,
        Key: { id: S('a') },
        UpdateExpression: 'SET v = :v',
        ExpressionAttributeValues: { ':v': S('2') },
      }),
    );
    await db.send(new DeleteItemCommand({ TableName: TABLE, Key: { id: S('a') } }));
    const shard = await openShard();
    const first = await streams.send(new GetRecordsCommand({ ShardIterator: await iterator(shard) }));
    expect(ids(first.Records)).toEqual(['INSERT a', 'MODIFY a', 'REMOVE a']);
    const [insert, modify] = first.Records!;
    expect(insert).toMatchObject({ eventVersion: '1.1', eventSource: 'aws:dynamodb', awsRegion: 'eu-west-1' });
    expect(insert.dynamodb?.ApproximateCreationDateTime).toBeInstanceOf(Date);
    expect(modify.dynamodb).toMatchObject({
      Keys: { id: S('a') },
      OldImage: { id: S('a'), v: S('1') },
      NewImage: { id: S('a'), v: S('2') },
      StreamViewType: 'NEW_AND_OLD_IMAGES',
    });
    const numbers = first.Records!.map((r) => BigInt(r.dynamodb!.SequenceNumber!));
    expect([...numbers].sort((x, y) => (x < y ? -1 : 1))).toEqual(numbers);
    // Nothing new: an empty page and a fresh iterator that sees the next write.
    const empty = await streams.send(new GetRecordsCommand({ ShardIterator: first.NextShardIterator }));
    expect(empty.Records).toEqual([]);
    expect(empty.NextShardIterator).toBeTruthy();
    await put('b');
    expect(ids((await streams.send(new GetRecordsCommand({ ShardIterator: empty.NextShardIterator }))).Records)).toEqual(['INSERT b']);
  });

  it('Limit pages the records; LATEST, AT_ and AFTER_SEQUENCE_NUMBER start where AWS says', async () => {
    for (const id of ['a', 'b', 'c']) await put(id);
    const shard = await openShard();
    const page = await streams.send(new GetRecordsCommand({ ShardIterator: await iterator(shard), Limit: 2 }));
    expect(ids(page.Records)).toEqual(['INSERT a', 'INSERT b']);
    expect(ids((await streams.send(new GetRecordsCommand({ ShardIterator: page.NextShardIterator }))).Records)).toEqual(['INSERT c']);
    const b = page.Records![1].dynamodb!.SequenceNumber!;
    const at = await streams.send(
      new GetShardIteratorCommand({ StreamArn: arn, ShardId: shard, ShardIteratorType: 'AT_SEQUENCE_NUMBER', SequenceNumber: b }),
    );
    expect(ids((await streams.send(new GetRecordsCommand({ ShardIterator: at.ShardIterator }))).Records)).toEqual(['INSERT b', 'INSERT c']);
    const after = await streams.send(
      new GetShardIteratorCommand({ StreamArn: arn, ShardId: shard, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: b }),
    );
    expect(ids((await streams.send(new GetRecordsCommand({ ShardIterator: after.ShardIterator }))).Records)).toEqual(['INSERT c']);
    const latest = await iterator(shard, 'LATEST');
    await put('d');
    expect(ids((await streams.send(new GetRecordsCommand({ ShardIterator: latest }))).Records)).toEqual(['INSERT d']);
  });

  it('a rollover closes the shard: DescribeStream shows the child with its parent, the closed shard ends without a NextShardIterator', async () => {
    await put('before');
    const parent = await openShard();
    const parentIterator = await iterator(parent);
    const child = dynamodb.streams.rollShard(TABLE);
    await put('after');
    const listed = await shards();
    const closed = listed.find((s) => s.ShardId === parent)!;
    expect(closed.SequenceNumberRange?.EndingSequenceNumber).toBeTruthy();
    expect(listed.find((s) => s.ShardId === child.shardId)).toMatchObject({ ParentShardId: parent });
    const fromParent = await streams.send(new GetRecordsCommand({ ShardIterator: parentIterator }));
    expect(ids(fromParent.Records)).toEqual(['INSERT before']);
    expect(fromParent.NextShardIterator).toBeUndefined();
    expect(ids((await streams.send(new GetRecordsCommand({ ShardIterator: await iterator(child.shardId) }))).Records)).toEqual([
      'INSERT after',
    ]);
  });

  it('DescribeStream pages the shards with Limit and ExclusiveStartShardId', async () => {
    dynamodb.streams.rollShard(TABLE);
    dynamodb.streams.rollShard(TABLE);
    const all = await shards();
    expect(all.length).toBeGreaterThanOrEqual(3);
    const seen: string[] = [];
    let start: string | undefined;
    do {
      const { StreamDescription } = await streams.send(
        new DescribeStreamCommand({ StreamArn: arn, Limit: 2, ExclusiveStartShardId: start }),
      );
      seen.push(...StreamDescription!.Shards!.map((s) => s.ShardId!));
      start = StreamDescription!.LastEvaluatedShardId;
    } while (start);
    expect(seen).toEqual(all.map((s) => s.ShardId));
  });
});

describe('errors', () => {
  it('an unknown stream or shard is ResourceNotFoundException; a bad iterator type, Limit or iterator is ValidationException', async () => {
    const missing = `${arn.split('/stream/')[0]}-nope/stream/2026-01-01T00:00:00.000`;
    await expect(streams.send(new DescribeStreamCommand({ StreamArn: missing }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(
      streams.send(
        new GetShardIteratorCommand({ StreamArn: arn, ShardId: 'shardId-00000000000000000000-deadbeef', ShardIteratorType: 'LATEST' }),
      ),
    ).rejects.toBeInstanceOf(ResourceNotFoundException);
    const shard = await openShard();
    await expect(
      streams.send(new GetShardIteratorCommand({ StreamArn: arn, ShardId: shard, ShardIteratorType: 'AT_SEQUENCE_NUMBER' })),
    ).rejects.toMatchObject({ name: 'ValidationException' });
    await expect(streams.send(new GetRecordsCommand({ ShardIterator: await iterator(shard), Limit: 1001 }))).rejects.toMatchObject({
      name: 'ValidationException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(streams.send(new GetRecordsCommand({ ShardIterator: 'not-an-iterator' }))).rejects.toMatchObject({
      name: 'ValidationException',
    });
  });

  it('an iterator unused for 15 minutes (on the emulator clock) is ExpiredIteratorException', async () => {
    const stale = await iterator(await openShard());
    clock.advance(15 * 60 * 1000 + 1000);
    await expect(streams.send(new GetRecordsCommand({ ShardIterator: stale }))).rejects.toBeInstanceOf(ExpiredIteratorException);
  });

  it('records past 24 hours are trimmed: an iterator before them is TrimmedDataAccessException; TRIM_HORIZON starts after them', async () => {
    await put('old');
    clock.advance(24 * 60 * 60 * 1000 - 5 * 60 * 1000);
    const early = await iterator(await openShard()); // fresh, and positioned before 'old'
    clock.advance(10 * 60 * 1000);
    await put('new'); // appending trims what is past retention (and rolls the shard over: it is older than 4 hours)
    await expect(streams.send(new GetRecordsCommand({ ShardIterator: early }))).rejects.toBeInstanceOf(TrimmedDataAccessException);
    expect(ids((await streams.send(new GetRecordsCommand({ ShardIterator: await iterator(await openShard()) }))).Records)).toEqual([
      'INSERT new',
    ]);
  });
});
