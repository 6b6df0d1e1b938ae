/**
 * F18 DynamoDB Streams and Lambda event source mappings, against AWS's documentation ("Using AWS Lambda with Amazon
 * DynamoDB", "Configuring partial batch response with DynamoDB and Lambda", SQS visibility timeout and redrive):
 * record shapes and order, TTL deletions, batch size and window, bisect, ReportBatchItemFailures checkpoints,
 * retries, the on-failure destination, and SQS's visibility timeout and dead-letter queue — with real SDK clients
 * writing to dynalite through the emulator and real handlers in Lambda containers.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import {
  BatchWriteItemCommand,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { startEmulator, type Emulator } from '../harness/emulator.js';
import type { StreamRecord } from '../harness/dynamodb/streams.js';
import type { LoggedEvent } from '../harness/eventLog.js';
import { until as waitUntil } from './helpers/until.js';

let emulator: Emulator;
let db: DynamoDBClient;
const ITEMS = 'streamfix-items';

beforeAll(async () => {
  emulator = await startEmulator({ projectRoot: fileURLToPath(new URL('./fixtures/stream-app', import.meta.url)), streamRetryDelayMs: 1 });
  db = new DynamoDBClient({
    endpoint: emulator.dynamodb.endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
});
afterAll(async () => {
  db.destroy();
  await emulator.close();
});
beforeEach(() => emulator.reset());

const records = (table = ITEMS): StreamRecord[] => emulator.dynamodb.streams.streams.get(table)?.records ?? [];
const S = (s: string): AttributeValue => ({ S: s });
const put = (id: string, extra: Record<string, AttributeValue> = {}) =>
  db.send(new PutItemCommand({ TableName: ITEMS, Item: { id: S(id), ...extra } }));
const putAll = (items: Array<Record<string, AttributeValue>>, table = ITEMS) =>
  db.send(new BatchWriteItemCommand({ RequestItems: { [table]: items.map((Item) => ({ PutRequest: { Item } })) } }));

const until = <T>(probe: () => T | undefined | false, what: string, ms = 10_000) => waitUntil(probe, what, ms);

/** The batches a handler saw (its own log lines), as lists of item ids. */
const handlerBatches = (functionName: string): string[][] =>
  emulator.eventLog
    .all()
    .filter((e): e is Extract<LoggedEvent, { kind: 'log' }> => e.kind === 'log' && e.functionName === functionName && e.message === 'batch')
    .map((e) => e.data!.keys as string[]);
const batchEvents = (functionName: string) =>
  emulator.eventLog
    .all()
    .filter((e): e is Extract<LoggedEvent, { kind: 'batch' }> => e.kind === 'batch' && e.functionName === functionName);

describe('F18 DynamoDB Streams: records', () => {
  it("INSERT, MODIFY and REMOVE carry AWS's fields; a write that changes nothing or fails its condition writes no record", async () => {
    await put('a', { n: { N: '1' } });
    await put('a', { n: { N: '1' } }); // same item: no record
    await db.send(
      new UpdateItemCommand({
        TableName: ITEMS,
        Key: { id: S('a') },
        UpdateExpression: 'SET n = :two',
        ExpressionAttributeValues: { ':two': { N: '2' } },
      }),
    );
    await expect(
      put('a', {}).then(() =>
        db.send(new PutItemCommand({ TableName: ITEMS, Item: { id: S('a') }, ConditionExpression: 'attribute_not_exists(id)' })),
      ),
    ).rejects.toThrow(/conditional/i);
    await db.send(new DeleteItemCommand({ TableName: ITEMS, Key: { id: S('a') } }));
    await db.send(new DeleteItemCommand({ TableName: ITEMS, Key: { id: S('never-there') } })); // no record

    const got = records();
    expect(got.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'MODIFY', 'REMOVE']);
    const [insert, modify] = got;
    // The documented record: eventID, eventName, eventVersion, eventSource, awsRegion, dynamodb{…}, eventSourceARN.
    expect(Object.keys(insert).sort()).toEqual([
      'awsRegion',
      'dynamodb',
      'eventID',
      'eventName',
      'eventSource',
      'eventSourceARN',
      'eventVersion',
    ]);
    expect(insert).toMatchObject({
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: 'eu-west-1',
      eventSourceARN: expect.stringMatching(
        /^arn:aws:dynamodb:eu-west-1:\d{12}:table\/streamfix-items\/stream\/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/,
      ),
      dynamodb: {
        Keys: { id: S('a') },
        NewImage: { id: S('a'), n: { N: '1' } },
        StreamViewType: 'NEW_AND_OLD_IMAGES',
        SequenceNumber: expect.stringMatching(/^\d{21}$/),
        SizeBytes: expect.any(Number),
      },
    });
    expect(insert.dynamodb.OldImage).toBeUndefined();
    expect(insert.dynamodb.ApproximateCreationDateTime).toBe(Math.floor(insert.dynamodb.ApproximateCreationDateTime));
    expect(modify.dynamodb).toMatchObject({ OldImage: { id: S('a'), n: { N: '1' } }, NewImage: { id: S('a'), n: { N: '2' } } });
    expect(got[3].dynamodb.NewImage).toBeUndefined();
    expect(got[3].dynamodb.OldImage).toEqual({ id: S('a') });
    expect(new Set(got.map((r) => r.eventID)).size).toBe(4);
    const sequence = got.map((r) => BigInt(r.dynamodb.SequenceNumber));
    expect([...sequence].sort((x, y) => (x < y ? -1 : 1))).toEqual(sequence);
    expect(emulator.eventLog.all().filter((e) => e.kind === 'streamRecord')).toHaveLength(4);
  });

  it("per item, records follow the writes' order: 20 concurrent increments chain OldImage to the previous NewImage", async () => {
    await put('counter', { n: { N: '0' } });
    await Promise.all(
      Array.from({ length: 20 }, () =>
        db.send(
          new UpdateItemCommand({
            TableName: ITEMS,
            Key: { id: S('counter') },
            UpdateExpression: 'ADD n :one',
            ExpressionAttributeValues: { ':one': { N: '1' } },
          }),
        ),
      ),
    );
    const modifies = records().filter((r) => r.eventName === 'MODIFY');
    expect(modifies.map((r) => Number(r.dynamodb.NewImage!.n.N))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    for (const r of modifies) expect(Number(r.dynamodb.OldImage!.n.N)).toBe(Number(r.dynamodb.NewImage!.n.N) - 1);
  });

  it('KEYS_ONLY records carry the keys and no image; a table without StreamSpecification has no stream', async () => {
    await putAll([{ pk: S('p'), sk: S('1'), payload: S('x') }], 'streamfix-plain');
    expect(records('streamfix-plain')[0].dynamodb).toMatchObject({ Keys: { pk: S('p'), sk: S('1') }, StreamViewType: 'KEYS_ONLY' });
    expect(records('streamfix-plain')[0].dynamodb.NewImage).toBeUndefined();
    await db.send(new PutItemCommand({ TableName: 'streamfix-unstreamed', Item: { id: S('u') } }));
    expect(emulator.dynamodb.streams.streams.has('streamfix-unstreamed')).toBe(false);
  });

  it('a TTL deletion is a REMOVE whose userIdentity is the DynamoDB service', async () => {
    const past = Math.floor(emulator.clock.now() / 1000) - 10;
    await put('expiring', { expiresAt: { N: String(past) } });
    await put('staying', { expiresAt: { N: String(past + 100_000) } });
    await emulator.dynamodb.sweepExpiredItems();
    const removes = records().filter((r) => r.eventName === 'REMOVE');
    expect(removes).toHaveLength(1);
    expect(removes[0]).toMatchObject({
      userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' },
      dynamodb: { Keys: { id: S('expiring') }, OldImage: { id: S('expiring') } },
    });
    // A user's delete has no userIdentity.
    await db.send(new DeleteItemCommand({ TableName: ITEMS, Key: { id: S('staying') } }));
    expect(records().at(-1)!.userIdentity).toBeUndefined();
  });
});

describe('F18 event source mapping (DynamoDB stream)', () => {
  it('batches hold at most batchSize records, in stream order, every record delivered once on success', async () => {
    await putAll(['r1', 'r2', 'r3', 'r4', 'r5', 'r6'].map((id) => ({ id: S(id) })));
    await until(() => handlerBatches('consumer').flat().length >= 6, 'six records delivered');
    await emulator.mappingsIdle();
    const batches = handlerBatches('consumer');
    expect(batches.every((b) => b.length <= 4)).toBe(true);
    expect(batches.flat()).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
  });

  it("a batch holds only the records whose event fits Lambda's 6 MB payload, measured on the event's JSON", async () => {
    // 380,000 of a control character: an item DynamoDB takes (under 400 KB), ~2.3 MB per record once JSON escapes it
    // (\u0001). Four in one batch (batchSize 4) would be a 9 MB event, which Lambda would refuse: AWS sends fewer.
    const heavy = '\u0001'.repeat(380_000);
    await putAll(['h1', 'h2', 'h3', 'h4'].map((id) => ({ id: S(id), blob: S(heavy) })));
    await until(() => handlerBatches('consumer').flat().length >= 4, 'four heavy records delivered');
    await emulator.mappingsIdle();
    expect(handlerBatches('consumer')).toEqual([
      ['h1', 'h2'],
      ['h3', 'h4'],
    ]);
    expect(batchEvents('consumer').map((e) => e.action)).toEqual(['invoke', 'ok', 'invoke', 'ok']);
  });

  it('maximumBatchingWindow: records wait for the window on the emulated clock, then go in one batch', async () => {
    await putAll(
      [1, 2, 3].map((n) => ({ pk: S('w'), sk: S(String(n)) })),
      'streamfix-plain',
    );
    await new Promise((r) => setImmediate(r));
    expect(handlerBatches('plain')).toEqual([]);
    emulator.clock.advance(5000);
    await until(() => handlerBatches('plain').length > 0, 'the window to close');
    expect(handlerBatches('plain')).toEqual([['w', 'w', 'w']]);
  });

  it('a reset drops the records still waiting for the window (their batch never runs); records written after it are delivered', async () => {
    const invocations = (): number => emulator.invoker.stats().plain.invocations;
    const before = invocations();
    await putAll(
      [1, 2].map((n) => ({ pk: S('before-reset'), sk: S(String(n)) })),
      'streamfix-plain',
    );
    await new Promise((r) => setImmediate(r));
    await emulator.reset();
    // Were they still pending, this would close their window.
    emulator.clock.advance(5000);
    await putAll([{ pk: S('after-reset'), sk: S('1') }], 'streamfix-plain');
    await new Promise((r) => setImmediate(r));
    emulator.clock.advance(5000);
    await until(() => handlerBatches('plain').length > 0, 'the batch written after the reset');
    await emulator.mappingsIdle();
    expect(handlerBatches('plain')).toEqual([['after-reset']]);
    expect(invocations() - before).toBe(1);
  });

  it('bisect: a failing batch is split until the failing record is alone; it is retried maximumRetryAttempts times, then described on the on-failure queue; the others are delivered', async () => {
    await putAll([{ id: S('a') }, { id: S('b'), behaviour: S('throw') }, { id: S('c') }, { id: S('d') }]);
    const failure = await until(() => emulator.queues.messages('streamfix-failures')[0], 'the on-failure message');
    await emulator.mappingsIdle();
    // A handler's log lines travel on its container's stdout, which may trail the invocation's result.
    await until(() => handlerBatches('consumer').length >= 7, "the handler's log lines");
    expect(handlerBatches('consumer')).toEqual([['a', 'b', 'c', 'd'], ['a', 'b'], ['a'], ['b'], ['b'], ['b'], ['c', 'd']]);
    const b = records().find((r) => r.dynamodb.Keys.id.S === 'b')!;
    // AWS's invocation record for a stream: where the batch is, not the records.
    expect(JSON.parse(failure.body)).toEqual({
      requestContext: {
        requestId: expect.any(String),
        functionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:streamfix-test-consumer',
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 3,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: expect.any(String),
      DDBStreamBatchInfo: {
        shardId: expect.stringMatching(/^shardId-/),
        startSequenceNumber: b.dynamodb.SequenceNumber,
        endSequenceNumber: b.dynamodb.SequenceNumber,
        approximateArrivalOfFirstRecord: expect.any(String),
        approximateArrivalOfLastRecord: expect.any(String),
        batchSize: 1,
        streamArn: b.eventSourceARN,
      },
    });
    expect(batchEvents('consumer').map((e) => e.action)).toContain('bisect');
  });

  it('ReportBatchItemFailures: Lambda checkpoints before the lowest failed sequence number and retries from it', async () => {
    await putAll([{ id: S('a') }, { id: S('b'), behaviour: S('report') }, { id: S('c') }]);
    await until(() => batchEvents('consumer').some((e) => e.action === 'ok'), 'the retry');
    await until(() => handlerBatches('consumer').length >= 2, "the handler's log lines");
    expect(handlerBatches('consumer')).toEqual([
      ['a', 'b', 'c'],
      ['b', 'c'],
    ]);
    expect(batchEvents('consumer').map((e) => e.action)).toEqual(['invoke', 'partial', 'retry', 'invoke', 'ok']);
  });

  it('an empty itemIdentifier fails the whole batch (then bisect splits it)', async () => {
    await putAll([{ id: S('a'), behaviour: S('bad-id') }, { id: S('b') }]);
    await until(() => batchEvents('consumer').filter((e) => e.action === 'ok').length >= 2, 'the retries');
    await until(() => handlerBatches('consumer').length >= 3, "the handler's log lines");
    expect(handlerBatches('consumer')).toEqual([['a', 'b'], ['a'], ['b']]);
  });

  it('a timed-out batch is retried whole (no bisect here) and delivered', async () => {
    emulator.invoker.faults.timeoutNext('plain');
    await putAll([{ pk: S('t'), sk: S('1') }], 'streamfix-plain');
    emulator.clock.advance(5000);
    await until(() => batchEvents('plain').some((e) => e.action === 'ok'), 'the retried batch');
    expect(
      batchEvents('plain').map((e) => e.action),
      JSON.stringify(emulator.eventLog.all().filter((e) => e.kind === 'invoke' || e.kind === 'batch' || e.kind === 'fault')),
    ).toEqual(['invoke', 'error', 'retry', 'invoke', 'ok']);
    expect(batchEvents('plain')[1].detail).toMatch(/Task timed out/);
  });
});

describe('F18 SQS queue and its event source mapping', () => {
  it('a handled message is deleted; a failed one comes back after the visibility timeout and, past maxReceiveCount, moves to the dead-letter queue', async () => {
    emulator.queues.send('streamfix-work', 'fine');
    await until(() => batchEvents('worker').some((e) => e.action === 'ok'), 'the worker');
    expect(emulator.queues.messages('streamfix-work')).toHaveLength(0);

    emulator.queues.send('streamfix-work', 'fail');
    await until(() => batchEvents('worker').filter((e) => e.action === 'error').length === 1, 'the first failure');
    expect(emulator.queues.messages('streamfix-work')).toHaveLength(1); // invisible, not deleted
    emulator.clock.advance(30_000);
    await until(() => batchEvents('worker').filter((e) => e.action === 'error').length === 2, 'the second receive');
    emulator.clock.advance(30_000);
    const dead = await until(() => emulator.queues.messages('streamfix-work-dlq')[0], 'the redrive');
    expect(dead.body).toBe('fail');
    expect(emulator.queues.messages('streamfix-work')).toHaveLength(0);
    const failLines = emulator.eventLog
      .all()
      .filter(
        (e): e is Extract<LoggedEvent, { kind: 'log' }> =>
          e.kind === 'log' && e.functionName === 'worker' && ((e.data?.bodies as string[] | undefined) ?? []).includes('fail'),
      );
    expect(failLines.map((e) => e.data!.receiveCounts)).toEqual([['1'], ['2']]);
  });

  it("a batch holds as many messages as fit Lambda's 6 MB payload, whatever batchSize says; the rest wait, unreceived", async () => {
    // Ten messages of 1,000,000 bytes (under the queue's 1 MiB) and batchSize 10: one batch would be a 10 MB event,
    // which Lambda refuses. AWS sends what fits — six (6.0 MB with their envelopes) — then the other four.
    const body = 'x'.repeat(1_000_000);
    for (let i = 0; i < 10; i++) emulator.queues.send('streamfix-bulk', body);
    const delivered = () =>
      emulator.eventLog
        .all()
        .filter((e): e is Extract<LoggedEvent, { kind: 'log' }> => e.kind === 'log' && e.functionName === 'bulk')
        .map((e) => (e.data!.sizes as number[]).length);
    await until(() => delivered().reduce((a, b) => a + b, 0) >= 10, 'ten messages delivered');
    await emulator.mappingsIdle();
    expect(delivered().sort((a, b) => a - b)).toEqual([4, 6]); // two containers at once: either may log first
    expect(batchEvents('bulk').map((e) => e.action)).toEqual(['invoke', 'invoke', 'ok', 'ok']);
    expect(emulator.queues.messages('streamfix-bulk')).toHaveLength(0);
  });

  it('ReportBatchItemFailures: only the listed messages stay; the rest are deleted', async () => {
    emulator.queues.send('streamfix-work', 'partial');
    emulator.queues.send('streamfix-work', 'fine');
    await until(() => batchEvents('worker').some((e) => e.action === 'partial'), 'the partial answer');
    expect(emulator.queues.messages('streamfix-work').map((m) => m.body)).toEqual(['partial']);
  });

  /** One SQS API call over the AWS JSON protocol, as the SDK sends it. */
  const call = (target: string, body: object) =>
    emulator.queues.handle({
      method: 'POST',
      path: '/',
      headers: { 'x-amz-target': `AmazonSQS.${target}` },
      body: Buffer.from(JSON.stringify(body)),
    });

  it('the SQS API over the AWS JSON protocol: SendMessageBatch answers MD5s; an unknown queue is QueueDoesNotExist', async () => {
    const url = emulator.app.queues.find((q) => q.QueueName === 'streamfix-failures')!.url;
    const sent = await call('SendMessageBatch', { QueueUrl: url, Entries: [{ Id: '0', MessageBody: 'hello' }] });
    expect(JSON.parse(Buffer.from(sent.body).toString())).toEqual({
      Successful: [{ Id: '0', MessageId: expect.any(String), MD5OfMessageBody: '5d41402abc4b2a76b9719d911017c592' }],
      Failed: [],
    });
    const missing = await call('SendMessage', { QueueUrl: `${url}-nope`, MessageBody: 'x' });
    expect(missing.statusCode).toBe(400);
    expect(JSON.parse(Buffer.from(missing.body).toString()).__type).toBe('com.amazonaws.sqs#QueueDoesNotExist');
  });

  it("SQS limits as AWS answers them: the queue's MaximumMessageSize bounds a message and a batch's messages together", async () => {
    const queue = emulator.app.queues.find((q) => q.QueueName === 'streamfix-failures')!;
    expect(queue.MaximumMessageSize).toBe(1_048_576); // AWS's default since 2025 when the template sets none
    const before = emulator.queues.messages('streamfix-failures').length;
    const third = 'x'.repeat(Math.ceil(queue.MaximumMessageSize / 3) + 1);
    const errorOf = async (target: string, body: object) => {
      const answer = await call(target, body);
      return {
        status: answer.statusCode,
        type: JSON.parse(Buffer.from(answer.body).toString()).__type,
        query: answer.headers['x-amzn-query-error'],
      };
    };
    const entries = (n: number, body: string) => Array.from({ length: n }, (_, i) => ({ Id: String(i), MessageBody: body }));
    expect(await errorOf('SendMessageBatch', { QueueUrl: queue.url, Entries: entries(3, third) })).toEqual({
      status: 400,
      type: 'com.amazonaws.sqs#BatchRequestTooLong',
      query: 'AWS.SimpleQueueService.BatchRequestTooLong;Sender',
    });
    expect(await errorOf('SendMessageBatch', { QueueUrl: queue.url, Entries: entries(11, 'a') })).toMatchObject({
      status: 400,
      type: 'com.amazonaws.sqs#TooManyEntriesInBatchRequest',
    });
    expect(await errorOf('SendMessageBatch', { QueueUrl: queue.url, Entries: [] })).toMatchObject({
      status: 400,
      type: 'com.amazonaws.sqs#EmptyBatchRequest',
    });
    expect(await errorOf('SendMessage', { QueueUrl: queue.url, MessageBody: 'x'.repeat(queue.MaximumMessageSize + 1) })).toMatchObject({
      status: 400,
      type: 'com.amazonaws.sqs#InvalidParameterValue',
    });
    // A refused batch stores none of its messages; two of the three fit.
    expect(emulator.queues.messages('streamfix-failures')).toHaveLength(before);
    const fits = await call('SendMessageBatch', { QueueUrl: queue.url, Entries: entries(2, third) });
    expect(fits.statusCode).toBe(200);
    expect(emulator.queues.messages('streamfix-failures')).toHaveLength(before + 2);
  });
});
