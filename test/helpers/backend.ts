/**
 * Runs the production handlers in this process against a real dynalite server, with the management API served
 * by the harness's own emulation (`harness/apiGateway/management.ts`, AWS's statuses and error types) and reached
 * through the real SDK client, which serializes, signs and deserializes every call (the harness's wire-level
 * interceptor replaces only the socket). Events come from the harness's own builders. Records every DynamoDB
 * operation for assertions on *how* the backend reads, not just what it returns.
 */
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { signDevelopmentToken, type Role } from '../../src/auth/tokens.js';
import { loadServerlessConfig } from '../../harness/config/serverless.js';
import { startDynamoDB } from '../../harness/dynamodb/provider.js';
import { createClock } from '../../harness/clock.js';
import { createEventLog } from '../../harness/eventLog.js';
import { createManagementApi } from '../../harness/apiGateway/management.js';
import {
  connectEvent,
  disconnectEvent,
  messageEvent,
  type ApiIdentity,
  type ConnectionFacts,
} from '../../harness/apiGateway/websocket/events.js';
import { httpApiEvent } from '../../harness/apiGateway/http/events.js';
import { installSdkInterceptor } from '../../harness/lambda/sdkInterceptor.js';

export const JWT_SECRET = 'test-secret-for-backend-tests';
export const API_ID = 'abc123defg';
export const STAGE = 'test';
export const REGION = 'eu-west-3';
export const MANAGEMENT_HOST = `${API_ID}.execute-api.${REGION}.amazonaws.com`;
export const TABLES = {
  partners: 'perkup-test-partners',
  connections: 'perkup-test-connections',
  cache: 'perkup-test-cache',
  idempotency: 'perkup-test-idempotency',
};

const serverlessFile = fileURLToPath(new URL('../../serverless.yml', import.meta.url));

export interface DbOperation {
  operation: string;
  body: Record<string, unknown>;
  /** DynamoDB's HTTP status once it answered (400 for a failed condition): a write with 200 changed the table. */
  status?: number;
}

export type ManagementFault = { status: 410 | 429 | 500 | 403; count: number };

export async function startBackend() {
  // The tables serverless.yml declares, for stage "test", on the harness's dynalite.
  const app = loadServerlessConfig(serverlessFile, { stage: STAGE, refs: () => API_ID });
  const dbOps: DbOperation[] = [];
  /** DynamoDB requests ("db <operation> <table>") and management calls ("post <connectionId>") in the order they came. */
  const timeline: string[] = [];
  const dynamodb = await startDynamoDB({
    storage: 'memory',
    tables: app.tables,
    region: REGION,
    onRequest: (request) => {
      dbOps.push(request);
      timeline.push(`db ${request.operation} ${String(request.body.TableName ?? Object.keys(request.body.RequestItems ?? {})[0])}`);
    },
  });
  const endpoint = dynamodb.endpoint;

  Object.assign(process.env, {
    AWS_REGION: 'eu-west-3',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    PARTNERS_TABLE: TABLES.partners,
    WEBSOCKET_CONNECTIONS_TABLE: TABLES.connections,
    CACHE_TABLE: TABLES.cache,
    IDEMPOTENCY_TABLE: TABLES.idempotency,
    DYNAMODB_ENDPOINT: endpoint,
    WEBSOCKET_API_ENDPOINT: `https://${MANAGEMENT_HOST}/${STAGE}`,
    JWT_SECRET,
    NOTIFY_RETRY_BASE_DELAY_MS: '5',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  });

  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint, region: 'eu-west-3' }));

  // The management API as the harness emulates it; connections not open here are gone (410).
  const open = new Set<string>();
  const posted = new Map<string, unknown[]>();
  const faults = new Map<string, ManagementFault>();
  const managementCalls: Array<{ connectionId: string; status: number }> = [];
  const eventLog = createEventLog();
  eventLog.subscribe((event) => {
    if (event.kind !== 'management') return;
    managementCalls.push({ connectionId: event.connectionId, status: event.statusCode });
    timeline.push(`post ${event.connectionId}`);
  });
  const facts = new Map<string, ConnectionFacts>();
  const management = createManagementApi({
    stage: STAGE,
    clock: createClock(),
    eventLog,
    connections: {
      state: (id) => (open.has(id) ? 'open' : undefined),
      info: (id) => {
        const f = facts.get(id);
        return f && { connectedAt: f.connectedAt, lastActiveAt: f.connectedAt, sourceIp: f.sourceIp, userAgent: f.userAgent };
      },
      send: (id, data) => {
        const list = posted.get(id) ?? [];
        list.push(JSON.parse(Buffer.from(data).toString('utf8')));
        posted.set(id, list);
        return true;
      },
      close: (id) => void open.delete(id),
      takePostFault: (id) => {
        const fault = faults.get(id);
        if (!fault || fault.count <= 0) return undefined;
        fault.count--;
        return fault.status;
      },
    },
  });
  const uninstall = installSdkInterceptor((hostname) => hostname === MANAGEMENT_HOST, management.handle);

  // These handlers run in the test process, whose stdout no log pipeline reads: their EMF lines would only be noise
  // (metrics are asserted on the emulator, test/cloudwatch-metrics.test.ts). Powertools' own switch turns them off.
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  // Import after the environment is set: the handlers read their configuration once, at cold start.
  const graphqlModule = await import('../../src/handlers/graphql.js');
  const websocketModule = await import('../../src/handlers/websocket.js');
  const notifierModule = await import('../../src/handlers/notifier.js');

  /**
   * Mutations answer after their write; notifications come from the partners table's stream. After each GraphQL
   * request the records the write captured are handed to the notifier handler in batches, as the event source
   * mapping does (its retry and bisect semantics are the emulator's, tested in f18), so a test then reads what
   * clients received.
   */
  const partnersStream = dynamodb.streams.streams.get(TABLES.partners)!;
  let streamNext = 0;
  let streamPaused = false;
  const notifierContext = () => ({
    awsRequestId: `req-${++requestCounter}`,
    functionName: 'perkup-test-notifier',
    getRemainingTimeInMillis: () => 60_000,
  });
  async function drainStream(): Promise<void> {
    while (streamNext < partnersStream.records.length) {
      const batch = partnersStream.records.slice(streamNext, streamNext + 100);
      streamNext += batch.length;
      const response = await notifierModule.handler({ Records: batch } as never, notifierContext() as never);
      if (response.batchItemFailures.length)
        throw new Error(`the notifier reported failures: ${JSON.stringify(response.batchItemFailures)}`);
    }
  }

  let requestCounter = 0;
  const lambdaContext = () => ({
    awsRequestId: `req-${++requestCounter}`,
    functionName: 'perkup-test-graphql',
    getRemainingTimeInMillis: () => 10_000,
  });

  async function graphql(query: string, variables: Record<string, unknown> = {}, token?: string) {
    const body = JSON.stringify({ query, variables });
    const event = httpEvent(body, token ? { authorization: `Bearer ${token}` } : {});
    // The integration's handler type includes a callback parameter AWS's async runtime never passes.
    const result = await (graphqlModule.handler as (e: unknown, c: unknown) => Promise<{ statusCode: number; body: string }>)(
      event,
      lambdaContext(),
    );
    if (!streamPaused) await drainStream();
    return {
      statusCode: result.statusCode,
      body: JSON.parse(result.body) as { data?: Record<string, any>; errors?: Array<{ message: string; extensions?: { code?: string } }> },
    };
  }

  const api: ApiIdentity = { apiId: API_ID, stage: STAGE, region: REGION };
  const factsOf = (connectionId: string): ConnectionFacts => {
    let f = facts.get(connectionId);
    if (!f)
      facts.set(
        connectionId,
        (f = { connectionId, connectedAt: Date.now(), sourceIp: '127.0.0.1', userAgent: 'vitest', authorizer: undefined }),
      );
    return f;
  };
  const ws = {
    async connect(connectionId: string, token?: string) {
      const query = token === undefined ? '' : new URLSearchParams({ token }).toString();
      const event = connectEvent(api, factsOf(connectionId), { rawHeaders: ['User-Agent', 'vitest'], query }, Date.now());
      const result = await websocketModule.handler(event as never);
      if (result.statusCode === 200) open.add(connectionId);
      return result;
    },
    async send(connectionId: string, body: string | object) {
      const event = messageEvent(
        api,
        factsOf(connectionId),
        '$default',
        typeof body === 'string' ? body : JSON.stringify(body),
        Date.now(),
      );
      return websocketModule.handler(event as never);
    },
    async disconnect(connectionId: string) {
      open.delete(connectionId);
      return websocketModule.handler(disconnectEvent(api, factsOf(connectionId), 1000, 'Client closed', Date.now()) as never);
    },
    /** The socket died and $disconnect never ran: the record stays, the management API answers 410. */
    die(connectionId: string) {
      open.delete(connectionId);
    },
  };

  return {
    endpoint,
    doc,
    ws,
    graphql,
    drainStream,
    /** While paused, records accumulate; the next drainStream hands them over in batches of up to 100 (one stream batch). */
    pauseStream: (paused: boolean) => (streamPaused = paused),
    notifierHandler: notifierModule.handler,
    streamRecords: () => partnersStream.records,
    dbOps,
    managementCalls,
    timeline,
    messages: (connectionId: string) => (posted.get(connectionId) ?? []) as Array<Record<string, any>>,
    failNextPosts: (connectionId: string, status: ManagementFault['status'], count: number) => faults.set(connectionId, { status, count }),
    token: (sub: string, role: Role = 'user') => signDevelopmentToken({ sub, role }, JWT_SECRET),
    /** Every item of the cache table under `key`: its variants and its bookkeeping items (sort keys starting with #). */
    cacheItemsUnder: async (key: string) =>
      (
        await doc.send(
          new QueryCommand({
            TableName: TABLES.cache,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': key },
            ConsistentRead: true,
          }),
        )
      ).Items ?? [],
    async close() {
      uninstall();
      await dynamodb.close();
    },
  };
}

export type Backend = Awaited<ReturnType<typeof startBackend>>;

function httpEvent(body: string, headers: Record<string, string>) {
  const rawHeaders = Object.entries({ 'content-type': 'application/json', host: 'localhost', 'user-agent': 'vitest', ...headers }).flat();
  const request = { method: 'POST', url: '/graphql', rawHeaders, httpVersion: '1.1', sourceIp: '127.0.0.1' };
  return httpApiEvent(
    request,
    Buffer.from(body),
    { method: 'POST', path: '/graphql' },
    {},
    { apiId: 'httpapi01', region: REGION, stage: '$default' },
  );
}
