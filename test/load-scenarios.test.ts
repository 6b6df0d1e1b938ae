/**
 * Load scenarios: the `load:` section's parts (arrival phases, spreads, thresholds, the section's schema), bounded
 * concurrency, simulated connections through the emulated WebSocket API and its connection quota, and the three
 * load scenarios of scenarios/load/ run in-process at a size that fits CI (LOAD_SCALE or the figures below).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { ApiGatewayManagementApiClient, DeleteConnectionCommand, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { startEmulator, type Emulator } from '../harness/emulator.js';
import { createClock } from '../harness/clock.js';
import { arrivalSchedule } from '../harness/scenarios/load/arrivals.js';
import { pick, reaches, subscriptionOf } from '../harness/scenarios/load/audience.js';
import { createLimiter } from '../harness/scenarios/load/limiter.js';
import { createConnector } from '../harness/scenarios/load/connections.js';
import { evaluateThresholds, parseThreshold } from '../harness/scenarios/load/thresholds.js';
import { parseLoad, scaleLoad } from '../harness/scenarios/load/format.js';
import { loadScenario, ScenarioFileError } from '../harness/scenarios/loader.js';
import { runScenario, runScenarios } from '../harness/scenarios/runner.js';
import { inProcessTargets, type ScenarioTarget, type TargetFactory } from '../harness/scenarios/target.js';
import { consoleLine } from '../harness/scenarios/reporters.js';
import { summaryTable } from '../harness/scenarios/load/summary.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('arrival phases (Artillery semantics)', () => {
  it('arrivalRate for a duration gives rate × seconds arrivals, evenly spaced', () => {
    const times = arrivalSchedule([{ name: 'p', durationMs: 2000, arrivalRate: 5 }]);
    expect(times).toHaveLength(10);
    expect(times.slice(0, 3)).toEqual([0, 200, 400]);
  });
  it('rampTo rises linearly: the average rate times the duration, denser at the end', () => {
    const times = arrivalSchedule([{ name: 'ramp', durationMs: 10_000, arrivalRate: 0, rampTo: 100 }]);
    expect(times).toHaveLength(500);
    const firstSecond = times.filter((t) => t < 1000).length;
    const lastSecond = times.filter((t) => t >= 9000).length;
    // N(1 s) = 100·1²/20 = 5; N(10 s) − N(9 s) = 500 − 405 = 95.
    expect(firstSecond).toBe(5);
    expect(lastSecond).toBe(95);
  });
  it('phases follow each other; arrivalCount spreads a count; a pause adds none', () => {
    const times = arrivalSchedule([
      { name: 'a', durationMs: 1000, arrivalCount: 4 },
      { name: 'b', durationMs: 3000, pause: true },
      { name: 'c', durationMs: 1000, arrivalRate: 2 },
    ]);
    expect(times).toEqual([0, 250, 500, 750, 4000, 4500]);
  });
});

describe('spreads and audiences', () => {
  it('a list is round-robin; weights give each value its share', () => {
    expect([0, 1, 2, 3].map((i) => pick(['Paris', 'Lyon'], i))).toEqual(['Paris', 'Lyon', 'Paris', 'Lyon']);
    const picks = Array.from({ length: 1000 }, (_, i) => pick({ Restaurant: 3, '*': 1 }, i));
    const restaurants = picks.filter((p) => p === 'Restaurant').length;
    expect(restaurants).toBeGreaterThanOrEqual(740);
    expect(restaurants).toBeLessThanOrEqual(760);
  });
  it('"*" means no filter; a notification reaches subscriptions of its place and of every place', () => {
    const everywhere = subscriptionOf({ topics: ['partners'], cities: ['*'], categories: ['*'] }, 0);
    expect(everywhere).toEqual({ topic: 'partners', city: undefined, category: undefined });
    const lyon = subscriptionOf({ topics: ['partners'], cities: ['Lyon'], categories: ['Gym'] }, 0);
    expect(reaches(everywhere, ['partners'], { city: 'Paris', category: 'Restaurant' })).toBe(true);
    expect(reaches(lyon, ['partners'], { city: 'Paris', category: 'Gym' })).toBe(false);
    expect(reaches(lyon, ['partners'], { city: 'lyon', category: 'Gym' })).toBe(true);
    expect(reaches(lyon, ['cache_invalidation'], { city: 'Lyon', category: 'Gym' })).toBe(false);
  });
});

describe('thresholds', () => {
  it('compare named metrics; a latency nothing measured breaches, a counter that never moved is 0', () => {
    const outcomes = evaluateThresholds(
      [
        parseThreshold('delivered.ratio', '== 1'),
        parseThreshold('message.latency.p99', '< 2000'),
        parseThreshold('graphql.latency.p95', '< 100'),
        parseThreshold('management.post.410', '== 0'),
        parseThreshold('connect.failed.rate', '<= 0.01'),
      ],
      { 'delivered.ratio': 0.999, 'message.latency.p99': 1500, 'connect.failed.rate': 0.02 },
    );
    expect(outcomes.map((o) => [o.metric, o.ok, o.value])).toEqual([
      ['delivered.ratio', false, 0.999],
      ['message.latency.p99', true, 1500],
      ['graphql.latency.p95', false, undefined],
      ['management.post.410', true, 0],
      ['connect.failed.rate', false, 0.02],
    ]);
  });
  it('a malformed condition is an error that says what is expected', () => {
    expect(() => parseThreshold('message.latency.p99', 'fast')).toThrow(/expected a comparison such as "< 2000"/);
  });
});

describe('the load section in a scenario file', () => {
  const file = 'inline.yaml';
  const header = `name: x\nclients:\n  admin: { claims: { sub: a, role: admin } }\nsteps:\n  - sleep: 1ms\n`;
  it('is validated by its own schema piece, with the file position of each problem, before anything runs', () => {
    const text = `${header}load:\n  phases:\n    - { duration: 10s, arrivalRate: 5, rampTo: fast }\n  subscribe: { topics: [partners] }\n  notifications: { match: {}, topics: [partners] }\n  mutations: { as: nobody, rate: 1, count: 1, mix: { create: 1 }, operations: {} }\n`;
    let error: unknown;
    try {
      loadScenario(file, text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ScenarioFileError);
    const message = (error as Error).message;
    // The main schema embeds the section's piece: the problem is placed at the value, in the load section.
    expect(message).toMatch(/inline\.yaml:8:\d+: load\.phases\.0\.rampTo: expected number/); // rampTo: fast
    expect(message).toMatch(/inline\.yaml:\d+:\d+: unknown client "nobody"/);
  });
  it('thresholds must name a known metric and compare it', () => {
    const text = `${header}load:\n  phases: [{ duration: 1s, arrivalRate: 1 }]\n  subscribe: { topics: [partners] }\n  notifications: { match: {}, topics: [partners] }\n  thresholds:\n    message.latency.p42: "< 10"\n    delivered.ratio: "about 1"\n`;
    expect(() => loadScenario(file, text)).toThrow(/unknown metric "message\.latency\.p42"[\s\S]*threshold "about 1" on delivered\.ratio/);
  });
  it('a phase needs a rate or a count, and the mix needs its operations', () => {
    const text = `${header}load:\n  phases: [{ duration: 1s }]\n  subscribe: { topics: [partners] }\n  notifications: { match: {}, topics: [partners] }\n  mutations: { as: admin, rate: 1, count: 1, mix: { create: 1, delete: 1 }, operations: { create: { query: "m" } } }\n`;
    expect(() => loadScenario(file, text)).toThrow(/a phase needs arrivalRate[\s\S]*the mix has delete but operations has no delete/);
  });
  it('scales arrivals and mutation counts, never below one, and keeps rates of mutations, durations and quota', () => {
    const spec = parseLoad({
      phases: [
        { duration: '10s', arrivalRate: 100, rampTo: 500 },
        { duration: '1s', arrivalCount: 10 },
      ],
      maxConnectionsPerSecond: 500,
      subscribe: { topics: ['partners'] },
      notifications: { match: {}, topics: ['partners'] },
      mutations: { as: 'admin', rate: 200, count: 200, mix: { update: 1 }, operations: { update: { query: 'm' } } },
    });
    const small = scaleLoad(spec, 0.01);
    expect(small.phases).toEqual([
      { name: 'phase 1', durationMs: 10_000, arrivalRate: 1, rampTo: 5 },
      { name: 'phase 2', durationMs: 1000, arrivalCount: 1 },
    ]);
    expect(arrivalSchedule(small.phases)).toHaveLength(31);
    expect(small.mutations).toMatchObject({ rate: 200, count: 2 });
    expect(small.maxConnectionsPerSecond).toBe(500);
  });
});

describe('bounded concurrency', () => {
  it('never runs more than the limit at once, and runs everything', async () => {
    const limiter = createLimiter(3);
    let running = 0;
    let highest = 0;
    let done = 0;
    const tasks = Array.from({ length: 40 }, (_, i) =>
      limiter.run(async () => {
        running++;
        highest = Math.max(highest, running);
        // Tasks end in an order other than their start: a hand-over must not let a fourth one in.
        await new Promise((resolve) => setTimeout(resolve, (i * 7) % 5));
        running--;
        done++;
      }),
    );
    // Newcomers keep arriving while slots are handed over.
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      tasks.push(limiter.run(async () => void done++));
    }
    await Promise.all(tasks);
    expect(done).toBe(50);
    expect(highest).toBe(3);
    expect(limiter.peak).toBe(3);
  });
  it('refuses a limit that is not a positive integer', () => {
    expect(() => createLimiter(0)).toThrow(/positive integer/);
  });
});

describe('simulated connections in the emulated WebSocket API', () => {
  let emulator: Emulator;
  const secret = 'load-test-secret';
  beforeAll(async () => {
    emulator = await startEmulator({ projectRoot: root, environment: { JWT_SECRET: secret, LOG_LEVEL: 'WARN' }, latency: 'none' });
  });
  afterAll(() => emulator?.close());

  const tokenFor = (sub: string) => signDevelopmentToken({ sub, role: 'user' }, secret);
  const connect = async (token: string | undefined, frames: string[] = []) =>
    emulator.websocketApi.simulated.connect(
      { query: token ? `token=${token}` : '', headers: { 'User-Agent': 'load-test' } },
      { onFrame: (text) => frames.push(text) },
    );

  it('run $connect (a bad token is refused 401 and leaves nothing), $default (frames into memory) and $disconnect', async () => {
    expect(await connect('not-a-jwt')).toEqual({ ok: false, status: 401 });
    expect(emulator.websocketApi.connections.count()).toBe(0);
    const frames: string[] = [];
    const opened = await connect(await tokenFor('sim-1'), frames);
    if (!opened.ok) throw new Error(`refused ${opened.status}`);
    const id = opened.client.connectionId;
    expect(emulator.websocketApi.connections.get(id)).toMatchObject({ connectionId: id, userAgent: 'load-test' });
    await opened.client.send(JSON.stringify({ type: 'subscribe', data: { topics: ['partners'], city: 'Paris' } }));
    expect(frames.map((f) => JSON.parse(f).type)).toContain('subscribed');
    // The management API (the real SDK client, over HTTP) sees an open connection and posts into memory.
    const management = new ApiGatewayManagementApiClient({
      endpoint: emulator.managementUrl,
      region: 'eu-west-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    const posted = await management.send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from('hello') }));
    expect(posted.$metadata.httpStatusCode).toBe(200);
    expect(frames.at(-1)).toBe('hello');
    const table = emulator.app.tables.find((t) => t.logicalId === 'ConnectionsTable')!.TableName;
    const record = () =>
      emulator.dynamodb.client.send(
        new GetItemCommand({ TableName: table, Key: { pk: { S: `CONN#${id}` }, sk: { S: 'META' } }, ConsistentRead: true }),
      );
    expect((await record()).Item).toBeDefined();
    opened.client.close(1000);
    await new Promise((resolve) => setImmediate(resolve));
    await emulator.websocketApi.settled();
    expect(emulator.websocketApi.connections.get(id)).toBeUndefined();
    expect((await record()).Item).toBeUndefined();
  });

  it('the load connector reports an end the run did not ask for (a DELETE here, the idle timeout in a long set-up), never its own', async () => {
    const target = { name: 'in-process', tokenQueryParameter: 'token', insides: { simulatedConnections: emulator.websocketApi.simulated } };
    const connector = createConnector('simulated', target as unknown as ScenarioTarget);
    const management = new ApiGatewayManagementApiClient({
      endpoint: emulator.managementUrl,
      region: 'eu-west-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    const ends: Array<[string, number]> = [];
    const open = async (sub: string) => {
      const opened = await connector.open(
        await tokenFor(sub),
        'load-test',
        () => undefined,
        (code) => ends.push([sub, code]),
      );
      if (!opened.ok) throw new Error(`refused ${opened.reason}`);
      return opened.connection;
    };
    const ownEnd = await open('closer-own');
    const before = new Set(emulator.websocketApi.connections.list().map((c) => c.connectionId));
    const deleted = await open('closer-deleted');
    const deletedId = emulator.websocketApi.connections.list().find((c) => !before.has(c.connectionId))!.connectionId;
    ownEnd.close();
    await management.send(new DeleteConnectionCommand({ ConnectionId: deletedId }));
    await new Promise((resolve) => setImmediate(resolve));
    await emulator.websocketApi.settled();
    expect(ends).toEqual([['closer-deleted', 1000]]);
    deleted.close();
  });

  it('count against the new-connection quota, which a load run can relax', async () => {
    const tokens = await Promise.all([0, 1, 2, 3, 4].map((i) => tokenFor(`quota-${i}`)));
    emulator.websocketApi.setMaxConnectionsPerSecond(3);
    // All five in one tick: the bucket holds 3.
    const outcomes = await Promise.all(tokens.map((t) => connect(t)));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(3);
    expect(outcomes.filter((o) => !o.ok).map((o) => (o as { status: number }).status)).toEqual([429, 429]);
    emulator.websocketApi.setMaxConnectionsPerSecond(1000);
    const more = await Promise.all([0, 1, 2, 3, 4].map((i) => tokenFor(`relaxed-${i}`)));
    const relaxed = await Promise.all(more.map((t) => connect(t)));
    expect(relaxed.every((o) => o.ok)).toBe(true);
    expect(() => emulator.websocketApi.setMaxConnectionsPerSecond(0)).toThrow(/above 0/);
    for (const o of [...outcomes, ...relaxed]) if (o.ok) o.client.close();
    await new Promise((resolve) => setImmediate(resolve));
    await emulator.websocketApi.settled();
  });
});

describe('startEmulator websocketIdleTimeoutMs (for a bench whose set-up outlasts 10 minutes)', () => {
  it("keeps an idle connection past AWS's 10 minutes and closes it at the raised timeout, 1001 as AWS does", async () => {
    const secret = 'idle-test-secret';
    const clock = createClock();
    const emulator = await startEmulator({
      projectRoot: root,
      environment: { JWT_SECRET: secret, LOG_LEVEL: 'WARN' },
      latency: 'none',
      clock,
      websocketIdleTimeoutMs: 30 * 60_000,
    });
    try {
      const closes: number[] = [];
      const opened = await emulator.websocketApi.simulated.connect(
        { query: `token=${await signDevelopmentToken({ sub: 'idle-1', role: 'user' }, secret)}`, headers: {} },
        { onFrame: () => undefined, onClose: (code) => closes.push(code) },
      );
      if (!opened.ok) throw new Error(`refused ${opened.status}`);
      // The clock also follows real time: checks stay a margin away from the deadline.
      clock.advance(20 * 60_000);
      await new Promise((resolve) => setImmediate(resolve));
      expect(closes).toEqual([]);
      expect(emulator.websocketApi.connections.count()).toBe(1);
      clock.advance(10 * 60_000 + 1_000);
      await new Promise((resolve) => setImmediate(resolve));
      expect(closes).toEqual([1001]);
      await emulator.websocketApi.settled();
      expect(emulator.websocketApi.connections.count()).toBe(0);
    } finally {
      await emulator.close();
    }
  });
});

describe('load scenarios at CI size', () => {
  // 1 % of 10,000 and 50,000 connections, 2 % of the burst (20 subscribers, 4 updates) and of the aws fanout:
  // LOAD_SCALE overrides.
  const scales: Record<string, number> = {
    'connections-10000-mutations-100.yaml': 0.01,
    'connections-50000-city-wide.yaml': 0.005,
    'burst-200-updates-1000-subscribers.yaml': 0.02,
    // 200 subscribers under the 'aws' latency profile: the mutation answers within 1 s and everyone hears of it.
    'fanout-10000-aws.yaml': 0.02,
  };
  const targets = inProcessTargets({ projectRoot: root, size: 1 });
  afterAll(() => targets.close());
  for (const [name, defaultScale] of Object.entries(scales)) {
    it(name, { timeout: 300_000 }, async () => {
      const scale = process.env.LOAD_SCALE ? Number(process.env.LOAD_SCALE) : defaultScale;
      const scenario = loadScenario(`${root}scenarios/load/${name}`);
      const target = await targets.acquire();
      try {
        const result = await runScenario(scenario, target, { load: { scale, mode: 'simulated' } });
        const why = `${consoleLine(result)}\n${result.load ? summaryTable(result.load) : ''}`;
        expect(result.status, why).toBe('passed');
        const values = result.load!.metrics.values;
        // Every live connection got every notification its subscription matches, and something was measured.
        expect(values.expected, why).toBeGreaterThan(0);
        expect(values.delivered, why).toBe(values.expected);
        expect(values['connect.ok'], why).toBe(arrivalSchedule(scaleLoad(scenario.load!, scale).phases).length);
        expect(values['message.latency.count'], why).toBe(values.delivered);
        expect(result.load!.inFlight.handshakes.peak).toBeLessThanOrEqual(result.load!.inFlight.handshakes.limit);
        expect(result.load!.inFlight.mutations.peak).toBeLessThanOrEqual(result.load!.inFlight.mutations.limit);
      } finally {
        await target.release();
      }
    });
  }
});

describe('a load scenario runs alone', () => {
  it('after the other scenarios and one at a time, whatever --concurrency says (so does one with an slo block)', async () => {
    const inner = inProcessTargets({ projectRoot: root, size: 2 });
    let inUse = 0;
    let normalsDone = 0;
    const mostInUse = { normal: 0, load: 0 };
    let loadAcquisitions = 0;
    // The real in-process targets; the wrapper only counts how many are held at once, and in which phase.
    const targets: TargetFactory = {
      async acquire() {
        const target = await inner.acquire();
        inUse++;
        const phase = normalsDone === 2 ? 'load' : 'normal';
        if (phase === 'load') loadAcquisitions++;
        mostInUse[phase] = Math.max(mostInUse[phase], inUse);
        return {
          ...target,
          async release() {
            inUse--;
            await target.release();
          },
        };
      },
      close: () => inner.close(),
    };
    const load = `${root}scenarios/load/connections-10000-mutations-100.yaml`;
    const slo = `${root}scenarios/load/fanout-1000.yaml`;
    const normals = [`${root}scenarios/functional/ping-pong.yaml`, `${root}scenarios/functional/malformed-messages.yaml`];
    try {
      const summary = await runScenarios([load, ...normals, slo], {
        targets,
        concurrency: 4,
        load: { scale: 0.005 },
        onResult: (result) => {
          if (!result.load && !result.slo) normalsDone++;
        },
      });
      const why = summary.results.map((r) => r.failure ?? r.skipReason ?? '').join('\n');
      expect(summary.results.map((r) => `${r.status} ${r.load ? 'load' : r.slo ? 'slo' : 'functional'}`).sort(), why).toEqual([
        'passed functional',
        'passed functional',
        'passed load',
        'passed slo',
      ]);
      expect(mostInUse.normal).toBe(2);
      expect(loadAcquisitions).toBe(2);
      expect(mostInUse.load).toBe(1);
    } finally {
      await targets.close();
    }
  }, 120_000);
});
