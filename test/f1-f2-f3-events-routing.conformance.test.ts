/**
 * F1 event shapes, F2 authorizer context, F3 route selection — against the emulator running the ws-app fixture,
 * with real ws clients. References: API Gateway developer guide (WebSocket Lambda proxy integration) and
 * aws-lambda-go's apigw-websocket-request-* test events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateRouteSelection, selectRoute } from '../harness/apiGateway/websocket/routeSelection.js';
import { createWebSocketApi } from '../harness/apiGateway/websocket/api.js';
import { createClock } from '../harness/clock.js';
import type { Invoke } from '../harness/lambda/types.js';
import { ScenarioClient } from '../harness/scenarios/client.js';
import { startWsApp, type WsApp } from './helpers/wsFixture.js';

const REQUEST_TIME = /^\d{2}\/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/;
const CONNECTION_ID = /^[A-Za-z0-9]{15}=$/;
let app: WsApp;
beforeAll(async () => {
  app = await startWsApp();
});
afterAll(() => app.close());

describe('F1 event shapes', () => {
  it('CONNECT, MESSAGE and DISCONNECT carry AWS’s fields, and only those that belong to each', async () => {
    const { client, outcome } = await app.client({ query: { color: 'blue', tag: 'a' }, headers: { 'X-Custom': 'one' } });
    expect(outcome.ok).toBe(true);
    const id = client.connectionId!;
    expect(id).toMatch(CONNECTION_ID);
    client.raw.send(JSON.stringify({ hello: 'world' }));
    const [message] = await app.eventsOnceRecorded('$default', id);
    await client.disconnect({ code: 4000 });
    const [connect] = await app.events('$connect', id);
    const [disconnect] = await app.eventsOnceRecorded('$disconnect', id);
    const { apiId, domainName } = connect.requestContext;

    for (const event of [connect, message, disconnect]) {
      expect(event.isBase64Encoded).toBe(false);
      expect(event.requestContext).toMatchObject({
        messageDirection: 'IN',
        stage: 'test',
        connectionId: id,
        apiId,
        domainName: `${apiId}.execute-api.eu-west-1.amazonaws.com`,
        connectedAt: connect.requestContext.connectedAt,
        identity: { sourceIp: '127.0.0.1', userAgent: client.userAgent },
      });
      expect(event.requestContext.requestTime).toMatch(REQUEST_TIME);
      expect(typeof event.requestContext.requestTimeEpoch).toBe('number');
      expect(event.requestContext.requestId).toEqual(expect.any(String));
      expect(event.requestContext.extendedRequestId).toEqual(expect.any(String));
    }
    expect(domainName).toMatch(/^[a-z0-9]{10}\.execute-api\.eu-west-1\.amazonaws\.com$/);

    expect(connect.requestContext).toMatchObject({ routeKey: '$connect', eventType: 'CONNECT' });
    expect(connect.headers).toMatchObject({
      Host: domainName,
      'X-Custom': 'one',
      'Sec-WebSocket-Version': '13',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Port': '443',
      'X-Forwarded-For': '127.0.0.1',
    });
    expect(connect.headers['Sec-WebSocket-Key']).toEqual(expect.any(String));
    expect(connect.headers['X-Amzn-Trace-Id']).toMatch(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/);
    expect(connect.multiValueHeaders['X-Custom']).toEqual(['one']);
    expect(connect.queryStringParameters).toEqual({ color: 'blue', tag: 'a' });
    expect(connect.multiValueQueryStringParameters).toEqual({ color: ['blue'], tag: ['a'] });
    expect(connect).not.toHaveProperty('body');

    expect(message.requestContext).toMatchObject({ routeKey: '$default', eventType: 'MESSAGE', messageId: expect.any(String) });
    expect(message.body).toBe('{"hello":"world"}');
    expect(message).not.toHaveProperty('headers');
    expect(message).not.toHaveProperty('queryStringParameters');

    expect(disconnect.requestContext).toMatchObject({
      routeKey: '$disconnect',
      eventType: 'DISCONNECT',
      disconnectStatusCode: 4000,
      disconnectReason: '',
    });
    expect(disconnect.headers).toEqual({ Host: domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' });
    expect(disconnect).not.toHaveProperty('body');
  });

  it('a CONNECT without a query string has no query string fields at all', async () => {
    const { client } = await app.client();
    const [connect] = await app.events('$connect', client.connectionId);
    expect(connect).not.toHaveProperty('queryStringParameters');
    expect(connect).not.toHaveProperty('multiValueQueryStringParameters');
    await client.disconnect();
  });
});

describe('F2 authorizer context', () => {
  it("a $connect authorizer's {principalId, …context} is requestContext.authorizer on every later event", async () => {
    const routes = { $connect: 'fn', $default: 'fn', $disconnect: 'fn' };
    const seen: Array<Record<string, any>> = [];
    const invoke: Invoke = async (fn, event) => {
      if (fn === 'auth') {
        const token = (event as { queryStringParameters: Record<string, string> }).queryStringParameters.token;
        return {
          ok: true,
          requestId: 'r',
          coldStart: false,
          durationMs: 0,
          value: {
            principalId: `user-${token}`,
            policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: '*' }] },
            context: { tier: 'gold', credits: 3 },
          },
        };
      }
      seen.push(event as Record<string, any>);
      return { ok: true, requestId: 'r', coldStart: false, durationMs: 0, value: { statusCode: 200 } };
    };
    const api = createWebSocketApi({
      invoke,
      routes,
      routeSelectionExpression: '$request.body.action',
      authorizer: { functionName: 'auth', identitySource: ['route.request.querystring.token'] },
      stage: 'test',
      apiId: 'api1234567',
      region: 'eu-west-1',
      clock: createClock(),
    });
    const { port } = await api.listen(0);
    const client = new ScenarioClient('c', '42');
    expect((await client.connect(`ws://127.0.0.1:${port}`)).ok).toBe(true);
    client.send('{"x":1}');
    await new Promise((r) => setTimeout(r, 100));
    await client.disconnect();
    await api.settled();
    await api.close();
    expect(seen.map((e) => e.requestContext.routeKey)).toEqual(['$connect', '$default', '$disconnect']);
    for (const event of seen) expect(event.requestContext.authorizer).toEqual({ principalId: 'user-42', tier: 'gold', credits: 3 });
  });
});

describe('F3 route selection', () => {
  const routes = new Set(['$default', 'routed', 'chat:send']);
  it.each([
    ['$request.body.action', '{"action":"routed"}', 'routed'],
    ['$request.body.action', '{"action":"unknown"}', '$default'],
    ['$request.body.action', '{"other":1}', '$default'],
    ['$request.body.action', 'not json', '$default'],
    ['$request.body.meta.kind', '{"meta":{"kind":"routed"}}', 'routed'],
    ['${request.body.type}:${request.body.verb}', '{"type":"chat","verb":"send"}', 'chat:send'],
    ['$request.body.action', '{"action":"ROUTED"}', '$default'],
  ])('%s with %s → %s', (expression, body, route) => {
    expect(selectRoute(expression, body, routes)).toBe(route);
  });

  it('a path that is not found evaluates to ""; a non-JSON body evaluates to nothing', () => {
    expect(evaluateRouteSelection('$request.body.missing.deeper', '{"a":1}')).toBe('');
    expect(evaluateRouteSelection('$request.body.action', 'plain text')).toBeUndefined();
    expect(selectRoute('$request.body.action', '{"action":"x"}', new Set(['routed']))).toBeUndefined();
  });

  it('end to end: a body selects its route, anything else goes to $default', async () => {
    const { client } = await app.client();
    client.send('{"action":"routed","n":1}');
    expect((await client.waitFor('routed: {"action":"routed","n":1}', 10_000)).text).toBe('routed: {"action":"routed","n":1}');
    client.send('{"action":"nothing-like-it"}');
    const defaults = await app.eventsOnceRecorded('$default', client.connectionId!);
    expect(defaults[0].body).toBe('{"action":"nothing-like-it"}');
    await client.disconnect();
  });
});
