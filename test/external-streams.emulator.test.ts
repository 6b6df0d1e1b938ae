/**
 * The emulator with an external DynamoDB reads that endpoint's own stream. Without Docker, the "external" DynamoDB
 * is a second, separate DynamoDB of the harness (dynalite with its Streams API on the same port, as LocalStack serves
 * both): it starts with no tables, the emulator creates serverless.yml's tables there — with their
 * StreamSpecification — and its poller reads the stream over HTTP with the real SDK client, feeding the same event
 * source mappings as in dynalite mode. Then:
 * - the stream fixture's consumer gets each record once, in order, with bisect, retries and the on-failure queue
 *   behaving as in dynalite mode (the same batches as f18), and a reset's emptying of the tables is not delivered;
 * - the app's notifier, fed from that stream, delivers the functional scenarios' notifications end to end.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { fileURLToPath } from 'node:url';
import {
  BatchWriteItemCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';
import { startDynamoDB, type DynamoDBProvider } from '../harness/dynamodb/provider.js';
import { startEmulator, type Emulator } from '../harness/emulator.js';
import type { LoggedEvent } from '../harness/eventLog.js';
import type { StreamRecord } from '../harness/dynamodb/streams.js';
import { loadScenario } from '../harness/scenarios/loader.js';
import { runScenario } from '../harness/scenarios/runner.js';
import { inProcessTargets, type TargetFactory } from '../harness/scenarios/target.js';
import { consoleLine } from '../harness/scenarios/reporters.js';
import { until } from './helpers/until.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const ITEMS = 'streamfix-items';
const S = (s: string): AttributeValue => ({ S: s });

describe('stream fixture on an external DynamoDB', () => {
  let external: DynamoDBProvider;
  let emulator: Emulator;
  let db: DynamoDBClient;

  beforeAll(async () => {
    external = await startDynamoDB({ storage: 'memory', tables: [], region: 'eu-west-1' });
    emulator = await startEmulator({
      projectRoot: fileURLToPath(new URL('./fixtures/stream-app', import.meta.url)),
      storage: { endpoint: external.endpoint },
      streamRetryDelayMs: 1,
    });
    db = new DynamoDBClient({ endpoint: external.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  });
  afterAll(async () => {
    db.destroy();
    await emulator?.close();
    await external?.close();
  });
  beforeEach(() => emulator.reset());

  const handlerBatches = (functionName: string): string[][] =>
    emulator.eventLog
      .all()
      .filter(
        (e): e is Extract<LoggedEvent, { kind: 'log' }> => e.kind === 'log' && e.functionName === functionName && e.message === 'batch',
      )
      .map((e) => e.data!.keys as string[]);
  const records = (): StreamRecord[] => emulator.dynamodb.streams.streams.get(ITEMS)!.records;
  /** What the endpoint's own stream holds for the table (what the poller must hand over). */
  const endpointRecords = (): StreamRecord[] => external.streams.streams.get(ITEMS)!.records;

  it("creates serverless.yml's tables on the endpoint with their streams, and reads the stream DescribeTable names", async () => {
    const items = (await db.send(new DescribeTableCommand({ TableName: ITEMS }))).Table;
    expect(items?.StreamSpecification).toEqual({ StreamEnabled: true, StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect((await db.send(new DescribeTableCommand({ TableName: 'streamfix-plain' }))).Table?.StreamSpecification?.StreamViewType).toBe(
      'KEYS_ONLY',
    );
    expect((await db.send(new DescribeTableCommand({ TableName: 'streamfix-unstreamed' }))).Table?.LatestStreamArn).toBeUndefined();
    expect(emulator.streamsPoller?.streamArns.get(ITEMS)).toBe(items?.LatestStreamArn);
  });

  it("a write to the endpoint reaches the consumer once, with the endpoint's record (eventID, sequence number, images)", async () => {
    await db.send(new PutItemCommand({ TableName: ITEMS, Item: { id: S('a'), n: { N: '1' } } }));
    for (let n = 2; n <= 5; n++)
      await db.send(
        new UpdateItemCommand({
          TableName: ITEMS,
          Key: { id: S('a') },
          UpdateExpression: 'SET n = :n',
          ExpressionAttributeValues: { ':n': { N: String(n) } },
        }),
      );
    await until(() => records().length >= 5 && handlerBatches('consumer').flat().length >= 5, 'five records at the consumer');
    await emulator.mappingsIdle();
    expect(handlerBatches('consumer').flat()).toEqual(['a', 'a', 'a', 'a', 'a']);
    const fromEndpoint = endpointRecords().slice(-5);
    expect(records().map((r) => r.eventID)).toEqual(fromEndpoint.map((r) => r.eventID));
    expect(records().map((r) => r.dynamodb.NewImage?.n)).toEqual([1, 2, 3, 4, 5].map((n) => ({ N: String(n) })));
    expect(records()[0]).toMatchObject({ eventName: 'INSERT', eventSourceARN: emulator.streamsPoller?.streamArns.get(ITEMS) });
    expect(records()[1].dynamodb).toEqual(fromEndpoint[1].dynamodb);
  });

  it('bisect, retries and the on-failure queue behave as in dynalite mode (the same batches as f18)', async () => {
    await db.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [ITEMS]: (
            [{ id: S('a') }, { id: S('b'), behaviour: S('throw') }, { id: S('c') }, { id: S('d') }] as Array<Record<string, AttributeValue>>
          ).map((Item) => ({
            PutRequest: { Item },
          })),
        },
      }),
    );
    const failure = await until(() => emulator.queues.messages('streamfix-failures')[0], 'the on-failure message');
    await emulator.mappingsIdle();
    await until(() => handlerBatches('consumer').length >= 7, "the handler's log lines");
    expect(handlerBatches('consumer')).toEqual([['a', 'b', 'c', 'd'], ['a', 'b'], ['a'], ['b'], ['b'], ['b'], ['c', 'd']]);
    const b = endpointRecords().find((r) => r.dynamodb.Keys.id.S === 'b')!;
    expect(JSON.parse(failure.body).DDBStreamBatchInfo).toMatchObject({
      startSequenceNumber: b.dynamodb.SequenceNumber,
      endSequenceNumber: b.dynamodb.SequenceNumber,
      batchSize: 1,
    });
  });

  it("a reset's emptying of the tables reaches the endpoint's stream but not the consumer", async () => {
    await db.send(new PutItemCommand({ TableName: ITEMS, Item: { id: S('kept-then-truncated') } }));
    await until(() => handlerBatches('consumer').length >= 1, 'the insert at the consumer');
    const before = endpointRecords().length;
    await emulator.reset(); // deletes the item on the endpoint: a REMOVE in its stream
    expect(
      endpointRecords()
        .slice(before)
        .map((r) => r.eventName),
    ).toEqual(['REMOVE']);
    await db.send(new PutItemCommand({ TableName: ITEMS, Item: { id: S('after-reset') } }));
    await until(() => handlerBatches('consumer').length >= 1, 'the next insert at the consumer');
    await emulator.mappingsIdle();
    expect(handlerBatches('consumer')).toEqual([['after-reset']]);
    expect(records().map((r) => r.eventName)).toEqual(['INSERT']);
  });

  it('a TTL deletion by the emulator comes back from the endpoint as a REMOVE by the DynamoDB service', async () => {
    const past = Math.floor(emulator.clock.now() / 1000) - 10;
    await db.send(new PutItemCommand({ TableName: ITEMS, Item: { id: S('expiring'), expiresAt: { N: String(past) } } }));
    expect(await emulator.dynamodb.sweepExpiredItems()).toBe(1);
    const remove = await until(() => records().find((r) => r.eventName === 'REMOVE'), 'the REMOVE');
    expect(remove).toMatchObject({
      userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' },
      dynamodb: { Keys: { id: S('expiring') } },
    });
    expect(records().filter((r) => r.eventName === 'REMOVE')).toHaveLength(1);
  });
});

describe('an external DynamoDB without DynamoDB Streams', () => {
  it('the emulator starts, and says which tables cannot feed their stream events (not a silent loss)', async () => {
    const server = dynalite({ createTableMs: 0 }); // dynalite itself: no Streams API
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const warnings: string[] = [];
    const warn = vi.spyOn(console, 'warn').mockImplementation((message: string) => void warnings.push(message));
    let emulator: Emulator | undefined;
    try {
      emulator = await startEmulator({
        projectRoot: fileURLToPath(new URL('./fixtures/stream-app', import.meta.url)),
        storage: { endpoint: `http://127.0.0.1:${port}` },
      });
      const faults = emulator.eventLog
        .all()
        .filter((e): e is Extract<LoggedEvent, { kind: 'fault' }> => e.kind === 'fault')
        .map((e) => e.description);
      expect(faults).toEqual([
        expect.stringMatching(/^streamfix-items has no stream on the DynamoDB endpoint/),
        expect.stringMatching(/^streamfix-plain has no stream on the DynamoDB endpoint/),
      ]);
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toContain(`does http://127.0.0.1:${port} serve DynamoDB Streams?`);
    } finally {
      warn.mockRestore();
      await emulator?.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('the notifier fed by an external DynamoDB stream', () => {
  let external: DynamoDBProvider;
  let targets: TargetFactory | undefined;
  beforeAll(async () => {
    external = await startDynamoDB({ storage: 'memory', tables: [] });
    // A stage of its own (scenarios1) has no SSM parameter for its secret: the test gives one.
    targets = inProcessTargets({
      projectRoot: root,
      size: 1,
      dynamodbEndpoint: external.endpoint,
      jwtSecret: 'external-streams-test-secret',
    });
  });
  afterAll(async () => {
    await targets?.close();
    await external?.close();
  });

  // Each of these waits for notifications that only the notifier, reading the stream, sends.
  for (const name of ['shape-created', 'shape-updated', 'shape-deleted', 'batch-subscriber', 'targeting-category']) {
    it(`${name} passes with its tables and stream on the external endpoint`, async () => {
      const scenario = loadScenario(`${root}scenarios/functional/${name}.yaml`);
      const target = await targets!.acquire();
      try {
        const result = await runScenario(scenario, target);
        expect(result.status, consoleLine(result)).toBe('passed');
      } finally {
        await target.release();
      }
    });
  }
});
