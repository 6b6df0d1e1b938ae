/**
 * Reads an external DynamoDB's own stream (LocalStack, Floci, any endpoint with the DynamoDB Streams API) and hands
 * each record to the emulator's stream of the table, where the same event source mappings as in dynalite mode
 * batch, bisect, retry and dead-letter it. It reads as Lambda's event source mapping does:
 *
 * - the stream is the table's LatestStreamArn (DescribeTable); its shards come from DescribeStream, paged with
 *   ExclusiveStartShardId, and are looked at again when a shard closes and every few seconds;
 * - a shard is read only once its parent is read to its end (records of one item stay in order across a
 *   rollover); at start, StartingPosition LATEST reads the open shards from LATEST and skips closed ones,
 *   TRIM_HORIZON reads everything; a shard that appears later is read from TRIM_HORIZON;
 * - GetRecords about 4 times a second per shard while the shard is empty (at once while it has a backlog),
 *   following NextShardIterator; no NextShardIterator means the shard is closed and read;
 * - ExpiredIteratorException: a new iterator after the last record read; TrimmedDataAccessException: records were
 *   lost to retention, reading goes on from TRIM_HORIZON (and the loss is logged); LimitExceededException,
 *   throttling and server errors: back off, doubling up to a few seconds.
 *
 * Each record is handed over once: a record at or before the last sequence number read from its shard is dropped.
 */
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { _Record as WireRecord, Shard as WireShard, ShardIteratorType } from '@aws-sdk/client-dynamodb-streams';
import { loadDynamoDBSdk } from './sdk.js';
import type { EventLog } from '../eventLog.js';
import type { Item, StreamRecord, StreamViewType } from './streams.js';

export interface StreamsPollerOptions {
  /** The DynamoDB Streams API endpoint (LocalStack and Floci serve it on their DynamoDB port). */
  endpoint: string;
  region: string;
  /** Finds each table's LatestStreamArn. */
  dynamodb: DynamoDBClient;
  tables: Array<{ tableName: string; startingPosition: 'LATEST' | 'TRIM_HORIZON' }>;
  /**
   * A table whose stream the endpoint does not show (an endpoint without DynamoDB Streams): called, and the table
   * is left out. Without it, that is an error at start.
   */
  onMissingStream?: (tableName: string, reason: string) => void;
  /** Called once per record, in shard order. */
  onRecord: (tableName: string, record: StreamRecord) => void;
  eventLog?: EventLog;
  /** Wait between GetRecords calls on an empty shard. Default 250 ms: Lambda polls a shard about 4 times a second. */
  pollIntervalMs?: number;
  /** How often shards are listed again to find new ones. Default 5 s. */
  discoverIntervalMs?: number;
  /** Ceiling of the back-off after throttling or errors. Default 5 s. */
  maxBackoffMs?: number;
}

type Position = 'LATEST' | 'TRIM_HORIZON';

interface ShardState {
  shard: WireShard;
  state: 'waiting' | 'reading' | 'done';
  /** Where to start when there is no record read yet. */
  start: Position;
  lastSequenceNumber?: string;
  iterator?: string;
  /** Grows when `skip` moves the reader: what a call begun before that reads is dropped. */
  epoch: number;
}

interface TableState {
  tableName: string;
  streamArn: string;
  startingPosition: Position;
  shards: Map<string, ShardState>;
  readers: Set<Promise<void>>;
}

/** Errors the SDK names; network failures have no AWS name. */
const errorName = (error: unknown): string => (error as { name?: string }).name ?? 'Error';
const RETRYABLE = new Set([
  'LimitExceededException',
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'InternalServerError',
  'InternalServerErrorException',
  'ServiceUnavailable',
  'RequestLimitExceeded',
]);

/** A record as the Lambda event carries it, from the Streams API's shape. */
function toLambdaRecord(record: WireRecord, streamArn: string, region: string): StreamRecord {
  const data = record.dynamodb ?? {};
  const created = data.ApproximateCreationDateTime;
  return {
    eventID: record.eventID ?? '',
    eventName: (record.eventName ?? 'MODIFY') as StreamRecord['eventName'],
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: record.awsRegion ?? region,
    dynamodb: {
      // The Lambda event carries epoch seconds; the SDK reads them as a Date.
      ApproximateCreationDateTime: created instanceof Date ? Math.floor(created.getTime() / 1000) : Number(created ?? 0),
      Keys: (data.Keys ?? {}) as Item,
      ...(data.NewImage ? { NewImage: data.NewImage as Record<string, AttributeValue> } : {}),
      ...(data.OldImage ? { OldImage: data.OldImage as Record<string, AttributeValue> } : {}),
      SequenceNumber: data.SequenceNumber ?? '',
      SizeBytes: data.SizeBytes ?? 0,
      StreamViewType: (data.StreamViewType ?? 'KEYS_ONLY') as StreamViewType,
    },
    eventSourceARN: streamArn,
    ...(record.userIdentity?.PrincipalId === 'dynamodb.amazonaws.com'
      ? { userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' } as const }
      : {}),
  };
}

export async function startStreamsPoller(options: StreamsPollerOptions) {
  // Loaded here, not with the emulator's modules: only an external DynamoDB needs a poller (see sdk.ts).
  const { DescribeStreamCommand, DynamoDBStreamsClient, GetRecordsCommand, GetShardIteratorCommand } = await import(
    '@aws-sdk/client-dynamodb-streams'
  );
  const { DescribeTableCommand } = await loadDynamoDBSdk();
  const pollIntervalMs = options.pollIntervalMs ?? 250;
  const maxBackoffMs = options.maxBackoffMs ?? 5000;
  const client = new DynamoDBStreamsClient({
    endpoint: options.endpoint,
    region: options.region,
    credentials: { accessKeyId: 'emulator', secretAccessKey: 'emulator' },
    // The poller backs off itself (and counts what it sees); the SDK's own retries would hide throttling.
    maxAttempts: 1,
  });
  let stopped = false;
  let paused = false;
  const sleepers = new Set<() => void>();
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        sleepers.delete(done);
        resolve();
      }
      sleepers.add(done);
    });
  const fault = (description: string): void => options.eventLog?.record({ kind: 'fault', description });
  /** Counts of what the poller did, for tests and the bench. */
  const counters = { getRecords: 0, records: 0, expiredIterators: 0, trimmed: 0, throttled: 0, errors: 0 };

  async function listShards(streamArn: string): Promise<WireShard[]> {
    const shards: WireShard[] = [];
    let exclusiveStartShardId: string | undefined;
    do {
      const { StreamDescription } = await client.send(
        new DescribeStreamCommand({
          StreamArn: streamArn,
          ...(exclusiveStartShardId ? { ExclusiveStartShardId: exclusiveStartShardId } : {}),
        }),
      );
      shards.push(...(StreamDescription?.Shards ?? []));
      exclusiveStartShardId = StreamDescription?.LastEvaluatedShardId;
    } while (exclusiveStartShardId);
    return shards;
  }

  async function iteratorFor(table: TableState, state: ShardState): Promise<string | undefined> {
    const base = { StreamArn: table.streamArn, ShardId: state.shard.ShardId! };
    try {
      const input = state.lastSequenceNumber
        ? { ...base, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER' as ShardIteratorType, SequenceNumber: state.lastSequenceNumber }
        : { ...base, ShardIteratorType: state.start as ShardIteratorType };
      return (await client.send(new GetShardIteratorCommand(input))).ShardIterator;
    } catch (error) {
      if (errorName(error) !== 'TrimmedDataAccessException') throw error;
      counters.trimmed++;
      fault(
        `stream of ${table.tableName}: shard ${state.shard.ShardId} trimmed past #${state.lastSequenceNumber}, reading on from TRIM_HORIZON`,
      );
      state.lastSequenceNumber = undefined;
      state.start = 'TRIM_HORIZON';
      return (await client.send(new GetShardIteratorCommand({ ...base, ShardIteratorType: 'TRIM_HORIZON' }))).ShardIterator;
    }
  }

  /** Reads one shard to its end (or until stopped), handing records over in order. */
  async function read(table: TableState, state: ShardState): Promise<void> {
    let backoff = 0;
    while (!stopped && state.state === 'reading') {
      const epoch = state.epoch;
      try {
        state.iterator ??= await iteratorFor(table, state);
        if (!state.iterator) break; // no iterator for a shard: nothing to read (a shard already gone)
        const out = await client.send(new GetRecordsCommand({ ShardIterator: state.iterator, Limit: 1000 }));
        counters.getRecords++;
        backoff = 0;
        if (state.epoch !== epoch) continue; // `skip` moved the reader on meanwhile: what this call read is skipped
        const records = out.Records ?? [];
        if (!paused)
          for (const wire of records) {
            const sequenceNumber = wire.dynamodb?.SequenceNumber;
            if (!sequenceNumber) continue;
            if (state.lastSequenceNumber && BigInt(sequenceNumber) <= BigInt(state.lastSequenceNumber)) continue;
            state.lastSequenceNumber = sequenceNumber;
            counters.records++;
            options.onRecord(table.tableName, toLambdaRecord(wire, table.streamArn, options.region));
          }
        else if (records.length)
          state.lastSequenceNumber = records[records.length - 1].dynamodb?.SequenceNumber ?? state.lastSequenceNumber;
        state.iterator = out.NextShardIterator;
        if (!state.iterator) {
          // Closed and read to its end: its children may start.
          state.state = 'done';
          void discover(table).catch((error: unknown) =>
            fault(`stream of ${table.tableName}: DescribeStream failed: ${(error as Error).message}`),
          );
          return;
        }
        if (records.length === 0) await sleep(pollIntervalMs);
      } catch (error) {
        if (state.epoch !== epoch) continue; // `skip` gave the reader a new iterator meanwhile
        const name = errorName(error);
        if (name === 'ExpiredIteratorException') {
          counters.expiredIterators++;
          state.iterator = undefined; // a new one after the last record read
          continue;
        }
        if (name === 'TrimmedDataAccessException') {
          counters.trimmed++;
          fault(`stream of ${table.tableName}: records of shard ${state.shard.ShardId} were trimmed before they were read`);
          state.iterator = undefined;
          state.lastSequenceNumber = undefined;
          state.start = 'TRIM_HORIZON';
          continue;
        }
        if (name === 'ResourceNotFoundException') {
          // Aged out of the stream (its records were trimmed): its children may start.
          fault(`stream of ${table.tableName}: shard ${state.shard.ShardId} is gone`);
          state.state = 'done';
          void discover(table).catch((e: unknown) => fault(`stream of ${table.tableName}: DescribeStream failed: ${(e as Error).message}`));
          return;
        }
        if (RETRYABLE.has(name)) counters.throttled++;
        else {
          counters.errors++;
          fault(`stream of ${table.tableName}: ${name}: ${(error as Error).message}`);
        }
        backoff = Math.min(maxBackoffMs, backoff ? backoff * 2 : pollIntervalMs);
        await sleep(backoff);
      }
    }
  }

  /** Starts every shard whose parent is read (or unknown: trimmed away, or skipped at start). */
  function startReady(table: TableState): void {
    for (const state of table.shards.values()) {
      if (state.state !== 'waiting') continue;
      const parent = state.shard.ParentShardId ? table.shards.get(state.shard.ParentShardId) : undefined;
      if (parent && parent.state !== 'done') continue;
      state.state = 'reading';
      const reader = read(table, state).finally(() => table.readers.delete(reader));
      table.readers.add(reader);
    }
  }

  /** Lists the stream's shards and starts the new ones that may start. */
  async function discover(table: TableState): Promise<void> {
    for (const shard of await listShards(table.streamArn)) {
      if (!shard.ShardId || table.shards.has(shard.ShardId)) continue;
      table.shards.set(shard.ShardId, { shard, state: 'waiting', start: 'TRIM_HORIZON', epoch: 0 });
    }
    startReady(table);
  }

  const tables: TableState[] = [];
  for (const { tableName, startingPosition } of options.tables) {
    const { Table } = await options.dynamodb.send(new DescribeTableCommand({ TableName: tableName }));
    if (!Table?.LatestStreamArn || Table.StreamSpecification?.StreamEnabled === false) {
      const reason = `${tableName} has no stream on the DynamoDB endpoint (DescribeTable shows no LatestStreamArn): its stream events would never fire`;
      if (!options.onMissingStream) throw new Error(reason);
      options.onMissingStream(tableName, reason);
      continue;
    }
    const table: TableState = { tableName, streamArn: Table.LatestStreamArn, startingPosition, shards: new Map(), readers: new Set() };
    for (const shard of await listShards(table.streamArn)) {
      const closed = Boolean(shard.SequenceNumberRange?.EndingSequenceNumber);
      const state: ShardState = {
        shard,
        // LATEST: what is already in closed shards is history; open shards are read from now on.
        state: startingPosition === 'LATEST' && closed ? 'done' : 'waiting',
        start: startingPosition,
        epoch: 0,
      };
      table.shards.set(shard.ShardId!, state);
    }
    // The start position is taken now, before the emulator answers anything: a write after start is read.
    for (const state of table.shards.values())
      if (state.state === 'waiting' && state.start === 'LATEST') state.iterator = await iteratorFor(table, state);
    tables.push(table);
  }
  for (const table of tables) startReady(table);

  const discoverTimer = setInterval(() => {
    for (const table of tables)
      void discover(table).catch((error: unknown) =>
        fault(`stream of ${table.tableName}: DescribeStream failed: ${(error as Error).message}`),
      );
  }, options.discoverIntervalMs ?? 5000);
  discoverTimer.unref();

  return {
    counters,
    /** The external stream ARN each table is read from. */
    streamArns: new Map(tables.map((t) => [t.tableName, t.streamArn])),
    /**
     * Runs `during` (the emulator's reset empties the tables: the endpoint records those deletions) with records
     * dropped, then moves every reader to LATEST: whatever the stream held by then is not handed over.
     */
    async skip(during: () => Promise<void>): Promise<void> {
      paused = true;
      try {
        await during();
        for (const table of tables)
          for (const state of table.shards.values()) {
            if (state.state !== 'reading') continue;
            const { ShardIterator } = await client.send(
              new GetShardIteratorCommand({ StreamArn: table.streamArn, ShardId: state.shard.ShardId!, ShardIteratorType: 'LATEST' }),
            );
            state.iterator = ShardIterator;
            state.epoch++;
          }
      } finally {
        paused = false;
      }
    },
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(discoverTimer);
      for (const wake of [...sleepers]) wake();
      await Promise.all(tables.flatMap((t) => [...t.readers]));
      client.destroy();
    },
  };
}

export type StreamsPoller = Awaited<ReturnType<typeof startStreamsPoller>>;
