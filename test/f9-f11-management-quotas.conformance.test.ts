/**
 * F9 management API, F10 its errors, F11 quotas — through the real @aws-sdk/client-apigatewaymanagementapi over
 * HTTP against the emulator's port, with and without the stage in the path (custom domain).
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteConnectionCommand, GetConnectionCommand, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { createWebSocketApi } from '../harness/apiGateway/websocket/api.js';
import type { Clock } from '../harness/clock.js';
import { ScenarioClient } from '../harness/scenarios/client.js';
import { startEmulator } from '../harness/emulator.js';
import { parseFlags, UsageError } from '../harness/cli/options.js';
import { startWsApp, type WsApp } from './helpers/wsFixture.js';

let app: WsApp;
beforeAll(async () => {
  app = await startWsApp();
});
afterAll(() => app.close());

const sdkError = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: { name: string; $metadata: { httpStatusCode: number } }) => ({ name: error.name, status: error.$metadata.httpStatusCode }),
  );

describe('F9 management API', () => {
  it('POST delivers the data (200), with the stage in the path and without it (custom domain)', async () => {
    const { client } = await app.client();
    const withStage = app.management();
    const customDomain = app.management(app.emulator.managementUrl.replace(/\/test$/, ''));
    const response = await withStage.send(
      new PostToConnectionCommand({ ConnectionId: client.connectionId, Data: Buffer.from('hello via stage') }),
    );
    expect(response.$metadata.httpStatusCode).toBe(200);
    await customDomain.send(new PostToConnectionCommand({ ConnectionId: client.connectionId, Data: Buffer.from('hello via domain') }));
    expect((await client.waitFor('hello via stage', 10_000)).text).toBe('hello via stage');
    expect((await client.waitFor('hello via domain', 10_000)).text).toBe('hello via domain');
    await client.disconnect();
  });

  it('GET answers connectedAt, identity and lastActiveAt as the SDK types them', async () => {
    const { client } = await app.client();
    const before = Date.now();
    // The routed reply proves API Gateway received the message (activity) before we ask.
    client.send('{"action":"routed","n":1}');
    await client.waitFor('routed: {"action":"routed","n":1}', 10_000);
    const info = await app.management().send(new GetConnectionCommand({ ConnectionId: client.connectionId }));
    expect(info.$metadata.httpStatusCode).toBe(200);
    expect(info.ConnectedAt).toBeInstanceOf(Date);
    expect(info.LastActiveAt!.getTime()).toBeGreaterThanOrEqual(info.ConnectedAt!.getTime());
    expect(info.LastActiveAt!.getTime()).toBeGreaterThanOrEqual(before - 5);
    expect(info.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: client.userAgent });
    await client.disconnect();
  });

  it('DELETE answers 204, closes the socket and runs $disconnect', async () => {
    const { client } = await app.client();
    const response = await app.management().send(new DeleteConnectionCommand({ ConnectionId: client.connectionId }));
    expect(response.$metadata.httpStatusCode).toBe(204);
    await client.closed(10_000);
    const events = await app.eventsOnceRecorded('$disconnect', client.connectionId!);
    expect(events).toHaveLength(1);
  });
});

describe('F10 management errors', () => {
  it('an unknown or closed connection → 410 GoneException with an empty body', async () => {
    expect(
      await sdkError(app.management().send(new PostToConnectionCommand({ ConnectionId: 'NeverExisted123=', Data: Buffer.from('x') }))),
    ).toEqual({ name: 'GoneException', status: 410 });
    const { client } = await app.client();
    await client.disconnect();
    await app.emulator.websocketApi.settled();
    expect(await sdkError(app.management().send(new GetConnectionCommand({ ConnectionId: client.connectionId })))).toEqual({
      name: 'GoneException',
      status: 410,
    });
    const raw = await fetch(`${app.emulator.managementUrl}/@connections/NeverExisted123%3D`, {
      method: 'POST',
      headers: { authorization: 'AWS4-HMAC-SHA256 Credential=x' },
      body: 'x',
    });
    expect(raw.status).toBe(410);
    expect(raw.headers.get('x-amzn-errortype')).toBe('GoneException');
    expect(await raw.text()).toBe('');
  });

  it('more than 128 KB → 413 PayloadTooLargeException, and nothing is delivered', async () => {
    const { client } = await app.client();
    expect(
      await sdkError(
        app.management().send(new PostToConnectionCommand({ ConnectionId: client.connectionId, Data: Buffer.alloc(131_073, 97) })),
      ),
    ).toEqual({ name: 'PayloadTooLargeException', status: 413 });
    await app.management().send(new PostToConnectionCommand({ ConnectionId: client.connectionId, Data: Buffer.alloc(131_072, 98) }));
    expect((await client.waitFor({ $any: true }, 10_000)).text).toHaveLength(131_072);
    await client.disconnect();
  });

  it('a malformed connection id → 400 BadRequestException', async () => {
    expect(
      await sdkError(app.management().send(new PostToConnectionCommand({ ConnectionId: 'not an id!', Data: Buffer.from('x') }))),
    ).toEqual({ name: 'BadRequestException', status: 400 });
  });

  it('an unsigned request → 403 ForbiddenException', async () => {
    const { client } = await app.client();
    const raw = await fetch(`${app.emulator.managementUrl}/@connections/${encodeURIComponent(client.connectionId!)}`, {
      method: 'POST',
      body: 'x',
    });
    expect(raw.status).toBe(403);
    expect(raw.headers.get('x-amzn-errortype')).toBe('ForbiddenException');
    await client.expectNone({ $any: true }, 100);
    await client.disconnect();
  });

  it('the @connections throttle, when switched on, answers 429 LimitExceededException', async () => {
    const { client } = await app.client();
    app.emulator.websocketApi.management.setThrottle({ rate: 1, burst: 2 });
    try {
      const post = () =>
        sdkError(app.management().send(new PostToConnectionCommand({ ConnectionId: client.connectionId, Data: Buffer.from('t') })));
      expect([await post(), await post(), await post()]).toEqual([undefined, undefined, { name: 'LimitExceededException', status: 429 }]);
    } finally {
      app.emulator.websocketApi.management.setThrottle(undefined);
      await client.disconnect();
    }
  });
});

describe('F11 quotas', () => {
  it('idle for 10 minutes → closed; a client message resets the timer, protocol pings do not', async () => {
    const { client: chatty } = await app.client();
    const { client: pinger } = await app.client();
    app.emulator.clock.advance(9 * 60_000);
    // Both must have reached the server before the clock moves: the routed reply and the pong prove it.
    const ponged = new Promise((resolve) => pinger.raw.once('pong', resolve));
    pinger.raw.ping();
    chatty.send('{"action":"routed"}');
    await chatty.waitFor('routed: {"action":"routed"}', 10_000);
    await ponged;
    app.emulator.clock.advance(60_000 + 1);
    expect((await pinger.closed(10_000)).code).toBe(1001);
    expect(chatty.isOpen).toBe(true);
    app.emulator.clock.advance(9 * 60_000);
    expect((await chatty.closed(10_000)).code).toBe(1001);
  });

  it('2-hour maximum connection duration', async () => {
    const { client } = await app.client();
    for (let minutes = 0; minutes < 117; minutes += 9) {
      app.emulator.clock.advance(9 * 60_000);
      client.send(`{"action":"routed","minutes":${minutes}}`);
      await client.waitFor(`routed: {"action":"routed","minutes":${minutes}}`, 10_000);
    }
    expect(client.isOpen).toBe(true);
    app.emulator.clock.advance(3 * 60_000);
    expect(await client.closed(10_000)).toEqual({ code: 1001, reason: 'Going away' });
  });

  it('more than 500 new connections in a second → 429 at the handshake', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const frozen: Clock = { now: () => now, at: () => () => undefined, advance: (ms) => void (now += ms) };
    const api = createWebSocketApi({
      invoke: async () => ({ ok: true, value: null, requestId: 'r', coldStart: false, durationMs: 0 }),
      routes: {},
      routeSelectionExpression: '$request.body.action',
      stage: 's',
      apiId: 'quota12345',
      region: 'eu-west-1',
      clock: frozen,
    });
    const { port } = await api.listen(0);
    const clients = Array.from({ length: 501 }, (_, i) => new ScenarioClient(`c${i}`, undefined));
    const outcomes = [];
    for (const client of clients) outcomes.push(await client.connect(`ws://127.0.0.1:${port}`));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(500);
    expect(outcomes[500]).toEqual({ ok: false, status: 429 });
    frozen.advance(1000);
    const late = new ScenarioClient('late', undefined);
    expect(await late.connect(`ws://127.0.0.1:${port}`)).toEqual({ ok: true });
    await Promise.all([...clients, late].map((c) => c.disconnect({ abrupt: true })));
    await api.close();
  }, 60_000);

  it('emulate --max-connections-per-second relaxes the quota for a load run, and still bounds it', async () => {
    // The flag as emulate parses it: a whole number, default AWS's 500; nonsense is refused, not silently clamped.
    expect(parseFlags([]).maxConnectionsPerSecond).toBe(500);
    const { maxConnectionsPerSecond } = parseFlags(['--max-connections-per-second', '700']);
    expect(maxConnectionsPerSecond).toBe(700);
    for (const bad of ['0', '-5', '1.5', 'lots']) {
      expect(() => parseFlags(['--max-connections-per-second', bad])).toThrow(UsageError);
    }
    // …then handed to startEmulator as emulate does, on a frozen clock so "within one second" holds however slow
    // the machine. The fixture app has no $connect route: every handshake is the quota's decision alone.
    let now = Date.parse('2026-01-01T00:00:00Z');
    const frozen: Clock = { now: () => now, at: () => () => undefined, advance: (ms) => void (now += ms) };
    const emulator = await startEmulator({
      projectRoot: fileURLToPath(new URL('../bench/fixtures/blast-app', import.meta.url)),
      clock: frozen,
      maxConnectionsPerSecond,
    });
    try {
      const clients = Array.from({ length: 701 }, (_, i) => new ScenarioClient(`q${i}`, undefined));
      const outcomes = [];
      for (const client of clients) outcomes.push(await client.connect(emulator.wsUrl));
      expect(outcomes.slice(0, 700).filter((o) => !o.ok)).toEqual([]);
      expect(outcomes[700]).toEqual({ ok: false, status: 429 });
      await Promise.all(clients.map((c) => c.disconnect({ abrupt: true })));
    } finally {
      await emulator.close();
    }
  }, 60_000);
});
