/**
 * DynamoDB for the emulator: dynalite in-process on a free port (in memory, or on disk so `emulate` keeps data
 * across restarts), or an external endpoint such as LocalStack. Tables come from serverless.yml. Adds what dynalite
 * lacks and the app relies on — TTL expiry, on the emulator's clock — plus fault injection (throttling) and a
 * record of every operation in the event log.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdirSync } from 'node:fs';
import dynalite from 'dynalite';
import type { AttributeValue, CreateTableCommandInput, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock } from '../clock.js';
import { closeServer, listen } from '../common/net.js';
import type { EventLog } from '../eventLog.js';
import type { TableDefinition } from '../config/serverless.js';
import type { Delay } from '../latency.js';
import { createIndexLag } from './indexLag.js';
import { closeDynaliteIteratorsOnReturn } from './iteratorClose.js';
import { createStreams } from './streams.js';
import { createStreamsEndpoint } from './streamsEndpoint.js';
import { bodyRequest, inProcessRequestHandler, serveInProcess, type RequestListener } from './inProcess.js';
import type { HttpLikeRequest, HttpLikeResponse } from '../lambda/types.js';
import { dynamoDBSdk, loadDynamoDBSdk } from './sdk.js';
import { answerJson } from './jsonAnswer.js';
import { holdBackHalf, withHeldBack } from './unprocessed.js';

export interface DynamoDBOptions {
  storage: 'memory' | { path: string } | { endpoint: string };
  tables: TableDefinition[];
  clock?: Clock;
  eventLog?: EventLog;
  region?: string;
  /** How often expired items are swept on real time; scenarios also sweep when they advance the clock. */
  sweepIntervalMs?: number;
  /**
   * Sees every request that is not the emulator's own, with its JSON body (tests assert on *how* code reads);
   * `status` is filled in on the same object once DynamoDB has answered.
   */
  onRequest?: (request: { operation: string; body: Record<string, unknown>; status?: number }) => void;
  /** How long a write takes to reach global secondary indexes. Default: no lag (dynalite's indexes are immediate). */
  indexLag?: Delay;
  /**
   * Called once the endpoint is known, before the tables are created (which leaves the main thread mostly waiting
   * on dynalite's timers): `npm run emulate` starts its containers' init from here.
   */
  onEndpoint?: (endpoint: string) => void;
}

interface Throttle {
  remaining: number;
  operation?: string;
  table?: string;
}

/** BatchWriteItem requests (on this table) that will leave part of their batch unprocessed. */
interface UnprocessedFault {
  remaining: number;
  table?: string;
}

/** Uses up one of `faults` that `applies`, if any (each counts its uses down and goes once used up): whether one did. */
function useFault<T extends { remaining: number }>(faults: T[], applies: (fault: T) => boolean): boolean {
  const index = faults.findIndex(applies);
  if (index < 0) return false;
  if (--faults[index].remaining <= 0) faults.splice(index, 1);
  return true;
}

const INTERNAL_HEADER = 'x-emulator-internal';

// What DynamoDB answers when a request is throttled (HTTP 400, JSON 1.0 error body).
const THROTTLED_BODY = JSON.stringify({
  __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
  message:
    'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
});

/**
 * A client for the emulator's own housekeeping; its requests are marked so they stay out of the event log. An
 * external endpoint gets them unmarked: what it does with them (its stream records them) is its own business. With
 * the embedded dynalite it is answered in this thread (`requestHandler`), without a socket.
 */
function internalClient(
  endpoint: string,
  region: string,
  mark: boolean,
  requestHandler?: ReturnType<typeof inProcessRequestHandler>,
): DynamoDBClient {
  const client = new (dynamoDBSdk().DynamoDBClient)({
    endpoint,
    region,
    credentials: { accessKeyId: 'emulator', secretAccessKey: 'emulator' },
    ...(requestHandler ? { requestHandler } : {}),
  });
  if (!mark) return client;
  client.middlewareStack.add(
    (next) => async (args) => {
      (args.request as { headers: Record<string, string> }).headers[INTERNAL_HEADER] = '1';
      return next(args);
    },
    { step: 'build', name: 'markEmulatorInternal' },
  );
  return client;
}

/** Reads a request's whole body, then calls back with its bytes and, when they are JSON, the parsed object. */
function readJsonBody(req: IncomingMessage, then: (raw: Buffer, body: Record<string, unknown> | undefined) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    } catch {
      body = undefined; // dynalite answers the malformed request itself
    }
    then(raw, body);
  });
}

/** The CreateTable request of `table`; an external endpoint also gets its StreamSpecification (dynalite has none). */
function createTableInput(table: TableDefinition, external: boolean): CreateTableCommandInput {
  const { logicalId: _id, TimeToLiveSpecification: _ttl, StreamSpecification: stream, ...props } = table;
  const streamed = external && stream && stream.StreamEnabled !== false;
  return {
    ...(props as unknown as CreateTableCommandInput),
    ...(streamed ? { StreamSpecification: { StreamEnabled: true, StreamViewType: stream.StreamViewType } } : {}),
  };
}

export async function startDynamoDB(options: DynamoDBOptions) {
  const region = options.region ?? 'us-east-1';
  const now = options.clock?.now ?? Date.now;
  const throttles: Throttle[] = [];
  const unprocessedFaults: UnprocessedFault[] = [];
  let server: Server | undefined;
  let endpoint: string;
  const external = typeof options.storage === 'object' && 'endpoint' in options.storage;
  // Streams of the tables that declare a StreamSpecification: captured here (dynalite has none), or read from an
  // external endpoint's own stream by the emulator's poller (streamsPoller.ts), which feeds them in.
  const streams = createStreams({
    tables: options.tables,
    region,
    now,
    external,
    ...(options.eventLog ? { eventLog: options.eventLog } : {}),
  });
  // The DynamoDB Streams API of those streams, on dynalite's port (as LocalStack serves it on its own).
  const streamsEndpoint = createStreamsEndpoint(streams);
  let captureWrites: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let dynaliteHandler: RequestListener | undefined;
  // Every request to the embedded dynalite, from its port or in-process: faults, index lag, streams, dynalite.
  const listener: RequestListener = (req, res) => {
    if (streamsEndpoint.handles(req)) return streamsEndpoint.serve(req, res);
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1];
    if (operation !== 'CreateTable' && operation !== 'UpdateTable' && operation !== 'DescribeTable')
      return observe(req, res, captureWrites ?? dynaliteHandler!);
    // Table operations: the answer shows the table's stream (and a StreamSpecification starts one).
    readJsonBody(req, (raw, body) => {
      streamsEndpoint.tableOperation(operation, body, res);
      const replay = bodyRequest({ headers: req.headers, method: req.method, url: req.url }, raw);
      observe(replay.req, res, captureWrites ?? dynaliteHandler!);
      replay.deliver();
    });
  };

  if (typeof options.storage === 'object' && 'endpoint' in options.storage) {
    endpoint = options.storage.endpoint;
  } else {
    const path = typeof options.storage === 'object' ? options.storage.path : undefined;
    if (path) mkdirSync(path, { recursive: true });
    closeDynaliteIteratorsOnReturn();
    server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(path ? { path } : {}) });
    dynaliteHandler = server.listeners('request')[0] as (req: IncomingMessage, res: ServerResponse) => void;
    server.removeAllListeners('request');
    server.on('request', listener);
    endpoint = `http://127.0.0.1:${(await listen(server, 0)).port}`;
  }
  // The containers' init starts from here, while this thread loads the SDK and creates the tables.
  options.onEndpoint?.(endpoint);
  const {
    BatchWriteItemCommand,
    ConditionalCheckFailedException,
    CreateTableCommand,
    DeleteItemCommand,
    DescribeTableCommand,
    ResourceInUseException,
    ScanCommand,
    UpdateTableCommand,
  } = await loadDynamoDBSdk();

  /**
   * Applies faults, index lag, and records each operation; everything else is dynalite's. The body is read first
   * (faults and index lag depend on it) and replayed to dynalite, possibly with a global secondary index read
   * pointed at the lagging copy of its table.
   */
  function observe(req: IncomingMessage, res: ServerResponse, next: (req: IncomingMessage, res: ServerResponse) => void): void {
    if (req.headers[INTERNAL_HEADER] === '1') {
      next(req, res);
      return;
    }
    const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? 'Unknown';
    readJsonBody(req, (raw, body) => {
      const table = typeof body?.TableName === 'string' ? body.TableName : Object.keys((body?.RequestItems as object | undefined) ?? {})[0];
      if (options.onRequest) {
        const seen: { operation: string; body: Record<string, unknown>; status?: number } = { operation, body: body ?? {} };
        options.onRequest(seen);
        res.on('finish', () => (seen.status = res.statusCode));
      }
      const throttled = useFault(
        throttles,
        (t) => t.remaining > 0 && (!t.operation || t.operation === operation) && (!t.table || t.table === table),
      );
      if (throttled) {
        options.eventLog?.record({
          kind: 'dynamodb',
          operation,
          table,
          statusCode: 400,
          errorType: 'ProvisionedThroughputExceededException',
        });
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': 'THROTTLED' });
        res.end(THROTTLED_BODY);
        return;
      }
      // A BatchWriteItem fault: part of the batch goes on, the rest comes back unprocessed (all of a one-request batch).
      const partial =
        operation === 'BatchWriteItem' && body?.RequestItems ? useFault(unprocessedFaults, (f) => !f.table || f.table === table) : false;
      let sent = body;
      if (partial && body) {
        const { forwarded: kept, heldBack } = holdBackHalf(body.RequestItems as Record<string, unknown[]>);
        const held = Object.values(heldBack).reduce((n, requests) => n + requests.length, 0);
        options.eventLog?.record({
          kind: 'fault',
          description: `DynamoDB left ${held} request(s) of a BatchWriteItem on ${table} unprocessed`,
        });
        if (!kept) {
          res.on('finish', () => options.eventLog?.record({ kind: 'dynamodb', operation, table, statusCode: 200 }));
          answerJson(res, { UnprocessedItems: heldBack });
          return;
        }
        sent = { ...body, RequestItems: kept };
        withHeldBack(res, heldBack);
      }
      // What dynalite is sent instead of the raw bytes: the kept part of a faulted batch, or a GSI read pointed at the
      // index's lagging copy (undefined: the request as it came).
      const forwarded = sent !== body ? sent : body ? indexLag.rewriteRead(operation, body) : undefined;
      const written = sent ? indexLag.beforeWrite(operation, sent) : undefined;
      res.on('finish', () => {
        options.eventLog?.record({
          kind: 'dynamodb',
          operation,
          table,
          statusCode: res.statusCode,
          ...(res.statusCode >= 400 ? { errorType: 'error' } : {}),
        });
        if (written && res.statusCode === 200) written();
      });
      // Replayed to dynalite as if it came from the socket: same headers, method and URL, this body.
      const replay = bodyRequest(
        { headers: req.headers, method: req.method, url: req.url },
        forwarded ? Buffer.from(JSON.stringify(forwarded)) : raw,
      );
      next(replay.req, res);
      replay.deliver();
    });
  }

  /** Serves one DynamoDB request in this thread (the embedded dynalite only), exactly as its port would. */
  const handle = server ? (request: HttpLikeRequest): Promise<HttpLikeResponse> => serveInProcess(listener, request) : undefined;
  const client = internalClient(endpoint, region, !external, handle && inProcessRequestHandler(handle));
  const indexLag = createIndexLag({
    client,
    tables: options.tables,
    lag: { baseMs: 0, jitterMs: 0 },
    ...(options.eventLog ? { eventLog: options.eventLog } : {}),
  });
  // Writes by handlers go through stream capture; the emulator's own (internal) writes — truncate between
  // scenarios — are not changes an application made, so they write no records.
  if (dynaliteHandler) {
    const handler = dynaliteHandler;
    const capture = streams.captureWrites(client, handler);
    captureWrites = (req, res) => (req.headers[INTERNAL_HEADER] === '1' ? handler(req, res) : capture(req, res));
  }

  /**
   * All tables at once, each polled until ACTIVE: dynalite (createTableMs 0) turns a table ACTIVE within a few
   * milliseconds, so a 50 ms poll per table used to leave start-up idle for a few hundred; an external endpoint
   * (LocalStack) may take longer and gets the same 5 s.
   */
  async function createTables(): Promise<void> {
    const pollMs = server ? 2 : 50;
    const untilActive = async (tableName: string) => {
      let streamEnabled = false;
      for (let waited = 0; waited < 5_000; waited += pollMs) {
        const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
        streamEnabled = Table?.StreamSpecification?.StreamEnabled === true;
        if (Table?.TableStatus === 'ACTIVE') break;
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
      return streamEnabled;
    };
    await Promise.all(
      options.tables.map(async (table) => {
        try {
          await client.send(new CreateTableCommand(createTableInput(table, external)));
        } catch (error) {
          if (!(error instanceof ResourceInUseException)) throw error; // exists already (on-disk data, LocalStack)
        }
        const streamEnabled = await untilActive(table.TableName);
        // A table an external endpoint already had, without the stream serverless.yml declares: turn it on.
        const wanted = createTableInput(table, external).StreamSpecification;
        if (wanted && !streamEnabled) {
          try {
            await client.send(new UpdateTableCommand({ TableName: table.TableName, StreamSpecification: wanted }));
          } catch (error) {
            // An endpoint without DynamoDB Streams (dynalite itself): the emulator's poller says so at start.
            if ((error as Error).name !== 'ValidationException') throw error;
            return;
          }
          await untilActive(table.TableName);
        }
      }),
    );
  }
  await createTables();
  if (options.indexLag) await indexLag.set(options.indexLag);

  async function scanAll(table: TableDefinition, filter?: { attribute: string; upTo: number }): Promise<Record<string, AttributeValue>[]> {
    const keys = table.KeySchema.map((k) => k.AttributeName);
    const items: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await client.send(
        new ScanCommand({
          TableName: table.TableName,
          ExclusiveStartKey: start,
          ProjectionExpression: keys.map((_, i) => `#k${i}`).join(', '),
          ExpressionAttributeNames: Object.fromEntries([
            ...keys.map((k, i) => [`#k${i}`, k]),
            ...(filter ? [['#ttl', filter.attribute]] : []),
          ]),
          ...(filter ? { FilterExpression: '#ttl <= :now', ExpressionAttributeValues: { ':now': { N: String(filter.upTo) } } } : {}),
        }),
      );
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async function deleteItems(table: string, keys: Record<string, AttributeValue>[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 25) {
      let requests = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
      while (requests.length) {
        const result = await client.send(new BatchWriteItemCommand({ RequestItems: { [table]: requests } }));
        requests = (result.UnprocessedItems?.[table] ?? []) as typeof requests;
      }
    }
  }

  /**
   * On a streamed table each expired item is deleted on its own, still expired (a conditional delete), and its old
   * image goes to the stream as a REMOVE by the DynamoDB service, as AWS's TTL process writes it.
   */
  async function deleteExpiredWithRecords(
    table: TableDefinition,
    attribute: string,
    keys: Record<string, AttributeValue>[],
    upTo: number,
  ): Promise<number> {
    let deleted = 0;
    for (const Key of keys) {
      await streams.withItemLock(table.TableName, Key, async () => {
        try {
          const { Attributes } = await client.send(
            new DeleteItemCommand({
              TableName: table.TableName,
              Key,
              ConditionExpression: '#ttl <= :now',
              ExpressionAttributeNames: { '#ttl': attribute },
              ExpressionAttributeValues: { ':now': { N: String(upTo) } },
              ReturnValues: 'ALL_OLD',
            }),
          );
          if (Attributes) {
            streams.captureTtlDelete(table.TableName, Attributes);
            deleted++;
          }
        } catch (error) {
          if (!(error instanceof ConditionalCheckFailedException)) throw error; // rewritten since the scan: not expired
        }
      });
    }
    return deleted;
  }

  /** Deletes items whose TTL attribute is at or before the clock's now, as DynamoDB's TTL process eventually would. */
  async function sweepExpiredItems(): Promise<number> {
    let deleted = 0;
    const upTo = Math.floor(now() / 1000);
    for (const table of options.tables) {
      const ttl = table.TimeToLiveSpecification;
      if (!ttl?.Enabled) continue;
      const expired = await scanAll(table, { attribute: ttl.AttributeName, upTo });
      if (streams.streams.has(table.TableName)) {
        deleted += await deleteExpiredWithRecords(table, ttl.AttributeName, expired, upTo);
        continue;
      }
      await deleteItems(table.TableName, expired);
      indexLag.afterInternalDelete(table.TableName, expired);
      deleted += expired.length;
    }
    return deleted;
  }

  let sweeping: Promise<number> | undefined;
  const sweepTimer = setInterval(() => {
    sweeping ??= sweepExpiredItems()
      .catch(() => 0)
      .finally(() => (sweeping = undefined));
  }, options.sweepIntervalMs ?? 30_000);
  sweepTimer.unref();

  return {
    endpoint,
    region,
    /** The tables live in an external DynamoDB (LocalStack, Floci, a URL), not in the embedded dynalite. */
    external,
    /** The emulator's own client (requests stay out of the event log). */
    client,
    /**
     * The embedded dynalite's requests served without a socket (undefined with an external endpoint): Lambda
     * containers' SDK calls to `endpoint` arrive here over their MessagePort.
     */
    handle,
    faults: {
      /** The next `count` matching requests answer ProvisionedThroughputExceededException (HTTP 400), as DynamoDB does. */
      throttleNext(count: number, match: { operation?: string; table?: string } = {}): void {
        if (!server) throw new Error('DynamoDB faults need the embedded dynalite, not an external endpoint');
        throttles.push({ remaining: count, ...match });
        options.eventLog?.record({
          kind: 'fault',
          description: `DynamoDB throttles the next ${count} ${match.operation ?? ''} request(s)${match.table ? ` on ${match.table}` : ''}`,
        });
      },
      /**
       * The next `count` BatchWriteItem requests (on `table`) apply only part of their batch and answer the rest as
       * UnprocessedItems (HTTP 200), as DynamoDB does under load: the later half of each table's requests, all of a
       * one-request batch.
       */
      unprocessedNext(count: number, match: { table?: string } = {}): void {
        if (!server) throw new Error('DynamoDB faults need the embedded dynalite, not an external endpoint');
        unprocessedFaults.push({ remaining: count, ...match });
        options.eventLog?.record({
          kind: 'fault',
          description: `DynamoDB leaves part of the next ${count} BatchWriteItem request(s)${match.table ? ` on ${match.table}` : ''} unprocessed`,
        });
      },
      /** Global secondary index reads lag writes by `ms` from now on (0: no lag), as a fault or a test's setting. */
      indexLag(ms: number): Promise<void> {
        if (!server) throw new Error('DynamoDB faults need the embedded dynalite, not an external endpoint');
        return indexLag.set({ baseMs: ms, jitterMs: 0 });
      },
      /** Forgets faults not yet used up. */
      clear(): void {
        throttles.length = 0;
        unprocessedFaults.length = 0;
      },
    },
    /** How long writes take to reach global secondary indexes (a latency profile's indexLag). */
    setIndexLag(lag: Delay): Promise<void> {
      if (!server && (lag.baseMs > 0 || lag.jitterMs > 0))
        throw new Error('Index lag needs the embedded dynalite, not an external endpoint');
      return indexLag.set(lag);
    },
    get indexLag(): Delay {
      return indexLag.lag;
    },
    sweepExpiredItems,
    /** DynamoDB Streams of the tables whose definition has a StreamSpecification. */
    streams,
    /** Their DynamoDB Streams API, served on `endpoint` (dynalite mode); its faults. */
    streamsEndpoint,
    /** Deletes every item of every table (test isolation without recreating tables). */
    async truncate(): Promise<void> {
      for (const table of options.tables) await deleteItems(table.TableName, await scanAll(table));
      await indexLag.resync();
      streams.clear();
    },
    async close(): Promise<void> {
      clearInterval(sweepTimer);
      await sweeping;
      await indexLag.close();
      client.destroy();
      await closeServer(server);
    },
  };
}

export type DynamoDBProvider = Awaited<ReturnType<typeof startDynamoDB>>;
