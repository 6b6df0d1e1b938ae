/**
 * The stream-fed notifier's goals (issue 10), measured on the emulator with PerkUp's handlers:
 * - createPartner's answer p95 with many subscribers against its p95 with none (the answer no longer waits for the
 *   fanout; the emulator has no latency model yet, so both run under "none");
 * - postToConnection calls for a burst of mutations to cache_invalidation subscribers, against one message per
 *   mutation and subscriber;
 * - notifications lost to live connections while 10% of posts answer 429/500, the notifier is killed mid-batch
 *   once, and one record fails its first deliveries.
 */
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startEmulator, type Emulator } from '../harness/emulator.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';
import type { HttpLikeRequest, HttpLikeResponse } from '../harness/lambda/types.js';
import { createPartnerRequest } from './fanout.bench.js';

const SECRET = 'bench-secret';
const root = fileURLToPath(new URL('..', import.meta.url));

async function start(environment: Record<string, string> = {}): Promise<Emulator> {
  return startEmulator({ projectRoot: root, environment: { JWT_SECRET: SECRET, LOG_LEVEL: 'WARN', ...environment } });
}

/** Opens `count` subscribed sockets, at most 400 per emulated second (API Gateway's connect rate is 500/s). */
async function subscribers(
  emulator: Emulator,
  count: number,
  data: Record<string, unknown>,
  onMessage?: (index: number, text: string) => void,
): Promise<WebSocket[]> {
  // One user per socket: the app refuses a user's connections past MAX_CONNECTIONS_PER_USER (429), as each user is.
  const tokens = await Promise.all(
    Array.from({ length: count }, (_, i) => signDevelopmentToken({ sub: `fan-${i}`, role: 'user' }, SECRET)),
  );
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i += 400) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(400, count - i) }, async (_, j) => {
        const socket = new WebSocket(`${emulator.wsUrl}?token=${tokens[i + j]}`);
        await new Promise((resolve, reject) => {
          socket.once('open', resolve);
          socket.once('error', reject);
        });
        // A reset after the run (or under load) must not crash the benchmark: the figures say what arrived.
        socket.on('error', () => undefined);
        if (onMessage) socket.on('message', (raw) => onMessage(i + j, raw.toString()));
        const acked = new Promise<void>((resolve) => {
          const ack = (raw: WebSocket.RawData): void => {
            if (raw.toString().includes('"subscribed"')) {
              socket.off('message', ack);
              resolve();
            }
          };
          socket.on('message', ack);
        });
        socket.send(JSON.stringify({ type: 'subscribe', data }));
        await acked;
        return socket;
      }),
    );
    sockets.push(...batch);
    emulator.clock.advance(1000);
  }
  return sockets;
}

async function createPartner(emulator: Emulator, name: string): Promise<{ ms: number; id: string }> {
  const admin = await signDevelopmentToken({ sub: 'admin', role: 'admin' }, SECRET);
  const started = performance.now();
  const response = await createPartnerRequest(emulator.graphqlUrl, admin, name);
  const ms = performance.now() - started;
  const body = (await response.json()) as { data?: { createPartner?: { partner?: { id: string } } } };
  const id = body.data?.createPartner?.partner?.id;
  if (!id) throw new Error(`createPartner failed: ${JSON.stringify(body)}`);
  return { ms, id };
}

const p95 = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.ceil(values.length * 0.95) - 1)];

async function until(probe: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!probe() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return probe();
}

/** createPartner's answer p95 over `mutations` sequential calls, with `audience` subscribers of the partners topic. */
export async function benchMutationLatency(
  audience: number,
  mutations = 30,
): Promise<{ p95Ms: number; backToBackP95Ms: number; audience: number }> {
  const emulator = await start();
  try {
    const sockets = audience ? await subscribers(emulator, audience, { topics: ['partners'], city: 'Paris' }) : [];
    await createPartner(emulator, 'Warm-up'); // the GraphQL container's cold start is not the figure
    await emulator.mappingsIdle();
    // Isolated: each mutation starts once the previous fanout is over. On AWS the notifier runs elsewhere; here it
    // shares two cores with the GraphQL container, so back-to-back figures measure CPU contention, not waiting.
    const isolated: number[] = [];
    for (let i = 0; i < mutations; i++) {
      isolated.push((await createPartner(emulator, `Measured ${i}`)).ms);
      await emulator.mappingsIdle();
      // The clients (in this process too) are still reading their frames: let them, so the next answer is measured alone.
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const backToBack: number[] = [];
    for (let i = 0; i < mutations; i++) backToBack.push((await createPartner(emulator, `Back to back ${i}`)).ms);
    await emulator.mappingsIdle();
    for (const s of sockets) s.terminate();
    return { p95Ms: p95(isolated), backToBackP95Ms: p95(backToBack), audience };
  } finally {
    await emulator.close();
  }
}

/** postToConnection calls for `mutations` concurrent creates to `audience` cache_invalidation subscribers. */
export async function benchBurst(audience: number, mutations = 100): Promise<{ posts: number; unbatched: number; received: number }> {
  const emulator = await start();
  let received = 0;
  try {
    const sockets = await subscribers(emulator, audience, { topics: ['cache_invalidation'] }, (_, text) => {
      if (text.includes('cache_invalidated')) received++;
    });
    await createPartner(emulator, 'Warm-up');
    await emulator.mappingsIdle();
    const before = emulator.eventLog.all().length;
    const baseline = received;
    const ids = await Promise.all(Array.from({ length: mutations }, (_, i) => createPartner(emulator, `Burst ${i}`)));
    // Every subscriber has every key once the stream is drained.
    await emulator.mappingsIdle();
    await until(
      () =>
        emulator.eventLog
          .all()
          .slice(before)
          .filter((e) => e.kind === 'streamRecord').length >= ids.length,
      60_000,
    );
    await emulator.mappingsIdle();
    const posts = emulator.eventLog
      .all()
      .slice(before)
      .filter((e) => e.kind === 'management' && e.method === 'POST').length;
    for (const s of sockets) s.terminate();
    return { posts, unbatched: mutations * audience, received: received - baseline };
  } finally {
    await emulator.close();
  }
}

/**
 * `connections` partners subscribers, `mutations` creates; 10% of posts answer 429 or 500, the notifier is killed
 * mid-batch once, one record fails its first two deliveries. Counts (connection, partner) pairs never received.
 */
export async function benchLoss(
  connections: number,
  mutations: number,
): Promise<{ expected: number; lost: number; duplicates: number; failedPosts: number }> {
  const emulator = await start({ NOTIFY_RETRY_BASE_DELAY_MS: '5' });
  const seen: Array<Set<string>> = Array.from({ length: connections }, () => new Set());
  let duplicates = 0;
  let failedPosts = 0;
  try {
    await subscribers(emulator, connections, { topics: ['partners'], city: 'Paris' }, (i, text) => {
      const message = JSON.parse(text) as { type: string; partnerId?: string; eventId?: string };
      if (message.type !== 'partner_updated' || !message.eventId) return;
      if (seen[i].has(message.eventId!)) duplicates++;
      seen[i].add(message.eventId!);
    });
    // 10% of management posts answer 429 or 500, as API Gateway does under throttling or a fault.
    const management = emulator.websocketApi.management as { handle: (r: HttpLikeRequest) => Promise<HttpLikeResponse> };
    const real = management.handle.bind(management);
    management.handle = async (request) => {
      if (request.method === 'POST' && Math.random() < 0.1) {
        failedPosts++;
        const status = Math.random() < 0.5 ? 429 : 500;
        return {
          statusCode: status,
          headers: { 'x-amzn-errortype': status === 429 ? 'LimitExceededException' : 'InternalServerErrorException' },
          body: Buffer.from('{"message":"injected"}'),
        };
      }
      return real(request);
    };
    let poisonedDeliveries = 0;
    emulator.streamFaults.failRecords(
      (record) => record.dynamodb.NewImage?.name?.S === 'Loss 7' && ++poisonedDeliveries <= 2,
      'the insert of "Loss 7" (its first two deliveries)',
    );
    emulator.invoker.faults.timeoutNext('notifier', 1, { afterCalls: Math.max(1, Math.floor(connections / 2)), service: 'execute-api' });
    const ids: string[] = [];
    for (let i = 0; i < mutations; i++) ids.push((await createPartner(emulator, `Loss ${i}`)).id);
    const expected = connections * mutations;
    const total = (): number => seen.reduce((n, s) => n + s.size, 0);
    await until(() => total() >= expected, 120_000);
    await emulator.mappingsIdle();
    return { expected, lost: expected - total(), duplicates, failedPosts };
  } finally {
    await emulator.close();
  }
}
