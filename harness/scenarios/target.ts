/**
 * Where scenarios run. In-process: emulators started here (a small pool, each reset between scenarios — the
 * default, and what CI uses). Remote: the endpoints of a running `npm run emulate`, where steps that need the
 * emulator's insides are skipped with a reason. A deployed stage: stage/target.ts.
 */
import { resolve } from 'node:path';
import { ScanCommand, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { SignJWT } from 'jose';
import { startEmulator, type Emulator } from '../emulator.js';
import { loadServerlessConfig, type ServerlessApp } from '../config/serverless.js';
import type { LoggedEvent } from '../eventLog.js';
import type { MetricQuery, MetricSeries } from '../cloudwatch/metrics.js';
import type { SimulatedClient, SimulatedHandshake } from '../apiGateway/websocket/api.js';
import type { SimulatedClientEvents } from '../apiGateway/websocket/simulated.js';
import type { Step } from './format.js';

/** How the app subscribes: `send` plus the step's fields under `dataField`, acknowledged by a frame matching `ack`. */
export interface SubscribeProtocol {
  send: Record<string, unknown>;
  dataField?: string;
  ack: unknown;
}

/** What a scenario can do to and learn from the emulator itself; absent on a remote target. */
export interface TargetInsides {
  /**
   * Whether this target can run a step that needs insides (undefined: all of them). A deployed stage maps some to
   * AWS APIs and not others; the runner reports the others as skipped.
   */
  supports?(step: Step): boolean;
  /** A deployed stage looks it up (asynchronously); the emulator knows it. */
  connectionIdOf(userAgent: string): string | undefined | Promise<string | undefined>;
  faults: {
    postToConnection(connectionId: string, status: number, count: number): void;
    socketDies(connectionId: string, disconnectFails: boolean): void;
    dynamodbThrottle(count: number, operation?: string): void;
    /** The next `count` BatchWriteItem requests (on `table`) leave part of their batch unprocessed. */
    dynamodbUnprocessed(count: number, table?: string): void;
    lambdaTimeout(functionName: string, count: number, when?: { afterMs?: number; afterCalls?: number; service?: string }): void;
    indexLag(ms: number): Promise<void>;
    /** Stream batches holding a record that matches fail as if the consumer threw on it. */
    streamRecordFails(matches: (record: unknown) => boolean, description: string): void;
    coldStart(functionName: string): void;
  };
  /** Network time for this scenario (the emulator goes back to its own at release). */
  setLatency(profile: 'none' | 'aws'): Promise<void>;
  /** Moves the emulated clock and lets what became due happen (timeouts, TTL expiry). */
  advanceClock(ms: number): Promise<void>;
  /** The CloudWatch series (from the functions' EMF lines) a query matches, since the scenario started. */
  metrics(query: MetricQuery): MetricSeries[];
  /** Keys of each cache invalidation so far, oldest first. */
  cacheInvalidations(): string[][];
  /** Whether the app's record of the connection exists (custom.emulator.connectionRecord). */
  connectionRecordExists(connectionId: string): Promise<boolean>;
  connectionRecordCount(): Promise<number>;
  events(): readonly LoggedEvent[];
  /** Waits until API Gateway has let go of the connection and its $disconnect (if any) has run. */
  settle(connectionId: string): Promise<void>;
  /** Load runs: connections without sockets in the emulated API's registry (harness/apiGateway/websocket/simulated.ts). */
  /** Absent where connections cannot enter the API's registry in-process (a deployed stage). */
  simulatedConnections?: {
    connect(
      handshake: SimulatedHandshake,
      client: SimulatedClientEvents,
    ): Promise<{ ok: true; client: SimulatedClient } | { ok: false; status: number }>;
  };
  /** The new-connections-per-second quota until the target is released (AWS's 500 by default). */
  setMaxConnectionsPerSecond?(rate: number): void;
  /** Calls `listener` for each event the emulator records from now on; returns the unsubscribe. */
  onEvent?(listener: (event: LoggedEvent) => void): () => void;
}

export interface ScenarioTarget {
  name: string;
  graphqlUrl: string;
  wsUrl: string;
  mintToken(claims: Record<string, unknown>): Promise<string>;
  /** Where clients put their token at the handshake: this query parameter, or (undefined) an Authorization header. */
  tokenQueryParameter: string | undefined;
  /** The app's subscribe protocol (custom.emulator.scenarios.subscribe). */
  subscribe: SubscribeProtocol | undefined;
  insides: TargetInsides | undefined;
  /**
   * Resolves once what the steps so far wrote has gone through the app's event pipelines (stream and queue
   * consumers), so an absence check that starts then can see a notification they would send. Watched where the
   * emulator runs in this process with its own DynamoDB (every stream record handled and every queue batch in flight
   * done: at once when nothing was written; a message delayed in a queue, such as a retry round's, is not waited
   * for); elsewhere, waited for: the longest batching window of serverless.yml. Absent: no pipelines.
   */
  pipelinesDelivered?(): Promise<void>;
  /** Gives the target back (in-process: reset and return it to the pool). */
  release(): Promise<void>;
}

export interface TargetFactory {
  acquire(): Promise<ScenarioTarget>;
  close(): Promise<void>;
}

/**
 * The longest time a stream or queue consumer of the app waits to gather a batch (`batchWindow`,
 * `maximumBatchingWindow`): a notification such a consumer sends can come that long after the write that caused it.
 */
export function longestBatchingWindowMs(app: ServerlessApp): number {
  const windows = app.functions.flatMap((f) => [...f.streamEvents, ...f.sqsEvents].filter((e) => e.enabled));
  return Math.max(0, ...windows.map((e) => e.maximumBatchingWindowSeconds * 1000));
}

/** Waits out the app's longest batching window: what a target whose pipelines cannot be watched does instead. */
export const waitOutBatchingWindows = (app: ServerlessApp) => (): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, longestBatchingWindowMs(app)));

/**
 * The secret development tokens are signed with (HS256): the one given, else the variable serverless.yml's
 * `custom.emulator.tokens.secretVariable` names (JWT_SECRET when unset) from the environment, else that variable as
 * the functions' environment resolves it (their local development value).
 */
function secretFor(app: ServerlessApp, given: string | undefined): string {
  const variable = app.emulator.tokens?.secretVariable ?? 'JWT_SECRET';
  const secret = given ?? process.env[variable] ?? app.functions.map((f) => f.environment[variable]).find(Boolean);
  if (!secret)
    throw new Error(
      `Scenarios sign tokens with ${variable}: set it, or give the functions a ${variable} in serverless.yml (custom.emulator.tokens.secretVariable names another)`,
    );
  return secret;
}

async function sign(claims: Record<string, unknown>, secret: string): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(new TextEncoder().encode(secret));
}

function insidesOf(emulator: Emulator): TargetInsides {
  const { connectionRecord } = emulator.app.emulator;
  const table =
    connectionRecord && emulator.app.tables.find((t) => t.logicalId === connectionRecord.table || t.TableName === connectionRecord.table);
  const needRecord = (): { name: string; key: Record<string, string> } => {
    if (!connectionRecord || !table)
      throw new Error('expectConnection needs custom.emulator.connectionRecord {table, key} in serverless.yml');
    return { name: table.TableName, key: connectionRecord.key };
  };
  const keyFor = (template: Record<string, string>, connectionId: string): Record<string, AttributeValue> =>
    Object.fromEntries(Object.entries(template).map(([k, v]) => [k, { S: v.replace('{connectionId}', connectionId) }]));

  return {
    connectionIdOf: (userAgent) => emulator.websocketApi.connections.find((c) => c.userAgent === userAgent),
    faults: {
      postToConnection: (id, status, count) => emulator.websocketApi.faults.failNextPosts(id, status, count),
      socketDies: (id, disconnectFails) => {
        if (disconnectFails) emulator.websocketApi.faults.dropDisconnect(id);
        emulator.websocketApi.faults.killSocket(id);
      },
      dynamodbThrottle: (count, operation) => emulator.dynamodb.faults.throttleNext(count, operation ? { operation } : {}),
      dynamodbUnprocessed: (count, table) => emulator.dynamodb.faults.unprocessedNext(count, table ? { table } : {}),
      lambdaTimeout: (fn, count, when) => emulator.invoker.faults.timeoutNext(fn, count, when),
      indexLag: (ms) => emulator.dynamodb.faults.indexLag(ms),
      streamRecordFails: (matches, description) => emulator.streamFaults.failRecords(matches, description),
      coldStart: (fn) => emulator.invoker.faults.coldStartNext(fn),
    },
    setLatency: (profile) => emulator.setLatency(profile),
    async advanceClock(ms) {
      emulator.clock.advance(ms);
      await emulator.websocketApi.settled();
      await emulator.dynamodb.sweepExpiredItems();
    },
    metrics: (query) => emulator.metrics.find(query),
    cacheInvalidations: () => emulator.eventLog.all().flatMap((e) => (e.kind === 'cacheInvalidated' ? [e.keys] : [])),
    async connectionRecordExists(connectionId) {
      const { name, key } = needRecord();
      const { Item } = await emulator.dynamodb.client.send(
        new GetItemCommand({ TableName: name, Key: keyFor(key, connectionId), ConsistentRead: true }),
      );
      return Item !== undefined;
    },
    async connectionRecordCount() {
      const { name, key } = needRecord();
      // Key parts without {connectionId} are fixed (e.g. sk = META): they tell connection records from other rows.
      const fixed = Object.entries(key).filter(([, v]) => !v.includes('{connectionId}'));
      let count = 0;
      let start: Record<string, AttributeValue> | undefined;
      do {
        const page = await emulator.dynamodb.client.send(
          new ScanCommand({
            TableName: name,
            Select: 'COUNT',
            ExclusiveStartKey: start,
            ...(fixed.length
              ? {
                  FilterExpression: fixed.map((_, i) => `#k${i} = :v${i}`).join(' AND '),
                  ExpressionAttributeNames: Object.fromEntries(fixed.map(([k], i) => [`#k${i}`, k])),
                  ExpressionAttributeValues: Object.fromEntries(fixed.map(([, v], i) => [`:v${i}`, { S: v }])),
                }
              : {}),
          }),
        );
        count += page.Count ?? 0;
        start = page.LastEvaluatedKey;
      } while (start);
      return count;
    },
    events: () => emulator.eventLog.all(),
    simulatedConnections: emulator.websocketApi.simulated,
    setMaxConnectionsPerSecond: (rate) => emulator.websocketApi.setMaxConnectionsPerSecond(rate),
    onEvent: (listener) => emulator.eventLog.subscribe(listener),
    async settle(connectionId) {
      const deadline = Date.now() + 2000;
      while (emulator.websocketApi.connections.get(connectionId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      await emulator.websocketApi.settled();
    },
  };
}

/**
 * In-process emulators, started on demand up to `size` and reused: each scenario gets one to itself, reset
 * (clients disconnected, tables emptied, faults and events cleared) when the scenario gives it back.
 */
export function inProcessTargets(options: {
  projectRoot: string;
  size: number;
  jwtSecret?: string;
  dynamodbEndpoint?: string;
  /** A folder npm run package wrote: the emulators run its bundles instead of the source (and its stage). */
  package?: string;
}): TargetFactory {
  const idle: Emulator[] = [];
  const all: Promise<Emulator>[] = [];
  const waiting: Array<(emulator: Emulator) => void> = [];

  function wrap(emulator: Emulator): ScenarioTarget {
    return {
      name: 'in-process',
      graphqlUrl: emulator.graphqlUrl,
      wsUrl: emulator.wsUrl,
      mintToken: (claims) => sign(claims, secretFor(emulator.app, options.jwtSecret)),
      subscribe: emulator.app.emulator.scenarios.subscribe,
      tokenQueryParameter: emulator.app.emulator.tokens?.queryParameter,
      insides: insidesOf(emulator),
      // With an external DynamoDB, a record reaches the mappings only once the poller has read it from the endpoint's
      // stream: its batching window is waited out first, then the mappings must have handled what they got.
      pipelinesDelivered: emulator.streamsPoller
        ? () => waitOutBatchingWindows(emulator.app)().then(() => emulator.mappingsIdle())
        : () => emulator.mappingsIdle(),
      async release() {
        await emulator.reset();
        const next = waiting.shift();
        if (next) next(emulator);
        else idle.push(emulator);
      },
    };
  }

  return {
    async acquire() {
      const ready = idle.pop();
      if (ready) return wrap(ready);
      if (all.length < options.size) {
        const secret = options.jwtSecret ?? process.env.JWT_SECRET;
        // On a shared external DynamoDB (LocalStack, Floci) each emulator gets a stage of its own, hence tables of its
        // own: a reset empties its tables, never another scenario's.
        const storage = options.dynamodbEndpoint
          ? { storage: { endpoint: options.dynamodbEndpoint }, stage: `scenarios${all.length + 1}` }
          : { storage: 'memory' as const };
        const starting = startEmulator({
          projectRoot: options.projectRoot,
          ...storage,
          ...(options.package !== undefined ? { package: options.package } : {}),
          environment: { LOG_LEVEL: 'INFO', ...(secret ? { JWT_SECRET: secret } : {}) },
        });
        all.push(starting);
        return wrap(await starting);
      }
      return wrap(await new Promise<Emulator>((resolve) => waiting.push(resolve)));
    },
    async close() {
      const emulators = await Promise.all(all);
      await Promise.all(emulators.map((e) => e.close()));
    },
  };
}

/** The endpoints of a running emulator (or stage). Tokens are signed with JWT_SECRET or the development default. */
export function remoteTarget(options: { httpUrl: string; wsUrl: string; projectRoot: string; jwtSecret?: string }): TargetFactory {
  const url = new URL(options.httpUrl);
  const graphqlUrl = url.pathname === '/' ? new URL('/graphql', url).href : url.href;
  // Only custom.emulator is needed here; Refs to emulated resources do not matter for it.
  const app = loadServerlessConfig(resolve(options.projectRoot, 'serverless.yml'), { refs: () => 'remote' });
  const secret = secretFor(app, options.jwtSecret);
  const target: ScenarioTarget = {
    name: `remote ${graphqlUrl}`,
    graphqlUrl,
    wsUrl: options.wsUrl,
    mintToken: (claims) => sign(claims, secret),
    subscribe: app.emulator.scenarios.subscribe,
    tokenQueryParameter: app.emulator.tokens?.queryParameter,
    insides: undefined,
    pipelinesDelivered: waitOutBatchingWindows(app),
    release: async () => undefined,
  };
  return { acquire: async () => target, close: async () => undefined };
}
