/**
 * Fanout: one createPartner through the emulator to N subscribed WebSocket clients, until the last one has its
 * partner_updated — against the floor, a raw `ws` broadcast of one message to N loopback clients, in the same run.
 */
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { startEmulator } from '../harness/emulator.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 2000);
const SECRET = 'bench-secret';

async function openAll(url: (i: number) => Promise<string>, count: number): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, async (_, j) => {
        const socket = new WebSocket(await url(i + j));
        await new Promise((resolve, reject) => {
          socket.once('open', resolve);
          socket.once('error', reject);
        });
        return socket;
      }),
    );
    sockets.push(...batch);
  }
  return sockets;
}

function allReceive(sockets: WebSocket[], predicate: (text: string) => boolean): Promise<void> {
  let remaining = sockets.length;
  return new Promise((resolve) => {
    for (const socket of sockets) {
      const onMessage = (data: WebSocket.RawData): void => {
        if (!predicate(data.toString())) return;
        socket.off('message', onMessage);
        if (--remaining === 0) resolve();
      };
      socket.on('message', onMessage);
    }
  });
}

export async function benchRawBroadcast(): Promise<number> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as { port: number }).port;
  const sockets = await openAll(async () => `ws://127.0.0.1:${port}`, CLIENTS);
  const done = allReceive(sockets, (t) => t.includes('partner_updated'));
  const started = performance.now();
  const message = JSON.stringify({ type: 'partner_updated', action: 'created', partnerId: 'x', data: { id: 'x', name: 'n', category: 'c', city: 'Paris', discount: 1 }, timestamp: new Date().toISOString() });
  for (const client of server.clients) client.send(message);
  await done;
  const ms = performance.now() - started;
  for (const s of sockets) s.terminate();
  await new Promise((resolve) => server.close(resolve));
  return ms;
}

export async function benchEmulatorFanout(): Promise<{ ms: number; mutationMs: number }> {
  const emulator = await startEmulator({ projectRoot: fileURLToPath(new URL('..', import.meta.url)), environment: { JWT_SECRET: SECRET, LOG_LEVEL: 'WARN' } });
  // AWS allows 500 new connections/s; a benchmark setting up thousands at once is not what that quota is about.
  try {
    const token = await signDevelopmentToken({ sub: 'fan', role: 'user' }, SECRET);
    const sockets: WebSocket[] = [];
    for (let i = 0; i < CLIENTS; i += 400) {
      sockets.push(...(await openAll(async () => `${emulator.wsUrl}?token=${token}`, Math.min(400, CLIENTS - i))));
      emulator.clock.advance(1000);
    }
    const subscribed = allReceive(sockets, (t) => t.includes('"subscribed"'));
    for (const s of sockets) s.send(JSON.stringify({ type: 'subscribe', data: { topics: ['partners'], city: 'Paris' } }));
    await subscribed;
    const admin = await signDevelopmentToken({ sub: 'admin', role: 'admin' }, SECRET);
    const createPartner = (name: string) =>
      fetch(emulator.graphqlUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
        body: JSON.stringify({
          query: 'mutation ($input: PartnerInput!) { createPartner(input: $input) { success } }',
          variables: { input: { name, category: 'Restaurant', address: '1 rue de Rivoli', city: 'Paris', zipCode: '75001', phone: '0142424242', discount: 10, latitude: 48.86, longitude: 2.34 } },
        }),
      });
    // Warm the GraphQL container first: the figure is the fanout, not a cold start.
    const warm = allReceive(sockets, (t) => t.includes('Warm-up'));
    await createPartner('Warm-up');
    await warm;
    const done = allReceive(sockets, (t) => t.includes('Measured'));
    const started = performance.now();
    const response = await createPartner('Measured');
    const mutationMs = performance.now() - started;
    await done;
    const ms = performance.now() - started;
    if (!response.ok) throw new Error(`createPartner answered ${response.status}`);
    for (const s of sockets) s.terminate();
    return { ms, mutationMs };
  } finally {
    await emulator.close();
  }
}
