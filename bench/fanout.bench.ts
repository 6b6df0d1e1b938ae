/**
 * Fanout: one createPartner to N subscribed WebSocket clients, until the last one has its partner_updated — against
 * the floor, a raw `ws` broadcast of one message to N loopback clients, in the same run. The clients live in a
 * separate process (bench/fleet.ts); "done" is when the last of them received, never the mutation's answer (the
 * fanout may leave the mutation's path).
 */
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { startEmulator } from '../harness/emulator.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';
import type { Fleet, OpenResult } from './fleet.js';
import type { LoggedEvent } from '../harness/eventLog.js';
import { median } from './figures.js';

export const BENCH_SECRET = 'bench-secret';
const projectRoot = fileURLToPath(new URL('..', import.meta.url));

const notification = (name: string): string =>
  JSON.stringify({
    type: 'partner_updated',
    action: 'created',
    partnerId: 'x',
    data: { id: 'x', name, category: 'Restaurant', city: 'Paris', discount: 10 },
    timestamp: new Date().toISOString(),
  });

/** The middle value of `values` by `key` (the upper middle for an even count). */
function middle<T>(values: readonly T[], key: (value: T) => number): T {
  return [...values].sort((a, b) => key(a) - key(b))[Math.floor(values.length / 2)];
}

/**
 * Milliseconds from the broadcast's start until the last of `count` loopback clients has the message: the median of
 * `runs` broadcasts to the same clients, each of its own message. All of them in `runs` order in `all`.
 */
export async function rawBroadcast(fleet: Fleet, count: number, runs = 1): Promise<{ ms: number; all: number[] }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const opened = await fleet.open(Array.from({ length: count }, () => `ws://127.0.0.1:${port}`));
    if (opened.opened !== count)
      throw new Error(`raw broadcast: ${count - opened.opened} of ${count} clients could not connect (${JSON.stringify(opened.refused)})`);
    const all: number[] = [];
    for (let run = 0; run < runs; run++) {
      const text = notification(`Measured-${run}`);
      const { startedAt, lastAt } = await fleet.timeUntilAll(`Measured-${run}`, async () => {
        for (const client of server.clients) client.send(text);
      });
      all.push(lastAt - startedAt);
    }
    return { ms: median(all), all };
  } finally {
    await fleet.closeAll();
    await new Promise((resolve) => server.close(resolve));
  }
}

export function createPartnerRequest(graphqlUrl: string, adminToken: string, name: string): Promise<Response> {
  return fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({
      query: 'mutation ($input: PartnerInput!) { createPartner(input: $input) { success partner { id } } }',
      variables: {
        input: {
          name,
          category: 'Restaurant',
          address: '1 rue de Rivoli',
          city: 'Paris',
          zipCode: '75001',
          phone: '0142424242',
          discount: 10,
          latitude: 48.86,
          longitude: 2.34,
        },
      },
    }),
  });
}

/** The emulator's event log after `query`'s filters, over its HTTP endpoint (the emulator may be another process). */
async function eventsAfter(eventsUrl: string, query: string): Promise<LoggedEvent[]> {
  const response = await fetch(`${eventsUrl}?${query}`);
  if (response.status !== 200) throw new Error(`${eventsUrl} answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { events: LoggedEvent[] }).events;
}

/** One timed mutation of a fanout run. */
export interface TimedFanout {
  /** Mutation sent → last client received. */
  ms: number;
  /**
   * Of `ms`, how long the event source mapping held the mutation's stream record before invoking the notifier: its
   * shard polling and the batching window serverless.yml configures (`batchWindow`), which AWS applies too. The
   * emulator's own cost is `ms - heldInStreamMs`.
   */
  heldInStreamMs: number;
  /** After the notifier started: how long it ran, when the fanout invocations ran, when the last client received. */
  stages: string;
  /** When the mutation's answer came, for context (it may come before or after the last delivery). */
  mutationMs: number;
}

/** The emulator's own cost of one timed mutation: what figures 1 and 2 judge. */
export const emulatorCostMs = (run: TimedFanout): number => run.ms - run.heldInStreamMs;

/** A fanout run: the timed mutation of median emulator cost (its fields), and every timed mutation in order. */
export interface FanoutRun extends TimedFanout {
  timed: TimedFanout[];
  connect: OpenResult;
  /** Seconds for every client's subscribe to be acknowledged, all sent at once. */
  subscribeSeconds: number;
}

/**
 * Connects `count` clients of the PerkUp app to a running emulator, subscribes them to Paris, warms the GraphQL
 * container with one mutation (the figure is the fanout, not a cold start), then times `runs` more, one after the
 * other, each a partner of its own name that every client must receive.
 */
export async function fanoutThrough(
  fleet: Fleet,
  urls: { wsUrl: string; graphqlUrl: string; eventsUrl: string },
  count: number,
  secret: string,
  runs = 1,
): Promise<FanoutRun> {
  // One user per client: the app caps connections per user (MAX_CONNECTIONS_PER_USER).
  const tokens = await Promise.all(
    Array.from({ length: count }, (_, i) => signDevelopmentToken({ sub: `fan-${i}`, role: 'user' }, secret)),
  );
  const connect = await fleet.open(tokens.map((token) => `${urls.wsUrl}?token=${token}`));
  if (connect.opened !== count)
    throw new Error(`${count - connect.opened} of ${count} clients could not connect (${JSON.stringify(connect.refused)})`);
  const { seconds: subscribeSeconds } = await fleet.sendAll(
    JSON.stringify({ type: 'subscribe', data: { topics: ['partners'], city: 'Paris' } }),
    '"subscribed"',
  );
  const admin = await signDevelopmentToken({ sub: 'admin', role: 'admin' }, secret);
  await fleet.timeUntilAll('Warm-up', () => createPartnerRequest(urls.graphqlUrl, admin, 'Warm-up'));
  const timed: TimedFanout[] = [];
  for (let run = 0; run < runs; run++) timed.push(await timeOneMutation(fleet, urls, admin, `Measured-${run}`));
  return { ...middle(timed, emulatorCostMs), timed, connect, subscribeSeconds };
}

/** One createPartner named `name`, timed until every client has it, and where the time went (the event log). */
async function timeOneMutation(
  fleet: Fleet,
  urls: { graphqlUrl: string; eventsUrl: string },
  admin: string,
  name: string,
): Promise<TimedFanout> {
  const lastSeq = await eventsAfter(urls.eventsUrl, 'limit=1');
  const before = lastSeq.at(-1)?.seq ?? 0;
  let mutationMs = 0;
  let status = 0;
  const { startedAt, lastAt } = await fleet.timeUntilAll(name, async () => {
    const sent = performance.now();
    const response = await createPartnerRequest(urls.graphqlUrl, admin, name);
    mutationMs = performance.now() - sent;
    status = response.status;
    await response.arrayBuffer();
  });
  if (status !== 200) throw new Error(`createPartner answered ${status}`);
  type Started = Extract<LoggedEvent, { kind: 'invokeStart' }>;
  const query = `kind=streamRecord,invokeStart,invoke&after=${before}`;
  let events = await eventsAfter(urls.eventsUrl, query);
  const record = events.find((e) => e.kind === 'streamRecord' && e.eventName === 'INSERT' && e.table.endsWith('-partners'));
  const notifier = events.find((e): e is Started => e.kind === 'invokeStart' && e.functionName === 'notifier');
  if (!record || !notifier) throw new Error('the event log shows no partners stream record or no notifier invocation after the mutation');
  // The notifier returns after its last post (it logs and flushes metrics): its end may come after the last client.
  for (let waited = 0; waited < 100 && !events.some((e) => e.kind === 'invoke' && e.requestId === notifier.requestId); waited++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    events = await eventsAfter(urls.eventsUrl, query);
  }
  // Where the rest went, on the emulator's clock from the notifier's start (both processes read the same wall clock).
  const since = (time: number): number => Math.round(time - notifier.time);
  type Ended = Extract<LoggedEvent, { kind: 'invoke' }>;
  const ended = events.filter((e): e is Ended => e.kind === 'invoke');
  // By request id: the warm-up's notifier invocation may still be ending after its clients heard (it logs, flushes
  // metrics and returns after its last post), and its end would be taken for this one's.
  const notifierEnd = ended.find((e) => e.requestId === notifier.requestId);
  const fanouts = ended.filter((e) => e.functionName === 'fanout');
  const fanoutStarts = events.filter((e) => e.kind === 'invokeStart' && e.functionName === 'fanout');
  const stages = [
    notifierEnd && `notifier ran ${notifierEnd.durationMs} ms`,
    fanouts.length > 0 &&
      `${fanouts.length} fanout invocations, first started +${since(fanoutStarts[0].time)} ms, last ended +${since(fanouts.at(-1)!.time)} ms`,
    `last client +${since(lastAt)} ms`,
  ].filter(Boolean);
  return { ms: lastAt - startedAt, heldInStreamMs: notifier.time - record.time, stages: stages.join(', '), mutationMs };
}

/** Figure 1: the emulator in this process (latency `none`: its own cost), N clients in the fleet. */
export async function inProcessFanout(fleet: Fleet, count: number, runs = 1): Promise<FanoutRun> {
  const emulator = await startEmulator({
    projectRoot,
    environment: { JWT_SECRET: BENCH_SECRET, LOG_LEVEL: 'WARN' },
    latency: 'none',
    // AWS's 500 new connections/s is about production traffic; a benchmark's set-up is not what it limits.
    maxConnectionsPerSecond: 1_000_000,
  });
  try {
    return await fanoutThrough(fleet, emulator, count, BENCH_SECRET, runs);
  } finally {
    await fleet.closeAll();
    await emulator.close();
  }
}
