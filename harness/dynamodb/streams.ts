/**
 * DynamoDB Streams for the emulator. dynalite has none, so changes are captured where every request passes: the
 * provider's proxy hands each write to `captureWrites`, which reads the items' old images, lets dynalite apply the
 * write, reads the new images before the answer leaves, and appends one record per changed item — INSERT, MODIFY or
 * REMOVE, with the images the table's StreamViewType asks for. Writes to one item are serialized by a per-key lock
 * so its records are in write order (AWS orders records per item; here one shard per table orders them all).
 * TTL deletions come from the provider's sweeper through `captureTtlDelete`, as REMOVE records whose userIdentity is
 * the DynamoDB service, as AWS writes them.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GetItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
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

/** One table's stream: a single shard holding records in sequence-number order (24 hours of them, as on AWS). */
export interface Stream {
  tableName: string;
  arn: string;
  shardId: string;
  viewType: StreamViewType;
  records: StreamRecord[];
}

const RETENTION_MS = 24 * 60 * 60 * 1000;
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
}) {
  const accountId = options.accountId ?? '123456789012';
  const streams = new Map<string, Stream>();
  const keySchemas = new Map<string, string[]>();
  for (const table of options.tables) {
    keySchemas.set(
      table.TableName,
      table.KeySchema.map((k) => k.AttributeName),
    );
    const spec = table.StreamSpecification;
    if (!spec || spec.StreamEnabled === false) continue;
    streams.set(table.TableName, {
      tableName: table.TableName,
      arn: `arn:aws:dynamodb:${options.region}:${accountId}:table/${table.TableName}/stream/${STREAM_LABEL}`,
      shardId: `shardId-00000001700000000000-${randomUUID().replace(/-/g, '').slice(0, 8)}`,
      viewType: spec.StreamViewType,
      records: [],
    });
  }
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let sequence = 0n;
  // AWS's sequence numbers are decimal strings of ~21 digits that grow within a shard.
  const nextSequenceNumber = (): string => (10n ** 20n + ++sequence).toString();

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
        SequenceNumber: nextSequenceNumber(),
        // The size of the record's data (keys and images); AWS counts its own encoding, which this approximates.
        SizeBytes: Buffer.byteLength(JSON.stringify({ Keys: key, ...images })),
        StreamViewType: stream.viewType,
      },
      eventSourceARN: stream.arn,
      ...(ttl ? { userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' } as const } : {}),
    };
    const cutoff = options.now() / 1000 - RETENTION_MS / 1000;
    while (stream.records.length && stream.records[0].dynamodb.ApproximateCreationDateTime < cutoff) stream.records.shift();
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
    return record;
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
            client.send(new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true })).then((r) => r.Item);
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
    /** A TTL deletion of `oldImage` (the sweeper calls this under the item's lock, via `withItemLock`). */
    captureTtlDelete(tableName: string, oldImage: Item): StreamRecord | undefined {
      return append(tableName, keyOf(tableName, oldImage), oldImage, undefined, true);
    },
    withItemLock<T>(tableName: string, key: Item, run: () => Promise<T>): Promise<T> {
      return withLocks([lockKey(tableName, key)], run);
    },
    /** Forgets every record (between scenarios). */
    clear(): void {
      for (const stream of streams.values()) stream.records.length = 0;
    },
  };
}

export type Streams = ReturnType<typeof createStreams>;
