/**
 * DynamoDB Streams for the emulator. dynalite has none, so changes are captured where every request passes: the
 * provider's proxy hands each write to `captureWrites`, which reads the items' old images, lets dynalite apply the
 * write, reads the new images before the answer leaves, and appends one record per changed item — INSERT, MODIFY or
 * REMOVE, with the images the table's StreamViewType asks for. Writes to one item are serialized by a per-key lock
 * so its records are in write order (AWS orders records per item; here one shard per table orders them all).
 * TTL deletions come from the provider's sweeper through `captureTtlDelete`, as REMOVE records whose userIdentity is
 * the DynamoDB service, as AWS writes them.
 *
 * A stream's records are split in shards as AWS splits them in time: a shard covers a range of sequence numbers,
 * and about every 4 hours (on the emulator's clock, or at `rollShard`) it closes and a child shard opens. That is
 * what the DynamoDB Streams API (streamsEndpoint.ts) shows to readers; the event source mappings read `records`.
 *
 * With an external DynamoDB (`external: true`) nothing is captured here: the records come from the endpoint's own
 * stream through `ingest` (streamsPoller.ts), and a TTL deletion only marks the item so that the REMOVE the endpoint
 * writes for it carries the DynamoDB service's userIdentity.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dynamoDBSdk } from './sdk.js';
import { STREAM_LABEL, type TableDefinition } from '../config/serverless.js';
import type { EventLog } from '../eventLog.js';

export type Item = Record<string, AttributeValue>;
export type StreamViewType = 'KEYS_ONLY' | 'NEW_IMAGE' | 'OLD_IMAGE' | 'NEW_AND_OLD_IMAGES';

/** A record as a Lambda event source mapping delivers it (the `Records[]` of a DynamoDB Streams event). */
export interface StreamRecord {
  eventID: string;
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  eventVersion: '1.1';
  eventSource: 'aws:dynamodb';
  awsRegion: string;
  dynamodb: {
    /** Epoch seconds, as the Lambda event carries it. */
    ApproximateCreationDateTime: number;
    Keys: Item;
    NewImage?: Item;
    OldImage?: Item;
    SequenceNumber: string;
    SizeBytes: number;
    StreamViewType: StreamViewType;
  };
  eventSourceARN: string;
  userIdentity?: { type: 'Service'; principalId: 'dynamodb.amazonaws.com' };
}

/** A shard: the records whose sequence numbers fall in its range. A closed shard has an ending sequence number. */
export interface Shard {
  shardId: string;
  parentShardId?: string;
  startingSequenceNumber: string;
  endingSequenceNumber?: string;
  /** Emulator time the shard opened (epoch ms). */
  openedAt: number;
}

/** One table's stream: records in sequence-number order (24 hours of them, as on AWS), split in shards. */
export interface Stream {
  tableName: string;
  arn: string;
  /** The label that ends the ARN (the stream's creation time, as AWS writes it). */
  label: string;
  /** The open shard (the one new records go to). */
  shardId: string;
  shards: Shard[];
  viewType: StreamViewType;
  keySchema: Array<{ AttributeName: string; KeyType: string }>;
  /** Emulator time the stream was created (epoch ms). */
  createdAt: number;
  records: StreamRecord[];
  /** The highest sequence number dropped by retention: an iterator at or before it reads trimmed data. */
  trimmedThrough?: string;
}

/** What a table definition (serverless.yml or a CreateTable request) says about its stream. */
export type StreamedTable = Pick<TableDefinition, 'TableName' | 'KeySchema' | 'StreamSpecification'>;

const RETENTION_MS = 24 * 60 * 60 * 1000;
/** AWS rolls a stream's shards over about every 4 hours ("DynamoDB Streams" shard lifecycle). */
export const SHARD_ROLLOVER_MS = 4 * 60 * 60 * 1000;
const WRITE_OPERATIONS = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem']);

/** Same attribute values, whatever the key order (a write that changes nothing writes no record, as on AWS). */
function sameItem(a: Item | undefined, b: Item | undefined): boolean {
  const canonical = (value: unknown): string =>
    JSON.stringify(value, (_k, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x.localeCompare(y))) : v,
    );
  return canonical(a) === canonical(b);
}

export function createStreams(options: {
  tables: TableDefinition[];
  region: string;
  accountId?: string;
  now: () => number;
  eventLog?: EventLog;
  /** The tables live in an external DynamoDB whose own stream is read (records arrive through `ingest`). */
  external?: boolean;
}) {
  const accountId = options.accountId ?? '123456789012';
  const streams = new Map<string, Stream>();
  const keySchemas = new Map<string, string[]>();
  let sequence = 0n;
  // AWS's sequence numbers are decimal strings of ~21 digits that grow within a shard.
  const nextSequenceNumber = (): string => (10n ** 20n + ++sequence).toString();
  /** The sequence number the next record will get (a new shard starts there). */
  const upcomingSequenceNumber = (): string => (10n ** 20n + sequence + 1n).toString();
  // AWS's shard ids: "shardId-" + 20 digits of creation time + "-" + 8 hex digits.
  const shardIdAt = (ms: number): string => `shardId-${String(ms).padStart(20, '0')}-${randomUUID().replace(/-/g, '').slice(0, 8)}`;

  /** Starts capturing the stream of `table` (serverless.yml's tables at start, or a CreateTable/UpdateTable later). */
  function addTable(table: StreamedTable, label = STREAM_LABEL): Stream | undefined {
    keySchemas.set(
      table.TableName,
      table.KeySchema.map((k) => k.AttributeName),
    );
    const spec = table.StreamSpecification;
    if (!spec || spec.StreamEnabled === false) return undefined;
    const existing = streams.get(table.TableName);
    if (existing) return existing;
    const openedAt = options.now();
    const shardId = shardIdAt(openedAt);
    const stream: Stream = {
      tableName: table.TableName,
      arn: `arn:aws:dynamodb:${options.region}:${accountId}:table/${table.TableName}/stream/${label}`,
      label,
      shardId,
      shards: [{ shardId, startingSequenceNumber: upcomingSequenceNumber(), openedAt }],
      viewType: spec.StreamViewType,
      keySchema: table.KeySchema,
      createdAt: openedAt,
      records: [],
    };
    streams.set(table.TableName, stream);
    return stream;
  }
  for (const table of options.tables) addTable(table);

  /** Closes the open shard of `stream` at the last sequence number given out, and opens its child. */
  function rollShard(stream: Stream): Shard {
    const open = stream.shards[stream.shards.length - 1];
    open.endingSequenceNumber = (10n ** 20n + sequence).toString();
    const openedAt = options.now();
    const child: Shard = {
      shardId: shardIdAt(openedAt),
      parentShardId: open.shardId,
      startingSequenceNumber: upcomingSequenceNumber(),
      openedAt,
    };
    stream.shards.push(child);
    stream.shardId = child.shardId;
    return child;
  }

  /** Drops records older than the retention period, and closed shards left with none of theirs. */
  function trim(stream: Stream): void {
    const cutoff = options.now() / 1000 - RETENTION_MS / 1000;
    while (stream.records.length && stream.records[0].dynamodb.ApproximateCreationDateTime < cutoff)
      stream.trimmedThrough = stream.records.shift()!.dynamodb.SequenceNumber;
    const through = stream.trimmedThrough;
    if (through === undefined) return;
    stream.shards = stream.shards.filter((s) => s.endingSequenceNumber === undefined || BigInt(s.endingSequenceNumber) > BigInt(through));
  }

  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  // External mode: items the TTL sweeper deleted, whose REMOVE is still to come from the endpoint's stream.
  const pendingTtlDeletes = new Set<string>();

  // Per-item locks: a chain of promises per "table + key".
  const locks = new Map<string, Promise<void>>();
  async function withLocks<T>(lockKeys: string[], run: () => Promise<T>): Promise<T> {
    const unique = [...new Set(lockKeys)].sort();
    const previous = unique.map((k) => locks.get(k) ?? Promise.resolve());
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    for (const k of unique) locks.set(k, mine);
    await Promise.all(previous);
    try {
      return await run();
    } finally {
      release();
      for (const k of unique) if (locks.get(k) === mine) locks.delete(k);
    }
  }

  const keyOf = (tableName: string, item: Item): Item =>
    Object.fromEntries((keySchemas.get(tableName) ?? []).map((name) => [name, item[name]]));
  const lockKey = (tableName: string, key: Item): string =>
    `${tableName}\u0000${JSON.stringify(keySchemas.get(tableName)?.map((n) => key[n]))}`;

  /** Appends the record a change makes, if it changed anything. */
  function append(
    tableName: string,
    key: Item,
    oldImage: Item | undefined,
    newImage: Item | undefined,
    ttl = false,
  ): StreamRecord | undefined {
    const stream = streams.get(tableName);
    if (!stream || (!oldImage && !newImage) || sameItem(oldImage, newImage)) return undefined;
    const eventName = !oldImage ? 'INSERT' : !newImage ? 'REMOVE' : 'MODIFY';
    const withNew = stream.viewType === 'NEW_IMAGE' || stream.viewType === 'NEW_AND_OLD_IMAGES';
    const withOld = stream.viewType === 'OLD_IMAGE' || stream.viewType === 'NEW_AND_OLD_IMAGES';
    const images = { ...(withNew && newImage ? { NewImage: newImage } : {}), ...(withOld && oldImage ? { OldImage: oldImage } : {}) };
    const record: StreamRecord = {
      eventID: randomUUID().replace(/-/g, ''),
      eventName,
      eventVersion: '1.1',
      eventSource: 'aws:dynamodb',
      awsRegion: options.region,
      dynamodb: {
        ApproximateCreationDateTime: Math.floor(options.now() / 1000),
        Keys: key,
        ...images,
        SequenceNumber: '', // given out below, once the shard it belongs to is known
        // The size of the record's data (keys and images); AWS counts its own encoding, which this approximates.
        SizeBytes: Buffer.byteLength(JSON.stringify({ Keys: key, ...images })),
        StreamViewType: stream.viewType,
      },
      eventSourceARN: stream.arn,
      ...(ttl ? { userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' } as const } : {}),
    };
    trim(stream);
    if (options.now() - stream.shards[stream.shards.length - 1].openedAt >= SHARD_ROLLOVER_MS) rollShard(stream);
    // The record's sequence number is given out after a rollover, so it falls in the open shard's range.
    record.dynamodb.SequenceNumber = nextSequenceNumber();
    publish(stream, record, ttl);
    return record;
  }

  /** Appends `record` to `stream`, logs it and tells the mappings. */
  function publish(stream: Stream, record: StreamRecord, ttl: boolean): void {
    const { tableName } = stream;
    const { eventName } = record;
    const key = record.dynamodb.Keys;
    stream.records.push(record);
    options.eventLog?.record({
      kind: 'streamRecord',
      table: tableName,
      eventName,
      eventID: record.eventID,
      sequenceNumber: record.dynamodb.SequenceNumber,
      keys: key,
      ...(ttl ? { ttl: true } : {}),
    });
    emitter.emit(stream.arn, record);
  }

  /** The items a write request touches, by table. */
  function touched(operation: string, body: Record<string, unknown>): Array<{ table: string; key: Item }> {
    if (operation === 'BatchWriteItem') {
      const items = (body.RequestItems ?? {}) as Record<string, Array<{ PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }>>;
      return Object.entries(items).flatMap(([table, requests]) =>
        requests.map((r) => ({ table, key: r.PutRequest ? keyOf(table, r.PutRequest.Item) : (r.DeleteRequest?.Key ?? {}) })),
      );
    }
    const table = String(body.TableName ?? '');
    const key = operation === 'PutItem' ? keyOf(table, (body.Item ?? {}) as Item) : ((body.Key ?? {}) as Item);
    return [{ table, key }];
  }

  return {
    /** Streams by table name, for the event source mappings and tests. */
    streams,
    streamOfArn: (arn: string): Stream | undefined => [...streams.values()].find((s) => s.arn === arn),
    /** Calls `listener` for every record appended to the stream `arn` from now on. */
    onRecord(arn: string, listener: (record: StreamRecord) => void): () => void {
      emitter.on(arn, listener);
      return () => emitter.off(arn, listener);
    },
    /**
     * Wraps dynalite's request handler: writes to streamed tables are captured, everything else passes straight on.
     * `client` reads images without being captured or logged (the provider's internal client).
     */
    captureWrites(client: DynamoDBClient, handler: (req: IncomingMessage, res: ServerResponse) => void) {
      return (req: IncomingMessage, res: ServerResponse): void => {
        const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
        if (streams.size === 0 || !WRITE_OPERATIONS.has(operation)) {
          handler(req, res);
          return;
        }
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          const raw = Buffer.concat(chunks);
          let items: Array<{ table: string; key: Item }> = [];
          try {
            items = touched(operation, JSON.parse(raw.toString('utf8')) as Record<string, unknown>).filter((i) => streams.has(i.table));
          } catch {
            // Not JSON: dynalite answers the SerializationException; nothing to capture.
          }
          // dynalite reads the body from 'data'/'end' events: replay them on a stand-in that carries what it reads.
          const replay = Object.assign(new EventEmitter(), {
            headers: req.headers,
            method: req.method,
            url: req.url,
          }) as unknown as IncomingMessage;
          const forward = (): void => {
            handler(replay, res);
            replay.emit('data', raw);
            replay.emit('end');
          };
          if (items.length === 0) return forward();
          const read = (table: string, key: Item): Promise<Item | undefined> =>
            client.send(new (dynamoDBSdk().GetItemCommand)({ TableName: table, Key: key, ConsistentRead: true })).then((r) => r.Item);
          void withLocks(
            items.map((i) => lockKey(i.table, i.key)),
            async () => {
              const before = await Promise.all(items.map((i) => read(i.table, i.key)));
              await new Promise<void>((done) => {
                // Hold dynalite's answer until the new images are read and the records appended, so a client that
                // has its answer finds the record in the stream.
                const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
                (res as { end: (...args: unknown[]) => ServerResponse }).end = (...args: unknown[]) => {
                  const finish = async (): Promise<void> => {
                    if (res.statusCode === 200) {
                      const after = await Promise.all(items.map((i) => read(i.table, i.key)));
                      for (const [n, i] of items.entries()) append(i.table, i.key, before[n], after[n]);
                    }
                  };
                  void finish()
                    .catch((error: unknown) =>
                      options.eventLog?.record({ kind: 'fault', description: `stream capture failed: ${(error as Error).message}` }),
                    )
                    .finally(() => {
                      end(...args);
                      done();
                    });
                  return res;
                };
                forward();
              });
            },
          );
        });
      };
    },
    /**
     * A TTL deletion of `oldImage` (the sweeper calls this under the item's lock, via `withItemLock`). External
     * mode: the endpoint writes the REMOVE; it is marked here so that `ingest` gives it the service's userIdentity.
     */
    captureTtlDelete(tableName: string, oldImage: Item): StreamRecord | undefined {
      if (options.external) {
        if (streams.has(tableName)) pendingTtlDeletes.add(lockKey(tableName, keyOf(tableName, oldImage)));
        return undefined;
      }
      return append(tableName, keyOf(tableName, oldImage), oldImage, undefined, true);
    },
    /**
     * A record read from an external endpoint's stream (streamsPoller.ts), appended as it came — its eventID,
     * sequence number and images — for the table's event source mappings.
     */
    ingest(tableName: string, record: StreamRecord): void {
      const stream = streams.get(tableName);
      if (!stream) throw new Error(`ingest: ${tableName} has no stream here`);
      const lock = lockKey(tableName, record.dynamodb.Keys);
      const ttl = record.eventName === 'REMOVE' && (pendingTtlDeletes.delete(lock) || record.userIdentity !== undefined);
      publish(stream, ttl ? { ...record, userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' } } : record, ttl);
    },
    addTable,
    /** Closes the open shard of `tableName`'s stream and opens its child, as AWS does every few hours. */
    rollShard(tableName: string): Shard {
      const stream = streams.get(tableName);
      if (!stream) throw new Error(`rollShard: ${tableName} has no stream`);
      return rollShard(stream);
    },
    /** The emulator's clock (iterators expire on it). */
    now: options.now,
    withItemLock<T>(tableName: string, key: Item, run: () => Promise<T>): Promise<T> {
      return withLocks([lockKey(tableName, key)], run);
    },
    /** Forgets every record (between scenarios). */
    clear(): void {
      for (const stream of streams.values()) stream.records.length = 0;
      pendingTtlDeletes.clear();
    },
  };
}

export type Streams = ReturnType<typeof createStreams>;
