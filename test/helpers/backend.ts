/**
 * Runs the production handlers in this process against a real dynalite server, with the management API served
 * by msw the way AWS answers it (200, or 410 GoneException / 429 / 500 with x-amzn-ErrorType), so the real SDK
 * client serializes, signs and deserializes every call. Records every DynamoDB operation for assertions on *how*
 * the backend reads, not just what it returns.
 */
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { setupServer } from 'msw/node';
import { http, HttpResponse } from 'msw';
import { signDevelopmentToken, type Role } from '../../src/auth/tokens.js';
import { loadServerlessConfig } from '../../harness/config/serverless.js';
import { startDynamoDB } from '../../harness/dynamodb/provider.js';

export const JWT_SECRET = 'test-secret-for-backend-tests';
export const API_ID = 'abc123defg';
export const STAGE = 'test';
export const MANAGEMENT_HOST = `${API_ID}.execute-api.eu-west-3.amazonaws.com`;
export const TABLES = { partners: 'perkup-test-partners', connections: 'perkup-test-connections', cache: 'perkup-test-cache', idempotency: 'perkup-test-idempotency' };

const serverlessFile = fileURLToPath(new URL('../../serverless.yml', import.meta.url));

export interface DbOperation {
  operation: string;
  body: Record<string, unknown>;
}

export type ManagementFault = { status: 410 | 429 | 500 | 403; count: number };

export async function startBackend() {
  // The tables serverless.yml declares, for stage "test", on the harness's dynalite.
  const app = loadServerlessConfig(serverlessFile, { stage: STAGE, refs: () => API_ID });
  const dynamodb = await startDynamoDB({ storage: 'memory', tables: app.tables, region: 'eu-west-3' });
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

  // Management API, answered as API Gateway does. Connections not "open" here are gone (410).
  const open = new Set<string>();
  const posted = new Map<string, unknown[]>();
  const faults = new Map<string, ManagementFault>();
  const managementCalls: Array<{ connectionId: string; status: number }> = [];
  const errorTypes: Record<number, string> = { 403: 'ForbiddenException', 410: 'GoneException', 429: 'LimitExceededException', 500: 'InternalServerErrorException' };
  const mgmt = setupServer(
    http.post(`https://${MANAGEMENT_HOST}/${STAGE}/@connections/:id`, async ({ request, params }) => {
      const connectionId = decodeURIComponent(String(params.id));
      const fault = faults.get(connectionId);
      let status = open.has(connectionId) ? 200 : 410;
      if (fault && fault.count > 0) {
        fault.count--;
        status = fault.status;
      }
      managementCalls.push({ connectionId, status });
      if (status !== 200) return new HttpResponse(null, { status, headers: { 'x-amzn-ErrorType': errorTypes[status] } });
      const list = posted.get(connectionId) ?? [];
      list.push(JSON.parse(await request.text()));
      posted.set(connectionId, list);
      return new HttpResponse(null, { status: 200 });
    }),
  );
  const dbOps: DbOperation[] = [];
  mgmt.events.on('request:start', async ({ request }) => {
    const target = request.headers.get('x-amz-target');
    if (target?.startsWith('DynamoDB_20120810.')) {
      dbOps.push({ operation: target.slice('DynamoDB_20120810.'.length), body: JSON.parse(await request.clone().text()) });
    }
  });
  mgmt.listen({ onUnhandledRequest: 'bypass' });

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
  const notifierContext = () => ({ awsRequestId: `req-${++requestCounter}`, functionName: 'perkup-test-notifier', getRemainingTimeInMillis: () => 60_000 });
  async function drainStream(): Promise<void> {
    while (streamNext < partnersStream.records.length) {
      const batch = partnersStream.records.slice(streamNext, streamNext + 100);
      streamNext += batch.length;
      const response = await notifierModule.handler({ Records: batch } as never, notifierContext() as never);
      if (response.batchItemFailures.length) throw new Error(`the notifier reported failures: ${JSON.stringify(response.batchItemFailures)}`);
    }
  }

  let requestCounter = 0;
  const lambdaContext = () => ({ awsRequestId: `req-${++requestCounter}`, functionName: 'perkup-test-graphql', getRemainingTimeInMillis: () => 10_000 });

  async function graphql(query: string, variables: Record<string, unknown> = {}, token?: string) {
    const body = JSON.stringify({ query, variables });
    const event = httpEvent(body, token ? { authorization: `Bearer ${token}` } : {});
    // The integration's handler type includes a callback parameter AWS's async runtime never passes.
    const result = (await (graphqlModule.handler as (e: unknown, c: unknown) => Promise<{ statusCode: number; body: string }>)(event, lambdaContext()));
    if (!streamPaused) await drainStream();
    return { statusCode: result.statusCode, body: JSON.parse(result.body) as { data?: Record<string, any>; errors?: Array<{ message: string; extensions?: { code?: string } }> } };
  }

  const connectedAt = new Map<string, number>();
  function wsEvent(routeKey: string, eventType: string, connectionId: string, extra: Record<string, unknown> = {}) {
    const now = Date.now();
    if (!connectedAt.has(connectionId)) connectedAt.set(connectionId, now);
    return {
      requestContext: {
        routeKey, eventType, connectionId, extendedRequestId: `ext-${now}`, requestTime: new Date(now).toUTCString(), messageDirection: 'IN',
        stage: STAGE, requestId: `req-${++requestCounter}`, domainName: MANAGEMENT_HOST, apiId: API_ID,
        identity: { sourceIp: '127.0.0.1', userAgent: 'vitest' }, connectedAt: connectedAt.get(connectionId), requestTimeEpoch: now,
      },
      isBase64Encoded: false,
      ...extra,
    };
  }
  const ws = {
    async connect(connectionId: string, token?: string) {
      const result = await websocketModule.handler(
        wsEvent('$connect', 'CONNECT', connectionId, token === undefined ? { headers: { Host: MANAGEMENT_HOST } } : { headers: { Host: MANAGEMENT_HOST }, queryStringParameters: { token } }) as never,
      );
      if (result.statusCode === 200) open.add(connectionId);
      return result;
    },
    async send(connectionId: string, body: string | object) {
      return websocketModule.handler(wsEvent('$default', 'MESSAGE', connectionId, { body: typeof body === 'string' ? body : JSON.stringify(body), messageId: `m-${++requestCounter}` }) as never);
    },
    async disconnect(connectionId: string) {
      open.delete(connectionId);
      return websocketModule.handler(wsEvent('$disconnect', 'DISCONNECT', connectionId, { disconnectStatusCode: 1000, disconnectReason: 'Client closed' }) as never);
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
    messages: (connectionId: string) => (posted.get(connectionId) ?? []) as Array<Record<string, any>>,
    failNextPosts: (connectionId: string, status: ManagementFault['status'], count: number) => faults.set(connectionId, { status, count }),
    token: (sub: string, role: Role = 'user') => signDevelopmentToken({ sub, role }, JWT_SECRET),
    async close() {
      mgmt.close();
      await dynamodb.close();
    },
  };
}

export type Backend = Awaited<ReturnType<typeof startBackend>>;

function httpEvent(body: string, headers: Record<string, string>) {
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: 'POST /graphql',
    rawPath: '/graphql',
    rawQueryString: '',
    headers: { 'content-type': 'application/json', host: 'localhost', ...headers },
    requestContext: {
      accountId: '123456789012', apiId: 'httpapi01', domainName: 'localhost', domainPrefix: 'localhost',
      http: { method: 'POST', path: '/graphql', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: `http-${now}`, routeKey: 'POST /graphql', stage: '$default', time: new Date(now).toUTCString(), timeEpoch: now,
    },
    body,
    isBase64Encoded: false,
  };
}
