/**
 * F20 handshake validation and F21 delivery to connections that are going away (see FIDELITY.md): a malformed
 * upgrade request is refused before `$connect` and leaves nothing behind; a post to a connection that is closing
 * answers 410; a client that stops reading cannot grow the emulator's memory without bound.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as connectTcp } from 'node:net';
import { randomUUID } from 'node:crypto';
import { PostToConnectionCommand, DeleteConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { startWsApp, type WsApp } from './helpers/wsFixture.js';

let app: WsApp;
beforeAll(async () => {
  app = await startWsApp();
});
afterAll(() => app.close());

/** Sends a raw upgrade request and answers the status line and headers API Gateway's side sent back. */
function rawUpgrade(url: string, headers: Record<string, string>): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connectTcp(Number(port), hostname, () => {
      const lines = Object.entries({ Host: `${hostname}:${port}`, Connection: 'Upgrade', Upgrade: 'websocket', ...headers }).map(
        ([k, v]) => `${k}: ${v}`,
      );
      socket.write(`GET /?outcome=ok HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
    });
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

async function connectEventsOf(userAgent: string) {
  return (await app.events('$connect')).filter((e) => e.requestContext.identity?.userAgent === userAgent);
}

const sdkStatus = (promise: Promise<unknown>) =>
  promise.then(
    (response) => (response as { $metadata: { httpStatusCode?: number } }).$metadata.httpStatusCode,
    (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode,
  );

describe('F20 the upgrade request is validated before $connect', () => {
  it.each([
    ['no Sec-WebSocket-Key', 400, { 'Sec-WebSocket-Version': '13' }],
    ['a key that is not 16 base64 bytes', 400, { 'Sec-WebSocket-Key': 'short', 'Sec-WebSocket-Version': '13' }],
    ['an unknown Sec-WebSocket-Version', 426, { 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '8' }],
  ])('%s → %i, no $connect, no connection', async (_case, status, headers) => {
    const userAgent = `raw-${randomUUID()}`;
    const before = app.emulator.websocketApi.connections.count();
    const answer = await rawUpgrade(app.emulator.wsUrl, { ...headers, 'User-Agent': userAgent });
    expect(answer.split('\r\n')[0]).toBe(`HTTP/1.1 ${status} ${status === 400 ? 'Bad Request' : 'Upgrade Required'}`);
    if (status === 426) expect(answer).toMatch(/\r\nSec-WebSocket-Version: 13\r\n/);
    // The refusal is answered before any invocation could start, so "none yet" is final.
    expect(await connectEventsOf(userAgent)).toEqual([]);
    expect(app.emulator.websocketApi.connections.find((facts) => facts.userAgent === userAgent)).toBeUndefined();
    expect(app.emulator.websocketApi.connections.count()).toBeLessThanOrEqual(before);
  });

  it('a well-formed raw handshake still opens (the check is not stricter than RFC 6455)', async () => {
    const userAgent = `raw-${randomUUID()}`;
    const answer = await Promise.race([
      rawUpgrade(app.emulator.wsUrl, {
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version': '13',
        'User-Agent': userAgent,
      }),
      app.eventually(async () => ((await connectEventsOf(userAgent)).length ? 'HTTP/1.1 101' : undefined), `the $connect of ${userAgent}`),
    ]);
    expect(answer.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 101/);
  });
});

describe('F21 delivery to connections that are going away', () => {
  it('a post to a connection whose close handshake is under way answers 410 GoneException, and nothing is delivered', async () => {
    const { client } = await app.client();
    // The client stops reading, so the server's close frame stays unanswered: the connection is closing, not closed.
    (client.raw as unknown as { _socket: { pause(): void } })._socket.pause();
    const management = app.management();
    expect(await sdkStatus(management.send(new DeleteConnectionCommand({ ConnectionId: client.connectionId })))).toBe(204);
    expect(
      await sdkStatus(management.send(new PostToConnectionCommand({ ConnectionId: client.connectionId, Data: Buffer.from('too late') }))),
    ).toBe(410);
    const delivered = app.emulator.eventLog.all().filter((e) => e.kind === 'delivered' && e.connectionId === client.connectionId);
    expect(delivered).toEqual([]);
  });

  it('a client that stops reading is dropped past the outbound bound: the post that finds it so answers 410, $disconnect says 1006', async () => {
    const { client } = await app.client();
    (client.raw as unknown as { _socket: { pause(): void } })._socket.pause();
    const management = app.management();
    const chunk = Buffer.alloc(128 * 1024, 120);
    const statuses: Array<number | undefined> = [];
    // Loopback kernel buffers absorb a few MB first; 400 × 128 KB = 50 MB is far past any of them plus the bound.
    for (let i = 0; i < 400 && statuses.at(-1) !== 410; i++) {
      statuses.push(await sdkStatus(management.send(new PostToConnectionCommand({ ConnectionId: client.connectionId, Data: chunk }))));
    }
    expect(statuses.at(-1)).toBe(410);
    expect(statuses.slice(0, -1).every((s) => s === 200)).toBe(true);
    const [disconnect] = await app.eventsOnceRecorded('$disconnect', client.connectionId!);
    expect(disconnect.requestContext).toMatchObject({ disconnectStatusCode: 1006 });
  });
});
