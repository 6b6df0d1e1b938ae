/**
 * The DynamoDB Streams API (JSON 1.0, `DynamoDBStreams_20120810.*` targets) over the emulator's in-process streams,
 * answered on the emulator's DynamoDB port as LocalStack answers it on its own: ListStreams, DescribeStream,
 * GetShardIterator, GetRecords, with AWS's shapes, limits and errors. Any reader of a DynamoDB stream — the AWS CLI
 * (`aws dynamodbstreams … --endpoint-url`), the KCL adapter, the emulator's own poller in its tests — reads the
 * emulated stream through it.
 *
 * It also gives DynamoDB's table answers what dynalite leaves out of them: a CreateTable with a StreamSpecification
 * starts a stream (so does an UpdateTable that dynalite accepts; it refuses one that changes only the stream), and
 * CreateTable/UpdateTable/DescribeTable answers carry StreamSpecification, LatestStreamArn and LatestStreamLabel, as
 * DynamoDB's do. Turning a stream off is not followed.
 *
 * Shard iterators are opaque to readers (as AWS's are): here the base64 of the stream, the shard, the position (the
 * sequence number after which to read) and when the iterator was handed out, on the emulator's clock — so it
 * expires 15 minutes later on that clock, and `advanceClock` expires it too.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Shard, Stream, StreamRecord, StreamedTable, Streams } from './streams.js';
import { rewriteAnswer } from './jsonAnswer.js';

/** AWS: "A shard iterator expires 15 minutes after it is retrieved". */
export const ITERATOR_LIFETIME_MS = 15 * 60 * 1000;
const TARGET_PREFIX = 'DynamoDBStreams_20120810.';

class StreamsApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
  }
}

const validation = (message: string): StreamsApiError => new StreamsApiError('ValidationException', message);
const notFound = (message: string): StreamsApiError => new StreamsApiError('ResourceNotFoundException', message);

interface Position {
  /** Stream ARN. */
  a: string;
  /** Shard id. */
  s: string;
  /** Read records with sequence numbers after this one. */
  p: string;
  /** Emulator time the iterator was handed out (epoch ms). */
  t: number;
}

const encodeIterator = (position: Position): string => Buffer.from(JSON.stringify(position)).toString('base64url');
function decodeIterator(text: unknown): Position {
  if (typeof text !== 'string' || text.length === 0 || text.length > 2048)
    throw validation(
      "1 validation error detected: Value at 'shardIterator' failed to satisfy constraint: Member must have length between 1 and 2048",
    );
  try {
    const value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<Position>;
    if (typeof value.a === 'string' && typeof value.s === 'string' && typeof value.p === 'string' && typeof value.t === 'number')
      return value as Position;
  } catch {
    // falls through to the error below
  }
  throw validation('Invalid ShardIterator');
}

/** An integer `Limit` within AWS's bounds, or the default when absent. */
function limit(value: unknown, max: number, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max)
    throw validation(
      `1 validation error detected: Value '${String(value)}' at 'limit' failed to satisfy constraint: Member must have value ${value !== undefined && Number(value) < 1 ? 'greater than or equal to 1' : `less than or equal to ${max}`}`,
    );
  return value;
}

const seq = (text: string): bigint => BigInt(text);
const isSequenceNumber = (value: unknown): value is string => typeof value === 'string' && /^\d{1,40}$/.test(value);

/** A record as the Streams API carries it: no eventSourceARN, userIdentity with capitalized keys, epoch seconds. */
function wireRecord(record: StreamRecord): Record<string, unknown> {
  const { eventSourceARN: _arn, userIdentity, ...rest } = record;
  return { ...rest, ...(userIdentity ? { userIdentity: { PrincipalId: userIdentity.principalId, Type: userIdentity.type } } : {}) };
}

/** Index of the first record of `records` (ascending sequence numbers) whose sequence number is above `after`. */
function firstAfter(records: StreamRecord[], after: bigint): number {
  let low = 0;
  let high = records.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (seq(records[mid].dynamodb.SequenceNumber) <= after) low = mid + 1;
    else high = mid;
  }
  return low;
}

export function createStreamsEndpoint(streams: Streams) {
  // Fault: the next N GetRecords calls answer LimitExceededException, as AWS does past 5 calls a second per shard.
  let limitExceeded = 0;
  const byArn = (arn: unknown): Stream => {
    if (typeof arn !== 'string' || arn.length < 37 || arn.length > 1024)
      throw validation(
        "1 validation error detected: Value at 'streamArn' failed to satisfy constraint: Member must have length between 37 and 1024",
      );
    const stream = streams.streamOfArn(arn);
    if (!stream) throw notFound(`Requested resource not found: Stream: ${arn} not found`);
    return stream;
  };
  const shardOf = (stream: Stream, shardId: unknown): Shard => {
    const shard = stream.shards.find((s) => s.shardId === shardId);
    if (!shard) throw notFound(`Requested resource not found: Shard does not exist`);
    return shard;
  };
  const trimmed = (): StreamsApiError =>
    new StreamsApiError('TrimmedDataAccessException', 'The operation attempted to read past the oldest stream record in a shard.');

  const operations: Record<string, (body: Record<string, unknown>) => unknown> = {
    ListStreams(body) {
      const max = limit(body.Limit, 100, 100);
      let list = [...streams.streams.values()].filter((s) => body.TableName === undefined || s.tableName === body.TableName);
      if (body.ExclusiveStartStreamArn !== undefined) {
        const at = list.findIndex((s) => s.arn === body.ExclusiveStartStreamArn);
        list = at >= 0 ? list.slice(at + 1) : [];
      }
      const page = list.slice(0, max);
      return {
        Streams: page.map((s) => ({ StreamArn: s.arn, TableName: s.tableName, StreamLabel: s.label })),
        ...(list.length > max ? { LastEvaluatedStreamArn: page[page.length - 1].arn } : {}),
      };
    },

    DescribeStream(body) {
      const stream = byArn(body.StreamArn);
      const max = limit(body.Limit, 100, 100);
      let shards = stream.shards;
      if (body.ExclusiveStartShardId !== undefined) {
        const at = shards.findIndex((s) => s.shardId === body.ExclusiveStartShardId);
        shards = at >= 0 ? shards.slice(at + 1) : [];
      }
      const page = shards.slice(0, max);
      return {
        StreamDescription: {
          StreamArn: stream.arn,
          StreamLabel: stream.label,
          StreamStatus: 'ENABLED',
          StreamViewType: stream.viewType,
          CreationRequestDateTime: stream.createdAt / 1000,
          TableName: stream.tableName,
          KeySchema: stream.keySchema,
          Shards: page.map((s) => ({
            ShardId: s.shardId,
            ...(s.parentShardId ? { ParentShardId: s.parentShardId } : {}),
            SequenceNumberRange: {
              StartingSequenceNumber: s.startingSequenceNumber,
              ...(s.endingSequenceNumber ? { EndingSequenceNumber: s.endingSequenceNumber } : {}),
            },
          })),
          // AWS: present when the page is full and more shards may follow.
          ...(shards.length > max ? { LastEvaluatedShardId: page[page.length - 1].shardId } : {}),
        },
      };
    },

    GetShardIterator(body) {
      const stream = byArn(body.StreamArn);
      if (typeof body.ShardId !== 'string' || body.ShardId.length < 28 || body.ShardId.length > 65)
        throw validation(
          "1 validation error detected: Value at 'shardId' failed to satisfy constraint: Member must have length between 28 and 65",
        );
      const shard = shardOf(stream, body.ShardId);
      const type = body.ShardIteratorType;
      const start = seq(shard.startingSequenceNumber) - 1n;
      const horizon = stream.trimmedThrough !== undefined && seq(stream.trimmedThrough) > start ? seq(stream.trimmedThrough) : start;
      let after: bigint;
      if (type === 'TRIM_HORIZON') after = horizon;
      else if (type === 'LATEST') {
        const last = stream.records[stream.records.length - 1];
        const end = shard.endingSequenceNumber ? seq(shard.endingSequenceNumber) : undefined;
        after = last ? seq(last.dynamodb.SequenceNumber) : horizon;
        if (end !== undefined && after > end) after = end;
        if (after < horizon) after = horizon;
      } else if (type === 'AT_SEQUENCE_NUMBER' || type === 'AFTER_SEQUENCE_NUMBER') {
        if (!isSequenceNumber(body.SequenceNumber))
          throw validation(`SequenceNumber is required and must be a sequence number for ShardIteratorType ${type}`);
        const at = seq(body.SequenceNumber);
        const end = shard.endingSequenceNumber ? seq(shard.endingSequenceNumber) : undefined;
        if (at <= start || (end !== undefined && at > end))
          throw validation(`Invalid SequenceNumber ${body.SequenceNumber} for shard ${shard.shardId}`);
        if (stream.trimmedThrough !== undefined && at <= seq(stream.trimmedThrough)) throw trimmed();
        after = type === 'AT_SEQUENCE_NUMBER' ? at - 1n : at;
      } else
        throw validation(
          `1 validation error detected: Value '${String(type)}' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, LATEST, TRIM_HORIZON]`,
        );
      return { ShardIterator: encodeIterator({ a: stream.arn, s: shard.shardId, p: after.toString(), t: streams.now() }) };
    },

    GetRecords(body) {
      if (limitExceeded > 0) {
        limitExceeded--;
        throw new StreamsApiError('LimitExceededException', 'Rate exceeded for shard');
      }
      const max = limit(body.Limit, 1000, 1000);
      const position = decodeIterator(body.ShardIterator);
      const now = streams.now();
      if (now - position.t > ITERATOR_LIFETIME_MS)
        throw new StreamsApiError(
          'ExpiredIteratorException',
          `Iterator expired. The iterator was created at time ${new Date(position.t).toUTCString()} while right now it is ${new Date(now).toUTCString()} which is further in the future than the tolerated delay of 900000 milliseconds.`,
        );
      const stream = byArn(position.a);
      const after = seq(position.p);
      // Before the shard lookup: a shard whose records all aged out is gone, and its reader was reading trimmed data.
      if (stream.trimmedThrough !== undefined && after < seq(stream.trimmedThrough)) throw trimmed();
      const shard = shardOf(stream, position.s);
      const end = shard.endingSequenceNumber ? seq(shard.endingSequenceNumber) : undefined;
      const records: StreamRecord[] = [];
      for (let i = firstAfter(stream.records, after); i < stream.records.length && records.length < max; i++) {
        const record = stream.records[i];
        if (end !== undefined && seq(record.dynamodb.SequenceNumber) > end) break;
        records.push(record);
      }
      const last = records.length ? seq(records[records.length - 1].dynamodb.SequenceNumber) : after;
      // A closed shard read to its end has no next iterator: its reader moves on to the child shard.
      const following = stream.records[firstAfter(stream.records, last)];
      const drained = end !== undefined && (!following || seq(following.dynamodb.SequenceNumber) > end);
      return {
        Records: records.map(wireRecord),
        ...(drained ? {} : { NextShardIterator: encodeIterator({ a: stream.arn, s: shard.shardId, p: last.toString(), t: now }) }),
      };
    },
  };

  /** The table description fields DynamoDB adds for a streamed table. */
  function withStream(description: Record<string, unknown> | undefined): void {
    const stream = typeof description?.TableName === 'string' ? streams.streams.get(description.TableName) : undefined;
    if (!description || !stream) return;
    description.StreamSpecification = { StreamEnabled: true, StreamViewType: stream.viewType };
    description.LatestStreamArn = stream.arn;
    description.LatestStreamLabel = stream.label;
  }

  /** CreateTable/UpdateTable with a StreamSpecification start the table's stream; table answers show it. */
  function tableOperation(operation: string, body: Record<string, unknown> | undefined, res: ServerResponse): void {
    if (operation === 'CreateTable' || operation === 'UpdateTable') {
      const spec = body?.StreamSpecification as StreamedTable['StreamSpecification'] | undefined;
      rewriteAnswer(res, (answer) => {
        const description = answer.TableDescription as Record<string, unknown> | undefined;
        if (spec?.StreamEnabled && description && Array.isArray(description.KeySchema)) {
          const label = new Date(streams.now()).toISOString().replace(/Z$/, '');
          streams.addTable(
            {
              TableName: String(description.TableName),
              KeySchema: description.KeySchema as StreamedTable['KeySchema'],
              StreamSpecification: spec,
            },
            label,
          );
        }
        withStream(description);
      });
    } else if (operation === 'DescribeTable') rewriteAnswer(res, (answer) => withStream(answer.Table as Record<string, unknown>));
  }

  function answer(res: ServerResponse, statusCode: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(statusCode, {
      'content-type': 'application/x-amz-json-1.0',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
    });
    res.end(text);
  }

  return {
    /** Whether `req` is a DynamoDB Streams API call. */
    handles: (req: IncomingMessage): boolean => String(req.headers['x-amz-target'] ?? '').startsWith(TARGET_PREFIX),
    /** Answers a DynamoDB Streams API call. */
    serve(req: IncomingMessage, res: ServerResponse): void {
      const operation = String(req.headers['x-amz-target']).slice(TARGET_PREFIX.length);
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        try {
          const run = Object.hasOwn(operations, operation) ? operations[operation] : undefined;
          if (!run) throw new StreamsApiError('UnknownOperationException', `Unknown operation ${operation}`);
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
          } catch {
            throw new StreamsApiError('SerializationException', 'Start of structure or map found where not expected');
          }
          if (!body || typeof body !== 'object' || Array.isArray(body))
            throw new StreamsApiError('SerializationException', 'Start of structure or map found where not expected');
          answer(res, 200, run(body as Record<string, unknown>));
        } catch (error) {
          if (!(error instanceof StreamsApiError)) throw error;
          answer(res, error.statusCode, { __type: `com.amazonaws.dynamodb.v20120810#${error.type}`, message: error.message });
        }
      });
    },
    tableOperation,
    /** The next `count` GetRecords calls answer LimitExceededException (HTTP 400), as AWS does to a reader too fast. */
    limitGetRecords(count: number): void {
      limitExceeded += count;
    },
  };
}

export type StreamsEndpoint = ReturnType<typeof createStreamsEndpoint>;
