/**
 * F4 no route, F5 integration errors and route responses, F6 frames and sizes, F7 $connect outcomes,
 * F8 $disconnect causes — real ws clients against the emulated WebSocket API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createWebSocketApi } from '../harness/apiGateway/websocket/api.js';
import { createClock } from '../harness/clock.js';
import type { Invoke, InvocationResult } from '../harness/lambda/types.js';
import { ScenarioClient } from '../harness/scenarios/client.js';
import { startWsApp, type WsApp } from './helpers/wsFixture.js';

const ok = (value: unknown): InvocationResult => ({ ok: true, value, requestId: 'r', coldStart: false, durationMs: 0 });
let app: WsApp;
beforeAll(async () => {
  app = await startWsApp();
});
afterAll(() => app.close());

/** A WebSocket API core on a port with in-test functions, for cases the fixture app does not have. */
async function coreApi(
  routes: Record<string, string>,
  functions: Record<string, (event: any) => unknown>,
  extra: Partial<Parameters<typeof createWebSocketApi>[0]> = {},
) {
  const invoked: Array<{ fn: string; event: any }> = [];
  const invoke: Invoke = async (fn, event) => {
    invoked.push({ fn, event });
    try {
      return ok(await functions[fn](event));
    } catch (error) {
      return {
        ok: false,
        kind: 'error',
        error: { name: (error as Error).name, message: (error as Error).message },
        requestId: 'r',
        coldStart: false,
        durationMs: 0,
      };
    }
  };
  const api = createWebSocketApi({
    invoke,
    routes,
    routeSelectionExpression: '$request.body.action',
    stage: 'test',
    apiId: 'core123456',
    region: 'eu-west-1',
    clock: createClock(),
    ...extra,
  });
  const { port } = await api.listen(0);
  return { api, invoked, url: `ws://127.0.0.1:${port}` };
}

describe('F4 no route', () => {
  it('without $default, an unmatched message gets {"message": "Forbidden", …} and the socket stays open', async () => {
    const { api, url } = await coreApi({ hello: 'fn' }, { fn: () => ({ statusCode: 200 }) });
    const client = new ScenarioClient('c', undefined);
    await client.connect(url);
    client.send('{"action":"nope"}');
    const frame = await client.waitFor({ message: 'Forbidden' }, 10_000);
    expect(frame.text).toMatch(/^\{"message": "Forbidden", "connectionId":"[A-Za-z0-9]{15}=", "requestId":"[A-Za-z0-9]{15}="\}$/);
    expect(client.isOpen).toBe(true);
    await client.disconnect();
    await api.close();
  });
});

describe('F5 integration errors and route responses', () => {
  it('a throwing route answers {"message": "Internal server error", …}; the socket stays open', async () => {
    const { client } = await app.client();
    client.send('{"action":"boom"}');
    const frame = await client.waitFor({ message: 'Internal server error' }, 10_000);
    expect(frame.text).toMatch(
      /^\{"message": "Internal server error", "connectionId":"[A-Za-z0-9]{15}=", "requestId":"[A-Za-z0-9]{15}="\}$/,
    );
    client.send('{"action":"routed"}');
    await client.waitFor('routed: {"action":"routed"}', 10_000);
    await client.disconnect();
  });

  it("a route's return value reaches the client only when a route response is configured", async () => {
    const { client } = await app.client();
    client.send('{"action":"silent","x":1}');
    client.send('{"action":"routed","x":2}');
    await client.waitFor('routed: {"action":"routed","x":2}', 10_000);
    await client.expectNone({ $any: true }, 300);
    await client.disconnect();
  });
});

describe('F6 frames and sizes', () => {
  it('a binary frame closes the connection with 1003', async () => {
    const { client } = await app.client();
    client.raw.send(Buffer.from([1, 2, 3]));
    expect((await client.closed(10_000)).code).toBe(1003);
  });

  it('a frame over 32 KB closes with 1009', async () => {
    const { client } = await app.client();
    client.raw.send('x'.repeat(32 * 1024 + 1));
    expect((await client.closed(10_000)).code).toBe(1009);
  });

  it('a 120 KB message in 30 KB frames is accepted; over 128 KB it closes with 1009', async () => {
    const { client } = await app.client();
    const chunk = 'y'.repeat(30 * 1024);
    for (let i = 0; i < 4; i++) client.raw.send(chunk, { fin: i === 3 });
    const events = await app.eventsOnceRecorded('$default', client.connectionId!);
    expect(events[0].body).toHaveLength(120 * 1024);
    for (let i = 0; i < 5; i++) client.raw.send(chunk, { fin: i === 4 });
    expect((await client.closed(10_000)).code).toBe(1009);
  });
});

describe('F7 $connect outcome', () => {
  it('2xx opens the connection', async () => {
    const { outcome } = await app.client();
    expect(outcome.ok).toBe(true);
  });

  it.each([
    ['reject', 403],
    ['teapot', 418],
    ['throw', 502],
  ])('$connect ?outcome=%s → the handshake fails with %i and no $disconnect follows', async (outcome, status) => {
    const { client, outcome: result } = await app.client({ query: { outcome } });
    expect(result).toEqual({ ok: false, status });
    // Only this connection's events count: other tests' connections may disconnect at any moment.
    const connectionId = await app.connectionIdFromConnectEvent(client);
    await app.emulator.websocketApi.settled();
    // An absence can only be watched for a while: this window is what a late $disconnect would have to beat.
    await new Promise((r) => setTimeout(r, 200));
    expect(await app.events('$disconnect', connectionId)).toEqual([]);
  });

  it('the Sec-WebSocket-Protocol $connect returns is echoed in the handshake', async () => {
    const { client, outcome } = await app.client({ query: { outcome: 'protocol' }, protocols: ['graphql-transport-ws'] });
    expect(outcome.ok).toBe(true);
    expect(client.raw.protocol).toBe('graphql-transport-ws');
    await client.disconnect();
  });

  it('posting to the connection during $connect is refused (410 GoneException)', async () => {
    const { client } = await app.client({ query: { outcome: 'post-self' } });
    const [connect] = await app.events('$connect', client.connectionId);
    expect(connect._postDuringConnect).toBe('GoneException 410');
    await client.disconnect();
  });

  describe('with a REQUEST authorizer', () => {
    const statements = (effect: string) => ({
      principalId: 'p',
      policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: '*' }] },
    });
    const functions = {
      auth: (event: any) => {
        const token = event.queryStringParameters.token;
        if (token === 'unauthorized') throw new Error('Unauthorized');
        return statements(token === 'deny' ? 'Deny' : 'Allow');
      },
      fn: () => ({ statusCode: 200 }),
    };
    const authorizer = { functionName: 'auth', identitySource: ['route.request.querystring.token'] };

    it.each([
      ['deny', 403],
      ['unauthorized', 401],
    ])('token=%s → %i, without calling $connect', async (token, status) => {
      const { api, url, invoked } = await coreApi({ $connect: 'fn', $disconnect: 'fn' }, functions, { authorizer });
      const client = new ScenarioClient('c', token);
      expect(await client.connect(url)).toEqual({ ok: false, status });
      expect(invoked.map((i) => i.fn)).toEqual(['auth']);
      await api.close();
    });

    it('a missing identity source → 401 without calling the authorizer', async () => {
      const { api, url, invoked } = await coreApi({ $connect: 'fn' }, functions, { authorizer });
      const client = new ScenarioClient('c', undefined);
      expect(await client.connect(url)).toEqual({ ok: false, status: 401 });
      expect(invoked).toEqual([]);
      await api.close();
    });

    it('an allowed token reaches $connect with the authorizer event shape', async () => {
      const { api, url, invoked } = await coreApi({ $connect: 'fn' }, functions, { authorizer });
      const client = new ScenarioClient('c', 'allow');
      expect(await client.connect(url)).toEqual({ ok: true });
      expect(invoked.map((i) => i.fn)).toEqual(['auth', 'fn']);
      expect(invoked[0].event).toMatchObject({
        type: 'REQUEST',
        methodArn: 'arn:aws:execute-api:eu-west-1:123456789012:core123456/test/$connect',
        queryStringParameters: { token: 'allow' },
      });
      await client.disconnect();
      await api.close();
    });
  });

  it('with no $connect route the connection is simply accepted', async () => {
    const { api, url, invoked } = await coreApi({ $default: 'fn' }, { fn: () => ({ statusCode: 200 }) });
    const client = new ScenarioClient('c', undefined);
    expect(await client.connect(url)).toEqual({ ok: true });
    expect(invoked).toEqual([]);
    await client.disconnect();
    await api.close();
  });
});

describe('F8 $disconnect', () => {
  const lastDisconnect = async (connectionId: string) => (await app.eventsOnceRecorded('$disconnect', connectionId))[0].requestContext;

  it('client close with a code → that code; without one → 1005', async () => {
    const first = await app.client();
    await first.client.disconnect({ code: 4321 });
    expect(await lastDisconnect(first.client.connectionId!)).toMatchObject({ disconnectStatusCode: 4321 });
    const second = await app.client();
    await second.client.disconnect();
    expect(await lastDisconnect(second.client.connectionId!)).toMatchObject({
      disconnectStatusCode: 1005,
      disconnectReason: 'Client-side close frame status not set',
    });
  });

  it('a socket dropped without a close frame → 1006', async () => {
    const { client } = await app.client();
    await client.disconnect({ abrupt: true });
    expect(await lastDisconnect(client.connectionId!)).toMatchObject({
      disconnectStatusCode: 1006,
      disconnectReason: 'Connection closed abnormally',
    });
  });

  it('DELETE @connections → 1000 "Connection Closed Normally"', async () => {
    const { client } = await app.client();
    await app.emulator.websocketApi.management.handle({
      method: 'DELETE',
      path: `/test/@connections/${encodeURIComponent(client.connectionId!)}`,
      headers: { authorization: 'AWS4-HMAC-SHA256 …' },
      body: new Uint8Array(),
    });
    expect(await lastDisconnect(client.connectionId!)).toMatchObject({
      disconnectStatusCode: 1000,
      disconnectReason: 'Connection Closed Normally',
    });
  });

  it('idle timeout → 1001 "Going away" for the client and in the event', async () => {
    const { client } = await app.client();
    app.emulator.clock.advance(10 * 60_000 + 1);
    expect(await client.closed(10_000)).toEqual({ code: 1001, reason: 'Going away' });
    expect(await lastDisconnect(client.connectionId!)).toMatchObject({ disconnectStatusCode: 1001, disconnectReason: 'Going away' });
  });

  it('a dropped $disconnect (fault) never runs', async () => {
    const { client } = await app.client();
    app.emulator.websocketApi.faults.dropDisconnect(client.connectionId!);
    await client.disconnect();
    await app.emulator.websocketApi.settled();
    await new Promise((r) => setTimeout(r, 200));
    expect(await app.events('$disconnect', client.connectionId)).toEqual([]);
  });

  it('shutdown closes thousands of connections with 1001, running every $disconnect with bounded concurrency', async () => {
    let inFlight = 0;
    let peak = 0;
    let disconnected = 0;
    const { api, url } = await coreApi(
      { $disconnect: 'fn' },
      {
        fn: async () => {
          inFlight++;
          peak = Math.max(peak, inFlight);
          await new Promise((r) => setTimeout(r, 2));
          inFlight--;
          disconnected++;
        },
      },
      { disconnectConcurrency: 16, maxConnectionsPerSecond: 100_000 },
    );
    const sockets = await Promise.all(
      Array.from(
        { length: 1000 },
        () =>
          new Promise<WebSocket>((resolve, reject) => {
            const socket = new WebSocket(url);
            socket.once('open', () => resolve(socket));
            socket.once('error', reject);
          }),
      ),
    );
    const codes = sockets.map((s) => new Promise<number>((resolve) => s.once('close', resolve)));
    await api.closeAll();
    expect(disconnected).toBe(1000);
    expect(peak).toBeLessThanOrEqual(16);
    expect(new Set(await Promise.all(codes))).toEqual(new Set([1001]));
    await api.close();
  }, 60_000);
});
