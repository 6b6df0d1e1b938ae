/**
 * Assembles the emulated AWS pieces from serverless.yml: DynamoDB (dynalite or an external endpoint), the Lambda
 * invoker, the WebSocket API with its management API, and the HTTP API. Generic: everything it knows about the
 * application comes from serverless.yml. Used by `npm run emulate`, the scenario runner and the tests.
 */
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { createClock, type Clock } from './clock.js';
import { createEventLog, type EventLog } from './eventLog.js';
import { loadServerlessConfig } from './config/serverless.js';
import { startDynamoDB, type DynamoDBOptions } from './dynamodb/provider.js';
import { startStreamsPoller, type StreamsPoller } from './dynamodb/streamsPoller.js';
import { createLambdaInvoker, type WarmReport } from './lambda/invoker.js';
import { createWebSocketApi } from './apiGateway/websocket/api.js';
import { createHttpApi } from './apiGateway/http/api.js';
import { corsConfiguration } from './apiGateway/http/cors.js';
import type { HttpLikeRequest, HttpLikeResponse, Invoke } from './lambda/types.js';
import { latencyProfile, type LatencyProfile } from './latency.js';
import { createQueues } from './sqs/queues.js';
import type { StreamRecord } from './dynamodb/streams.js';
import { createSqsMapping, createStreamMapping, type RecordFault } from './lambda/eventSourceMapping.js';
import { createInvokeApi, isInvokeRequest } from './lambda/invokeApi.js';
import type { LogEventRule } from './config/emulatorSettings.js';
import { createMetricsStore, metricsJson } from './cloudwatch/metrics.js';
import { metricsPrometheus, PROMETHEUS_CONTENT_TYPE } from './cloudwatch/prometheus.js';
import { loadPackagedCode, packagedStage } from './lambda/package/load.js';
import { EVENTS_PATH, serveEventLog } from './eventLogEndpoint.js';

/** The emulator's health check on the HTTP port (not an AWS path: nothing deployed answers it). */
export const HEALTH_PATH = '/_emulator/health';
/** The CloudWatch metrics the functions' EMF lines carry: JSON, or Prometheus text with ?format=prometheus / Accept: text/plain. */
export const METRICS_PATH = '/_emulator/metrics';

export interface EmulatorOptions {
  /** The project folder holding serverless.yml and the handler code. */
  projectRoot: string;
  /** Defaults to `<projectRoot>/serverless.yml`. */
  serverlessFile?: string;
  stage?: string;
  /** 'memory' (tests, scenarios), a folder for data that survives a restart (emulate), or an external endpoint (LocalStack). */
  storage?: 'memory' | { path: string } | { endpoint: string };
  /** 0 = any free port. Defaults to 0: callers that want serverless-offline's 3000/3001 say so. */
  httpPort?: number;
  wsPort?: number;
  host?: string;
  /** Variables set in every function's environment over serverless.yml's (e.g. JWT_SECRET). */
  environment?: Record<string, string>;
  /** Environment used to resolve `${env:…}` in serverless.yml. Defaults to process.env. */
  variableEnvironment?: NodeJS.ProcessEnv;
  clock?: Clock;
  maxContainersPerFunction?: number;
  /** Sees every DynamoDB request the handlers make, with its body (bench/capacity.bench.ts sums what reads consume). */
  onDynamoDBRequest?: DynamoDBOptions['onRequest'];
  /** New WebSocket connections accepted per second (and burst). Default AWS's quota, 500; load runs raise it. */
  maxConnectionsPerSecond?: number;
  /**
   * How long a WebSocket connection may stay without a message before the API closes it. Default AWS's 10 minutes,
   * which is not adjustable there: raise it only where the emulator's own slowness would otherwise close connections
   * that AWS would still hold (a bench setting up 50,000 connections takes longer here than 10 minutes; on AWS, at
   * 500 a second, under two).
   */
  websocketIdleTimeoutMs?: number;
  /**
   * Network time of handlers' AWS calls and GSI lag: a profile or its name ('none', 'aws'). Default 'none' (tests,
   * scenarios); `npm run emulate` defaults to 'aws'.
   */
  latency?: LatencyProfile | string;
  /** First retry delay of a failed stream batch (doubling up to 1 s); tests shorten it. */
  streamRetryDelayMs?: number;
  /**
   * A folder `npm run package` wrote (e.g. `.serverless`, relative to projectRoot): the functions run the packaged
   * bundles instead of the source, and the stage defaults to the package's. Refused when missing or stale.
   */
  package?: string;
  /**
   * With an external DynamoDB: where its DynamoDB Streams API answers. Default: the DynamoDB endpoint itself
   * (LocalStack and Floci serve both on one port).
   */
  streamsEndpoint?: string;
  /**
   * Warm one container per function in parallel before resolving (`npm run emulate`), so the first request does
   * not pay a cold start; reported in the event log and the banner. Default false: tests see every cold start.
   */
  prewarm?: boolean;
  /**
   * The most events the event log keeps (default DEFAULT_EVENT_LOG_CAPACITY, 100,000): when full it drops its oldest
   * half, so a long load run's memory stays bounded. A scenario's `event` expectations and its report see the
   * events still kept: raise it to keep more.
   */
  eventLogCapacity?: number;
}

/** An AWS-looking API id: 10 lower-case letters and digits. */
const apiIdOf = (): string => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(10)].map((b) => alphabet[b % alphabet.length]).join('');
};

/**
 * Turns the log lines serverless.yml's `custom.emulator.logEvents` names into emulator events (e.g. the app's
 * "cache invalidated" line with its keys), so the harness can assert on app behaviour without knowing the app.
 */
function logEventMapper(rules: LogEventRule[], eventLog: EventLog) {
  return (_functionName: string, line: { message: string; data?: Record<string, unknown> }): void => {
    for (const rule of rules) {
      const keys = line.data?.[rule.keysField];
      if (line.message === rule.message && Array.isArray(keys)) eventLog.record({ kind: 'cacheInvalidated', keys: keys.map(String) });
    }
  };
}

export async function startEmulator(options: EmulatorOptions) {
  const projectRoot = resolve(options.projectRoot);
  const clock = options.clock ?? createClock();
  const eventLog: EventLog = createEventLog({
    now: clock.now,
    ...(options.eventLogCapacity !== undefined ? { capacity: options.eventLogCapacity } : {}),
  });
  const websocketApiId = apiIdOf();
  const httpApiId = apiIdOf();
  const host = options.host ?? '127.0.0.1';
  const initialLatency =
    typeof options.latency === 'string' ? latencyProfile(options.latency) : (options.latency ?? latencyProfile('none'));

  const packageDir = options.package === undefined ? undefined : resolve(projectRoot, options.package);
  const stage = options.stage ?? (packageDir ? packagedStage(packageDir, options.package) : undefined);
  const app = loadServerlessConfig(options.serverlessFile ?? resolve(projectRoot, 'serverless.yml'), {
    ...(stage ? { stage } : {}),
    env: { ...(options.variableEnvironment ?? process.env), ...options.environment },
    refs: (logicalId) => (logicalId === 'WebsocketsApi' ? websocketApiId : logicalId === 'HttpApi' ? httpApiId : undefined),
  });
  // Checked before anything starts: a stale package is an error, not a run of old code.
  const packaged = packageDir ? loadPackagedCode({ packageDir, label: options.package!, projectRoot, app }) : undefined;
  // Run from source, a function's code lives in the service root (LAMBDA_TASK_ROOT; serverless.yml's handler paths
  // are relative to it).
  const functions = packaged?.functions ?? app.functions.map((fn) => ({ ...fn, taskRoot: dirname(app.file) }));
  const managementHost = `${websocketApiId}.execute-api.${app.region}.amazonaws.com`;

  const sqsHost = `sqs.${app.region}.amazonaws.com`;
  const queues = createQueues({ queues: app.queues, clock, eventLog });
  const mapLogEvents = logEventMapper(app.emulator.logEvents, eventLog);
  const metrics = createMetricsStore({ now: clock.now });

  // The invoker and the WebSocket API need each other (routes invoke functions; functions' management calls reach
  // the API in-process), so the API gets a forwarding invoke and the invoker the API's management handler.
  let invoker: ReturnType<typeof createLambdaInvoker> | undefined;
  const invoke: Invoke = (functionName, event, trigger) => invoker!.invoke(functionName, event, trigger);

  const routes: Record<string, string> = {};
  const routeResponses: string[] = [];
  let authorizer: { functionName: string; identitySource: string[] } | undefined;
  const httpRoutes: Array<{ method: string; path: string; functionName: string }> = [];
  for (const fn of app.functions) {
    for (const ws of fn.websocketEvents) {
      routes[ws.route] = fn.name;
      if (ws.routeResponseSelectionExpression) routeResponses.push(ws.route);
      if (ws.authorizer) authorizer = { functionName: ws.authorizer.name, identitySource: ws.authorizer.identitySource };
    }
    for (const h of fn.httpApiEvents) httpRoutes.push({ method: h.method, path: h.path, functionName: fn.name });
  }
  /**
   * The functions that answer clients, the HTTP API's first: what pre-warming initializes (see startInvoker). All of
   * them this service's (the configuration refuses an authorizer that is not).
   */
  const requestFacingFunctions = [
    ...new Set([...httpRoutes.map((r) => r.functionName), ...(authorizer ? [authorizer.functionName] : []), ...Object.values(routes)]),
  ];

  const websocketApi = createWebSocketApi({
    invoke,
    routes,
    routeSelectionExpression: app.websocketRouteSelectionExpression,
    routeResponses,
    ...(authorizer ? { authorizer } : {}),
    stage: app.stage,
    apiId: websocketApiId,
    region: app.region,
    clock,
    eventLog,
    ...(options.maxConnectionsPerSecond ? { maxConnectionsPerSecond: options.maxConnectionsPerSecond } : {}),
    ...(options.websocketIdleTimeoutMs ? { idleTimeoutMs: options.websocketIdleTimeoutMs } : {}),
  });

  // The DynamoDB the handlers reach, once its tables exist: their calls that come earlier (a container's init) wait
  // for it, as for any table being created.
  type DynamoDB = Awaited<ReturnType<typeof startDynamoDB>>;
  let tablesCreated: (dynamodb: DynamoDB) => void = () => undefined;
  const tablesReady = new Promise<DynamoDB>((resolve) => (tablesCreated = resolve));
  let warming: Promise<WarmReport[]> | undefined;
  /** The Lambda invoker, made as soon as DynamoDB's endpoint is known: its containers' environment names it. */
  const startInvoker = (endpoint: string): ReturnType<typeof createLambdaInvoker> => {
    const external = typeof options.storage === 'object' && 'endpoint' in options.storage;
    const dynamodbHost = external ? undefined : new URL(endpoint).host;
    invoker = createLambdaInvoker({
      functions,
      // The region and account the functions are deployed to: AWS_REGION, the ARNs in their context. Without them a
      // handler's SDK clients resolved us-east-1 endpoints (the SQS client warned on every send to an eu-west-3 queue).
      region: app.region,
      accountId: app.accountId,
      // IS_OFFLINE: serverless-offline's signal that code runs locally (e.g. to show error details); never set on AWS.
      environment: { DYNAMODB_ENDPOINT: endpoint, IS_OFFLINE: 'true', ...options.environment },
      clock,
      eventLog,
      ...(options.maxContainersPerFunction ? { maxContainersPerFunction: options.maxContainersPerFunction } : {}),
      interceptHosts: [managementHost, sqsHost],
      // Handlers' DynamoDB calls reach the embedded dynalite over the container's MessagePort, not loopback HTTP.
      ...(dynamodbHost ? { inProcessEndpoints: [dynamodbHost] } : {}),
      // SDK calls carry their host (the fast management path does not: it is the management API).
      serveIntercepted: async (request) => {
        if (dynamodbHost && request.headers.host === dynamodbHost) {
          return (await tablesReady).handle!(request);
        }
        return request.headers.host?.split(':')[0] === sqsHost ? queues.handle(request) : websocketApi.management.handle(request);
      },
      latency: initialLatency,
      onLog: (functionName, line, raw) => {
        mapLogEvents(functionName, line);
        // Lambda's stdout goes to CloudWatch Logs, which extracts the metrics of EMF lines: so does the emulator.
        metrics.ingest(functionName, raw);
      },
    });
    // Started before the tables and the ports: the containers' init runs while the main thread finishes its own
    // start-up (mostly waiting on dynalite's table creation), the functions behind the HTTP API first, then the
    // WebSocket API's. Not awaited before the ports open: a request that comes early waits for its function's warming
    // container. Stream and queue consumers are not warmed: their first batch starts cold, as on AWS, and an idle
    // `emulate` holds no container for a function that may never run (the fanout one, past 2,000 subscribers).
    if (options.prewarm) {
      warming = invoker.prewarm(requestFacingFunctions);
      // Each init's failure is in its report (and logged); a rejection would be the emulator's own fault: said.
      void warming.catch((error: unknown) => console.warn(`pre-warming stopped: ${(error as Error).message}`));
    }
    return invoker;
  };

  const dynamodb = await startDynamoDB({
    storage: options.storage ?? 'memory',
    tables: app.tables,
    clock,
    eventLog,
    region: app.region,
    indexLag: initialLatency.indexLag,
    ...(options.onDynamoDBRequest ? { onRequest: options.onDynamoDBRequest } : {}),
    onEndpoint: startInvoker,
  }).catch(async (error: unknown) => {
    // Tables that could not be made (an external endpoint refusing them): the containers already started go too.
    await invoker?.close();
    throw error;
  });
  tablesCreated(dynamodb);
  // DynamoDB called back once listening; should it not have, the invoker is made here.
  const lambdaInvoker = invoker ?? startInvoker(dynamodb.endpoint);

  // Event source mappings: each function's `stream` and `sqs` events, polling the emulated stream and queues.
  const recordFaults: RecordFault[] = [];
  const common = (fn: (typeof app.functions)[number]) => ({
    functionName: fn.name,
    functionArn: `arn:aws:lambda:${app.region}:${app.accountId}:function:${fn.deployedName}`,
    invoke,
    clock,
    eventLog,
    ...(options.streamRetryDelayMs !== undefined ? { retryDelayMs: options.streamRetryDelayMs } : {}),
  });
  const streamMappings = app.functions.flatMap((fn) =>
    fn.streamEvents
      .filter((e) => e.enabled)
      .map((definition) =>
        createStreamMapping({ ...common(fn), definition, streams: dynamodb.streams, queues, region: app.region, faults: recordFaults }),
      ),
  );
  const sqsMappings = app.functions.flatMap((fn) =>
    fn.sqsEvents.filter((e) => e.enabled).map((definition) => createSqsMapping({ ...common(fn), definition, queues, region: app.region })),
  );
  // An external DynamoDB writes its own stream: the poller reads it into the tables' streams, which the mappings
  // above read as they read the streams captured in dynalite mode.
  let streamsPoller: StreamsPoller | undefined;
  if (dynamodb.external && streamMappings.length) {
    const positions = new Map<string, 'LATEST' | 'TRIM_HORIZON'>();
    for (const fn of app.functions)
      for (const definition of fn.streamEvents.filter((e) => e.enabled)) {
        const table = dynamodb.streams.streamOfArn(definition.arn)!.tableName;
        // One reader per table: TRIM_HORIZON if any of its mappings asks for it.
        if (positions.get(table) !== 'TRIM_HORIZON')
          positions.set(table, definition.startingPosition === 'TRIM_HORIZON' ? 'TRIM_HORIZON' : 'LATEST');
      }
    try {
      streamsPoller = await startStreamsPoller({
        endpoint: options.streamsEndpoint ?? dynamodb.endpoint,
        region: app.region,
        dynamodb: dynamodb.client,
        tables: [...positions].map(([tableName, startingPosition]) => ({ tableName, startingPosition })),
        onRecord: (tableName, record) => dynamodb.streams.ingest(tableName, record),
        // Not silent: the app runs, and says which of its stream events cannot fire on this endpoint.
        onMissingStream: (_tableName, reason) => {
          eventLog.record({ kind: 'fault', description: reason });
          console.warn(`${reason} (does ${dynamodb.endpoint} serve DynamoDB Streams?)`);
        },
        eventLog,
      });
    } catch (error) {
      for (const mapping of [...streamMappings, ...sqsMappings]) mapping.stop();
      await lambdaInvoker.close();
      await dynamodb.close();
      throw error;
    }
  }
  const mappingsIdle = async (): Promise<void> => {
    // A stream batch may send to a queue and a queue's consumer may write to a streamed table: settle both ways.
    for (let i = 0; i < 5; i++) await Promise.all([...streamMappings, ...sqsMappings].map((m) => m.idle()));
  };

  const invokeApi = createInvokeApi({ invoke, functions: app.functions, region: app.region, accountId: app.accountId });
  const health = (): HttpLikeResponse => ({
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(
      JSON.stringify({
        status: 'ok',
        service: app.service,
        stage: app.stage,
        functions: app.functions.map((f) => f.name),
        connections: websocketApi.connections.count(),
      }),
    ),
  });
  const serveMetrics = async (request: HttpLikeRequest): Promise<HttpLikeResponse> => {
    const format = new URLSearchParams(request.path.split('?')[1] ?? '').get('format');
    const accept = request.headers.accept ?? '';
    // Prometheus scrapers ask for text/plain (or OpenMetrics); a browser or curl gets JSON unless it asks.
    const prometheus = format === 'prometheus' || (format === null && /text\/plain|openmetrics/.test(accept) && !/json/.test(accept));
    if (format !== null && format !== 'prometheus' && format !== 'json')
      return {
        statusCode: 400,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify({ message: `format must be json or prometheus, got "${format}"` })),
      };
    return prometheus
      ? { statusCode: 200, headers: { 'content-type': PROMETHEUS_CONTENT_TYPE }, body: Buffer.from(await metricsPrometheus(metrics)) }
      : { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(metricsJson(metrics))) };
  };
  const cors = corsConfiguration(
    app.httpApiCors,
    httpRoutes.map((r) => r.method),
  );
  const httpApi = createHttpApi({
    ...(cors ? { cors } : {}),
    invoke,
    routes: httpRoutes,
    apiId: httpApiId,
    region: app.region,
    eventLog,
    // The emulator's own endpoints, beside the app's routes (serverless-offline users expect both).
    serveLocal: (request) => {
      const path = request.path.split('?')[0];
      if (path === HEALTH_PATH && request.method === 'GET') return Promise.resolve(health());
      if (path === METRICS_PATH && request.method === 'GET') return serveMetrics(request);
      if (path === EVENTS_PATH && request.method === 'GET')
        return Promise.resolve(serveEventLog(eventLog, request.path.split('?')[1] ?? ''));
      if (isInvokeRequest(path)) return invokeApi(request);
      return undefined;
    },
  });
  const { port: httpPort } = await httpApi.listen(options.httpPort ?? 0, host);
  const { port: wsPort } = await websocketApi.listen(options.wsPort ?? 0, host);

  return {
    app,
    /** The packaged artefacts the functions run (undefined: they run the source). */
    packaged: packaged && { label: packaged.label, inputs: packaged.inputs, artefacts: packaged.artefacts },
    clock,
    eventLog,
    dynamodb,
    invoker: lambdaInvoker,
    websocketApi,
    httpApi,
    /** The emulated SQS queues of serverless.yml. */
    queues,
    /** CloudWatch metrics from the functions' EMF log lines (also served at METRICS_PATH). */
    metrics,
    metricsUrl: `http://${host}:${httpPort}${METRICS_PATH}`,
    /** The event log as JSON (EVENTS_PATH; filters in harness/eventLogEndpoint.ts). */
    eventsUrl: `http://${host}:${httpPort}${EVENTS_PATH}`,
    streamMappings,
    sqsMappings,
    /** With an external DynamoDB, the reader of its stream (undefined in dynalite mode). */
    streamsPoller,
    /** Resolves once no event source mapping has a batch in flight. */
    mappingsIdle,
    streamFaults: {
      /** Batches holding a matching record fail as if the handler threw on it (until `clear`). */
      failRecords(matches: (record: StreamRecord) => boolean, description: string): void {
        recordFaults.push({ matches, description });
        eventLog.record({ kind: 'fault', description: `stream batches holding ${description} fail` });
      },
    },
    httpUrl: `http://${host}:${httpPort}`,
    graphqlUrl: `http://${host}:${httpPort}${httpRoutes[0]?.path ?? '/'}`,
    /** Every HTTP route (method and path) and WebSocket route key, for the banner. */
    routes: { http: httpRoutes, websocket: Object.keys(routes) },
    /** Pre-warming's outcome, function by function, once every init is over (undefined without `prewarm`). */
    warmed: warming,
    /** The functions pre-warming initializes (with `prewarm`): those behind the HTTP API and the WebSocket API. */
    prewarmed: options.prewarm ? requestFacingFunctions : [],
    healthUrl: `http://${host}:${httpPort}${HEALTH_PATH}`,
    /** Lambda's Invoke API endpoint (`aws lambda invoke --endpoint-url …`). */
    lambdaEndpoint: `http://${host}:${httpPort}`,
    wsUrl: `ws://${host}:${wsPort}`,
    managementUrl: `http://${host}:${wsPort}/${app.stage}`,
    managementHost,
    /** The network-time profile in force. */
    get latency(): LatencyProfile {
      return lambdaInvoker.latency;
    },
    /** Switches the network-time profile (AWS calls of later invocations, GSI lag of later writes). */
    async setLatency(profile: LatencyProfile | string): Promise<void> {
      const next = typeof profile === 'string' ? latencyProfile(profile) : profile;
      lambdaInvoker.setLatency(next);
      await dynamodb.setIndexLag(next.indexLag);
    },
    /**
     * Back to a clean state between scenarios that share this emulator: stream records still waiting for a batching
     * window dropped, clients disconnected ($disconnect runs), tables emptied, faults and the event log cleared, the
     * starting latency profile back. Warm containers stay warm.
     */
    async reset(): Promise<void> {
      // First: a batch still in its window would otherwise be waited for and posted to clients already gone.
      for (const mapping of streamMappings) mapping.discardWaiting();
      await websocketApi.closeAll();
      websocketApi.setMaxConnectionsPerSecond(websocketApi.defaultMaxConnectionsPerSecond);
      lambdaInvoker.setLatency(initialLatency);
      await dynamodb.setIndexLag(initialLatency.indexLag);
      recordFaults.length = 0;
      await mappingsIdle();
      // An external endpoint records the emptying of its tables in its stream: those records are skipped.
      if (streamsPoller) {
        await streamsPoller.skip(() => dynamodb.truncate());
        await mappingsIdle();
        dynamodb.streams.clear();
      } else await dynamodb.truncate();
      for (const mapping of streamMappings) mapping.rewindToEnd();
      queues.clear();
      dynamodb.faults.clear();
      lambdaInvoker.clearFaults();
      eventLog.clear();
      metrics.clear();
    },
    /** Re-imports handler code on the next invocations (open connections are kept). */
    reload: () => lambdaInvoker.reload(),
    /** Disconnects every client ($disconnect runs for each), stops the servers, the containers and DynamoDB. */
    async close() {
      for (const mapping of [...streamMappings, ...sqsMappings]) mapping.stop();
      await streamsPoller?.stop();
      queues.clear();
      await websocketApi.closeAll();
      await websocketApi.close();
      await httpApi.close();
      await lambdaInvoker.close();
      await dynamodb.close();
      packaged?.dispose();
    },
  };
}

export type Emulator = Awaited<ReturnType<typeof startEmulator>>;
