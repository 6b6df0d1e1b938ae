/**
 * Runs a scenario's `load:` section after its steps: connections arrive as the phases say (each connects, then
 * subscribes as the app's protocol says and waits for the acknowledgement), then the mutation workload runs at its
 * rate through the GraphQL API, then the run waits for the notifications to drain. Every notification frame is
 * attributed to the mutation that caused it, so the run knows what each live connection should have received.
 *
 * Latency is from the mutation's commit to the frame's receipt. In-process the commit is the moment the emulated
 * DynamoDB captured the write in its stream (the record whose eventID the notification carries); against a remote
 * emulator it is the mutation's answer (the answer comes after the write), and a frame that arrives before the
 * answer counts 0 ms (`message.beforeAnswer` says how many did).
 */
import { memoryUsage } from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LoggedEvent } from '../../eventLog.js';
import { capture, interpolate } from '../interpolate.js';
import { matches } from '../matchers.js';
import type { ScenarioTarget } from '../target.js';
import { arrivalSchedule } from './arrivals.js';
import { ANY, pick, reaches, subscribeFields, subscriptionOf, type Subscription } from './audience.js';
import { createConnector, type ConnectionMode, type LoadConnection } from './connections.js';
import type { KnownEntity, LoadSpec, MutationKind } from './format.js';
import { createLimiter } from './limiter.js';
import { createMetrics, type LoadMetrics } from './metrics.js';
import { evaluateThresholds, insideOnly, type ThresholdOutcome } from './thresholds.js';

export interface LoadProgress {
  connections: { done: number; total: number };
  mutations: { done: number; total: number };
  notifications: { done: number; total: number };
}

export interface LoadReport {
  mode: ConnectionMode;
  scale: number;
  metrics: LoadMetrics;
  thresholds: ThresholdOutcome[];
  /** Peak in-flight handshakes and mutations, against their bounds. */
  inFlight: { handshakes: { peak: number; limit: number }; mutations: { peak: number; limit: number } };
}

export interface LoadOptions {
  target: ScenarioTarget;
  /** Captured values (vars and earlier steps' captures): operations' variables and `entities` use them. */
  captures: Record<string, unknown>;
  /** A declared client's token (the workload's `as`). */
  tokenOf(client: string): string | undefined;
  scale: number;
  mode: ConnectionMode;
  onProgress?: (progress: LoadProgress) => void;
}

interface Client {
  subscription: Subscription;
  connection: LoadConnection | undefined;
  live: boolean;
  /** Event ids already received: a second copy is a duplicate (delivery is at least once). */
  seen: Set<string>;
  acked: (() => void) | undefined;
}

interface Mutation {
  kind: MutationKind;
  entity: KnownEntity;
  answeredAt: number;
  expected: number;
  eventId: string | undefined;
}

interface Entity extends KnownEntity {
  deleted: boolean;
}

const placeKey = (topic: string, city: string | undefined, category: string | undefined): string =>
  `${topic}|${(city ?? ANY).toLowerCase()}|${(category ?? ANY).toLowerCase()}`;

const path = (value: unknown, field: string): unknown =>
  field.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), value);

export async function runLoad(spec: LoadSpec, options: LoadOptions): Promise<LoadReport> {
  const { target } = options;
  const metrics = createMetrics();
  const connector = createConnector(options.mode, target);
  const insides = target.insides;
  const protocol = target.subscribe;
  if (!protocol) throw new Error('a load run subscribes its connections: serverless.yml needs custom.emulator.scenarios.subscribe');
  if (spec.maxConnectionsPerSecond !== undefined) {
    insides?.setMaxConnectionsPerSecond?.(spec.maxConnectionsPerSecond);
    // Against `npm run emulate` the quota is the emulator's own (--max-connections-per-second).
  }

  // What the emulator's log says: when each write was captured (commit), management calls, failed invocations.
  const committedAt = new Map<string, number>();
  const stopListening = insides?.onEvent?.((event: LoggedEvent) => {
    if (event.kind === 'streamRecord') committedAt.set(event.eventID, performance.now());
    else if (event.kind === 'management') {
      metrics.count('management.calls');
      metrics.count(`management.${event.method.toLowerCase()}`);
      metrics.count(`management.${event.method.toLowerCase()}.${event.statusCode}`);
      if (event.statusCode >= 400) metrics.count(`errors.management.${event.statusCode}`);
    } else if (event.kind === 'invoke' && event.outcome !== 'ok') metrics.count(`errors.invoke.${event.outcome}`);
  });

  let peakRss = memoryUsage.rss();
  const rssTimer = setInterval(() => (peakRss = Math.max(peakRss, memoryUsage.rss())), 250).unref();

  const schedule = arrivalSchedule(spec.phases);
  const mutationTotal = spec.mutations
    ? (spec.mutations.count ?? Math.max(1, Math.round((spec.mutations.rate * (spec.mutations.durationMs ?? 0)) / 1000)))
    : 0;
  const clients: Client[] = [];
  const audience = new Map<string, number>();
  let expectedTotal = 0;
  let delivered = 0;
  let mutationsDone = 0;
  const progress = (): void =>
    options.onProgress?.({
      connections: { done: clients.filter((c) => c.live).length, total: schedule.length },
      mutations: { done: mutationsDone, total: mutationTotal },
      notifications: { done: delivered, total: expectedTotal },
    });
  const progressTimer = options.onProgress ? setInterval(progress, 200).unref() : undefined;

  // ---- notifications: attribution to mutations ---------------------------------------------------------------
  const n = spec.notifications;
  const kindOf = Object.fromEntries(Object.entries(n.kinds).map(([k, v]) => [v, k as MutationKind]));
  const byEvent = new Map<string, Mutation>();
  /** Answered mutations whose notifications have not been seen yet, per entity and kind, oldest first. */
  const unclaimed = new Map<string, Mutation[]>();
  /** Frames that came before their mutation's answer, per entity and kind. */
  const early = new Map<string, Array<{ client: Client; eventId: string; at: number }>>();

  function count(client: Client, mutation: Mutation, eventId: string, at: number): void {
    if (client.seen.has(eventId)) {
      metrics.count('duplicates');
      return;
    }
    client.seen.add(eventId);
    if (!reaches(client.subscription, n.topics, mutation.entity)) {
      metrics.count('unexpected');
      return;
    }
    delivered++;
    metrics.delivered(at);
    const from = committedAt.get(eventId) ?? mutation.answeredAt;
    if (at < from) metrics.count('message.beforeAnswer');
    metrics.record('message.latency', Math.max(0, at - from));
  }

  function onNotification(client: Client, frame: Record<string, unknown>, at: number): void {
    const eventId = String(path(frame, n.eventId) ?? '');
    const entityId = String(path(frame, n.entityId) ?? '');
    const kind = kindOf[String(path(frame, n.kind))];
    if (!eventId || !entityId || !kind) {
      metrics.count('errors.notification.shape');
      return;
    }
    let mutation = byEvent.get(eventId);
    if (!mutation) {
      const key = `${entityId}|${kind}`;
      mutation = unclaimed.get(key)?.shift();
      if (!mutation) {
        const list = early.get(key) ?? [];
        list.push({ client, eventId, at });
        early.set(key, list);
        return;
      }
      mutation.eventId = eventId;
      byEvent.set(eventId, mutation);
    }
    count(client, mutation, eventId, at);
  }

  function answered(mutation: Mutation): void {
    const key = `${mutation.entity.id}|${mutation.kind}`;
    const waiting = early.get(key);
    if (waiting?.length) {
      // The first early frame's event is this mutation's (one entity's changes are notified in commit order).
      const eventId = waiting[0].eventId;
      mutation.eventId = eventId;
      byEvent.set(eventId, mutation);
      const rest = waiting.filter((f) => f.eventId !== eventId);
      for (const f of waiting) if (f.eventId === eventId) count(f.client, mutation, eventId, f.at);
      if (rest.length) early.set(key, rest);
      else early.delete(key);
      return;
    }
    const list = unclaimed.get(key) ?? [];
    list.push(mutation);
    unclaimed.set(key, list);
  }

  // ---- connections -------------------------------------------------------------------------------------------
  const handshakes = createLimiter(spec.inFlight);
  let closedWarned = false;
  async function arrive(i: number): Promise<void> {
    const subscription = subscriptionOf(spec.subscribe, i);
    const client: Client = { subscription, connection: undefined, live: false, seen: new Set(), acked: undefined };
    clients.push(client);
    const claims = { ...spec.claims, sub: spec.claims.sub.replace('{n}', String(i)) };
    const token = await target.mintToken(claims);
    metrics.count('connect.attempted');
    const t0 = performance.now();
    const opened = await connector.open(
      token,
      `emulator-load/${i}`,
      (text) => {
        const at = performance.now();
        let frame: unknown;
        try {
          frame = JSON.parse(text);
        } catch {
          return;
        }
        if (client.acked && matches(protocol!.ack, frame)) {
          client.acked();
          client.acked = undefined;
        } else if (matches(n.match, frame)) onNotification(client, frame as Record<string, unknown>, at);
      },
      (code) => {
        // Not asked for by the run: counted and named, and the connection stays in the audience, so its missing
        // notifications fail delivered.ratio rather than quietly shrink what was expected. 1001 while idle is API
        // Gateway's 10-minute idle timeout: a set-up that takes longer here than on AWS can reach it.
        metrics.count(`errors.closed.${code}`);
        if (!closedWarned) {
          closedWarned = true;
          console.error(
            `load: connection ${i} was closed by the API (code ${code}${code === 1001 ? ": API Gateway's idle timeout (10 minutes without a message) or maximum duration (2 hours)" : ''}) before the run ended; errors.closed.<code> counts them`,
          );
        }
      },
    );
    if (!opened.ok) {
      metrics.count('connect.failed');
      metrics.count(`errors.connect.${opened.reason}`);
      return;
    }
    metrics.count('connect.ok');
    metrics.record('connect.latency', performance.now() - t0);
    client.connection = opened.connection;
    const t1 = performance.now();
    const ack = new Promise<boolean>((resolve) => {
      client.acked = () => resolve(true);
      setTimeout(() => resolve(false), spec.subscribe.withinMs).unref();
    });
    const fields = subscribeFields(subscription);
    opened.connection.send(JSON.stringify({ ...protocol!.send, ...(protocol!.dataField ? { [protocol!.dataField]: fields } : fields) }));
    if (!(await ack)) {
      metrics.count('subscribe.failed');
      metrics.count('errors.subscribe.timeout');
      return;
    }
    metrics.record('subscribe.latency', performance.now() - t1);
    client.live = true;
    const key = placeKey(subscription.topic, subscription.city, subscription.category);
    audience.set(key, (audience.get(key) ?? 0) + 1);
  }

  const started = performance.now();
  const arrivals: Promise<void>[] = [];
  for (const [i, at] of schedule.entries()) {
    const wait = started + at - performance.now();
    if (wait > 1) await sleep(wait);
    arrivals.push(handshakes.run(() => arrive(i)).catch(() => void metrics.count('errors.connect.exception')));
  }
  await Promise.all(arrivals);

  /** Live subscribed connections a notification about this place should reach. */
  const audienceOf = (place: { city: string; category: string }): number => {
    let total = 0;
    for (const topic of n.topics)
      for (const city of [place.city, undefined])
        for (const category of [place.category, undefined]) total += audience.get(placeKey(topic, city, category)) ?? 0;
    return total;
  };

  // ---- mutations ---------------------------------------------------------------------------------------------
  const m = spec.mutations;
  const mutations = createLimiter(m?.maxInFlight ?? 1);
  if (m) {
    const token = options.tokenOf(m.as);
    const entities: Entity[] = interpolate(m.entities, options.captures).map((e) => ({ ...e, id: String(e.id), deleted: false }));
    let nextUpdate = 0;
    const mix = Object.fromEntries(Object.entries(m.mix).filter(([, w]) => (w ?? 0) > 0)) as Record<string, number>;
    const runId = Date.now().toString(36);

    async function mutate(i: number): Promise<void> {
      const alive = entities.filter((e) => !e.deleted);
      let kind = pick(mix, i) as MutationKind;
      // An update or a delete needs an entity: until one exists the workload creates.
      if (kind !== 'create' && !alive.length) kind = 'create';
      const operation = m!.operations[kind];
      if (!operation) return void metrics.count('errors.mutation.noOperation');
      let entity: Entity | undefined;
      if (kind === 'update') entity = alive[nextUpdate++ % alive.length];
      if (kind === 'delete') {
        entity = alive[0];
        entity.deleted = true; // claimed now: a concurrent mutation must not update or delete it again
      }
      const city = entity?.city ?? (m!.cities ? pick(m!.cities, i) : 'Paris');
      const category = entity?.category ?? (m!.categories ? pick(m!.categories, i) : 'Restaurant');
      const variables = interpolate(operation.variables ?? {}, {
        ...options.captures,
        city,
        category,
        n: i,
        percent: i % 100,
        run: runId,
        id: entity?.id ?? '',
      });
      const t0 = performance.now();
      metrics.count('mutations.sent');
      let body: unknown;
      try {
        const response = await fetch(target.graphqlUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify({ query: operation.query, variables }),
        });
        body = await response.json().catch(() => undefined);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
      } catch (error) {
        metrics.count('mutations.failed');
        metrics.count(`errors.graphql.${(error as Error).message.startsWith('HTTP') ? (error as Error).message.slice(5) : 'network'}`);
        return;
      }
      const answeredAt = performance.now();
      metrics.record('graphql.latency', answeredAt - t0);
      const succeeded = operation.success ? capture(operation.success, body) === true : !(body as { errors?: unknown })?.errors;
      if (!succeeded) {
        metrics.count('mutations.failed');
        metrics.count(`errors.graphql.${kind}`);
        return;
      }
      if (kind === 'create') {
        const id = operation.id ? capture(operation.id, body) : undefined;
        if (id === undefined) {
          metrics.count('errors.graphql.noId');
          return;
        }
        entity = { id: String(id), city, category, deleted: false };
        entities.push(entity);
      }
      const mutation: Mutation = { kind, entity: entity!, answeredAt, expected: audienceOf(entity!), eventId: undefined };
      expectedTotal += mutation.expected;
      answered(mutation);
    }

    const mutationsStart = performance.now();
    const running: Promise<void>[] = [];
    for (let i = 0; i < mutationTotal; i++) {
      // Open model (k6's constant-arrival-rate): mutation i is due at i/rate, whatever earlier ones take.
      const wait = mutationsStart + (i * 1000) / m.rate - performance.now();
      if (wait > 1) await sleep(wait);
      running.push(
        mutations
          .run(() => mutate(i))
          .finally(() => {
            mutationsDone++;
          }),
      );
    }
    await Promise.all(running);
  }

  // ---- drain -------------------------------------------------------------------------------------------------
  const drainUntil = performance.now() + spec.notifications.drainMs;
  while (delivered < expectedTotal && performance.now() < drainUntil) await sleep(50);
  const durationMs = performance.now() - started;

  clearInterval(rssTimer);
  if (progressTimer) clearInterval(progressTimer);
  progress();
  stopListening?.();
  for (const client of clients) client.connection?.close();

  const snapshot = metrics.snapshot();
  metrics.destroy();
  const v = snapshot.values;
  v.expected = expectedTotal;
  v.delivered = delivered;
  v.missing = expectedTotal - delivered;
  if (expectedTotal > 0) v['delivered.ratio'] = delivered / expectedTotal;
  const attempted = v['connect.attempted'] ?? 0;
  v['connect.failed.rate'] = attempted ? (v['connect.failed'] ?? 0) / attempted : 0;
  v.errors = Object.entries(v)
    .filter(([k]) => k.startsWith('errors.'))
    .reduce((sum, [, value]) => sum + value, 0);
  v['duration.s'] = Math.round(durationMs / 100) / 10;
  v['rss.peak.mb'] = Math.round(peakRss / 1_048_576);
  return {
    mode: connector.mode,
    scale: options.scale,
    metrics: snapshot,
    thresholds: evaluateThresholds(spec.thresholds, v, (metric) => insides?.onEvent !== undefined || !insideOnly(metric)),
    inFlight: {
      handshakes: { peak: handshakes.peak, limit: spec.inFlight },
      mutations: { peak: mutations.peak, limit: m?.maxInFlight ?? 1 },
    },
  };
}
