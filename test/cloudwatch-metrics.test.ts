/**
 * CloudWatch metrics, end to end: the EMF reader follows AWS's specification (and reads what Powertools Metrics
 * writes); a real scenario on the emulator (PerkUp's handlers, dynalite, real sockets) produces EMF lines whose
 * metrics say what happened; the emulator serves them as JSON and as Prometheus text (parsed by an independent
 * parser); `expectMetric` fails when the metric is not there; `npm run emulate` shows a metrics line.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import parsePrometheus from 'parse-prometheus-text-format';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { looksLikeEmf, parseEmf, type MetricDatum } from '../harness/cloudwatch/emf.js';
import { createMetricsStore, metricsJson } from '../harness/cloudwatch/metrics.js';
import { Registry } from 'prom-client';
import { metricsPrometheus, PROMETHEUS_CONTENT_TYPE } from '../harness/cloudwatch/prometheus.js';
import { loadScenario } from '../harness/scenarios/loader.js';
import { runScenario, type ScenarioResult } from '../harness/scenarios/runner.js';
import { inProcessTargets, type ScenarioTarget, type TargetFactory } from '../harness/scenarios/target.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';
import { startEmulateProcess } from './helpers/emulateProcess.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** An EMF document with one directive; `extra` overrides or adds root members. */
function emf(directive: Record<string, unknown>, extra: Record<string, unknown>, aws: Record<string, unknown> = {}) {
  return { _aws: { Timestamp: 1_764_000_000_000, CloudWatchMetrics: [directive], ...aws }, ...extra };
}
const counted = (dimensions: string[][] = [['service']]) => ({
  Namespace: 'PerkUp',
  Dimensions: dimensions,
  Metrics: [{ Name: 'NotificationsSent', Unit: 'Count' }],
});

describe("EMF, as AWS's specification reads it", () => {
  it("reads what Powertools Metrics writes: namespace, the service dimension, units, a metric's values array", () => {
    const metrics = new Metrics({ namespace: 'PerkUp', serviceName: 'perkup-test' });
    metrics.addMetric('NotificationsSent', MetricUnit.Count, 2);
    metrics.addMetric('NotificationsSent', MetricUnit.Count, 3);
    metrics.addMetric('FanoutDuration', MetricUnit.Milliseconds, 12.5);
    const document = metrics.serializeMetrics();
    expect(looksLikeEmf(document)).toBe(true);
    const parsed = parseEmf(document);
    expect(parsed.ok).toBe(true);
    const data = (parsed as { data: MetricDatum[] }).data;
    expect(data.map(({ timestamp: _t, ...d }) => d)).toEqual([
      {
        namespace: 'PerkUp',
        name: 'NotificationsSent',
        unit: 'Count',
        storageResolution: 60,
        dimensions: { service: 'perkup-test' },
        values: [2, 3],
      },
      {
        namespace: 'PerkUp',
        name: 'FanoutDuration',
        unit: 'Milliseconds',
        storageResolution: 60,
        dimensions: { service: 'perkup-test' },
        values: [12.5],
      },
    ]);
  });

  it('makes one metric per DimensionSet, with the same values; no DimensionSet is one metric without dimensions', () => {
    const parsed = parseEmf(emf(counted([['service'], ['service', 'kind'], []]), { service: 's', kind: 'create', NotificationsSent: 4 }));
    expect(parsed.ok && parsed.data.map((d) => [d.dimensions, d.values])).toEqual([
      [{ service: 's' }, [4]],
      [{ service: 's', kind: 'create' }, [4]],
      [{}, [4]],
    ]);
    const none = parseEmf(emf({ Namespace: 'N', Dimensions: [], Metrics: [{ Name: 'M' }] }, { M: 1 }));
    expect(none.ok && none.data.map((d) => [d.dimensions, d.unit])).toEqual([[{}, 'None']]);
  });

  it('refuses, saying why, what CloudWatch would extract no metric from', () => {
    const cases: Array<[unknown, string]> = [
      [{ _aws: { CloudWatchMetrics: [counted()] }, service: 's', NotificationsSent: 1 }, '_aws.Timestamp must be a number'],
      [emf(counted(), { service: 's', NotificationsSent: 1 }, { CloudWatchMetrics: {} }), 'must be an array of MetricDirectives'],
      [emf({ ...counted(), Namespace: '' }, { service: 's', NotificationsSent: 1 }), 'Namespace must be a string'],
      [emf(counted(), { NotificationsSent: 1 }), 'dimension service must be a non-empty string member'],
      [emf(counted(), { service: 7, NotificationsSent: 1 }), 'dimension service must be a non-empty string member'],
      [emf(counted(), { service: 's' }), 'metric NotificationsSent has no root member'],
      [emf(counted(), { service: 's', NotificationsSent: '3' }), '"3" is not a number'],
      [emf(counted(), { service: 's', NotificationsSent: Array.from({ length: 101 }, () => 1) }), '101 values, over the limit of 100'],
      [
        emf({ ...counted(), Metrics: [{ Name: 'NotificationsSent', Unit: 'Things' }] }, { service: 's', NotificationsSent: 1 }),
        'not a CloudWatch unit',
      ],
      [
        emf({ ...counted(), Metrics: [{ Name: 'NotificationsSent', StorageResolution: 30 }] }, { service: 's', NotificationsSent: 1 }),
        'StorageResolution must be 1 or 60',
      ],
      [
        emf(counted([Array.from({ length: 31 }, (_, i) => `d${i}`)]), {
          ...Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`d${i}`, 'v'])),
          NotificationsSent: 1,
        }),
        '31 dimensions, over the limit of 30',
      ],
    ];
    for (const [document, reason] of cases) {
      const parsed = parseEmf(document);
      expect(parsed.ok, reason).toBe(false);
      expect((parsed as { error: string }).error, JSON.stringify(document).slice(0, 200)).toContain(reason);
    }
  });

  it('the store ignores lines that are not EMF and records refused documents without any metric from them', async () => {
    const store = createMetricsStore({ now: () => 42 });
    expect(store.ingest('graphql', '{"level":"INFO","message":"connected"}')).toBe(false);
    expect(store.ingest('graphql', 'plain text with "_aws" in it')).toBe(false);
    expect(store.ingest('notifier', JSON.stringify(emf(counted(), { NotificationsSent: 1 })))).toBe(true);
    expect(store.series()).toEqual([]);
    expect(metricsJson(store)).toEqual({
      documents: 1,
      series: [],
      rejected: [{ functionName: 'notifier', error: expect.stringContaining('dimension service'), time: 42 }],
    });
    expect(await metricsPrometheus(store)).toBe('\n');
  });
});

/** The EMF documents among a scenario's log events, read back as CloudWatch would. */
function emfData(result: ScenarioResult): Array<MetricDatum & { functionName: string }> {
  return result.events.flatMap((event) => {
    if (event.kind !== 'log' || !looksLikeEmf(event.data)) return [];
    // An EMF line has no level or message: its fields are all in `data`, as printed.
    const parsed = parseEmf(event.data);
    if (!parsed.ok) throw new Error(`${event.functionName} printed EMF CloudWatch would refuse: ${parsed.error}`);
    return parsed.data.map((d) => ({ ...d, functionName: event.functionName }));
  });
}

describe('metrics from a real scenario on the emulator', () => {
  let targets: TargetFactory;
  let target: ScenarioTarget;
  let result: ScenarioResult;
  let metricsUrl: string;

  beforeAll(async () => {
    targets = inProcessTargets({ projectRoot: root, size: 1 });
    target = await targets.acquire();
    metricsUrl = new URL('/_emulator/metrics', target.graphqlUrl).toString();
    result = await runScenario(loadScenario(`${root}/scenarios/functional/metrics-emitted.yaml`), target);
  }, 120_000);
  afterAll(async () => {
    await target?.release();
    await targets?.close();
  });

  it('the scenario passes, its expectMetric steps included', () => {
    expect(result.failure).toBeUndefined();
    expect(result.status).toBe('passed');
    expect(result.steps.filter((s) => s.action === 'expectMetric').map((s) => s.status)).toEqual(Array(5).fill('passed'));
  });

  it("the handlers' EMF lines say what happened, each from the function that did it", () => {
    const data = emfData(result);
    const sum = (name: string, where: (d: MetricDatum) => boolean = () => true) =>
      data.filter((d) => d.name === name && where(d)).reduce((n, d) => n + d.values.reduce((a, b) => a + b, 0), 0);
    const from = (name: string) => [...new Set(data.filter((d) => d.name === name).map((d) => d.functionName))];
    // Namespace and service come from serverless.yml (custom.metrics.namespace, perkup-<stage>).
    expect(new Set(data.map((d) => d.namespace))).toEqual(new Set(['PerkUp']));
    for (const d of data) expect(d.dimensions.service, d.name).toBe('perkup-dev');
    expect(sum('ConnectionsOpened')).toBe(2);
    expect(from('ConnectionsOpened')).toEqual(['websocket']);
    expect(sum('Mutations', (d) => d.dimensions.kind === 'create')).toBe(1);
    expect(sum('Mutations', (d) => d.dimensions.kind !== 'create')).toBe(0);
    expect(from('Mutations')).toEqual(['graphql']);
    // Both subscribers heard of the partner: two connections notified, none gone, none failed.
    expect(sum('NotificationsSent')).toBeGreaterThanOrEqual(2);
    expect(sum('NotificationsGone')).toBe(0);
    expect(sum('NotificationsFailed')).toBe(0);
    expect(from('NotificationsSent')).toEqual(['notifier']);
    const durations = data.filter((d) => d.name === 'FanoutDuration');
    expect(durations.length).toBeGreaterThanOrEqual(1);
    for (const d of durations) {
      expect(d.unit).toBe('Milliseconds');
      for (const v of d.values) expect(v).toBeGreaterThanOrEqual(0);
    }
  });

  it('GET /_emulator/metrics answers the same series as JSON', async () => {
    const response = await fetch(metricsUrl);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const body = (await response.json()) as {
      series: Array<{
        namespace: string;
        name: string;
        dimensions: Record<string, string>;
        sum: number;
        sampleCount: number;
        functions: string[];
      }>;
    };
    const find = (name: string, dimensions: Record<string, string> = { service: 'perkup-dev' }) =>
      body.series.find((s) => s.name === name && JSON.stringify(s.dimensions) === JSON.stringify(dimensions));
    expect(find('ConnectionsOpened')).toMatchObject({ namespace: 'PerkUp', sum: 2, functions: ['websocket'] });
    expect(find('Mutations', { service: 'perkup-dev', kind: 'create' })).toMatchObject({ sum: 1, sampleCount: 1, functions: ['graphql'] });
    expect(find('NotificationsSent')?.sum).toBe(
      emfData(result)
        .filter((d) => d.name === 'NotificationsSent')
        .reduce((n, d) => n + d.values.reduce((a, b) => a + b, 0), 0),
    );
    expect(find('FanoutDuration')?.sampleCount).toBeGreaterThanOrEqual(1);
  });

  it('GET /_emulator/metrics?format=prometheus (or Accept: text/plain) answers the Prometheus text format', async () => {
    const byQuery = await fetch(`${metricsUrl}?format=prometheus`);
    const byAccept = await fetch(metricsUrl, { headers: { accept: 'text/plain' } });
    for (const response of [byQuery, byAccept]) {
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    }
    // The emulator names the content type without loading prom-client: the same as prom-client's.
    expect(PROMETHEUS_CONTENT_TYPE).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
    const text = await byQuery.text();
    expect(await byAccept.text()).toBe(text);
    // An independent parser (it throws on a line that breaks the format).
    const families = parsePrometheus(text);
    const family = (name: string) => families.find((f) => f.name === name);
    expect(family('perkup_connections_opened_total')).toMatchObject({
      type: 'COUNTER',
      metrics: [{ value: '2', labels: { service: 'perkup-dev' } }],
    });
    expect(family('perkup_mutations_total')).toMatchObject({
      type: 'COUNTER',
      metrics: [{ value: '1', labels: { service: 'perkup-dev', kind: 'create' } }],
    });
    expect(Number(family('perkup_notifications_sent_total')?.metrics[0].value)).toBeGreaterThanOrEqual(2);
    expect(family('perkup_fanout_duration_milliseconds')?.type).toBe('SUMMARY');
    // The parser keeps only the quantiles of a labelled summary: its _count and _sum lines are read here.
    const count = /^perkup_fanout_duration_milliseconds_count\{service="perkup-dev"\} (\d+)$/m.exec(text);
    expect(Number(count?.[1])).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^perkup_fanout_duration_milliseconds\{quantile="0\.99",service="perkup-dev"\} \d+(\.\d+)?$/m);
  });

  it('refuses a format it does not know, with a clear error', async () => {
    const response = await fetch(`${metricsUrl}?format=xml`);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ message: 'format must be json or prometheus, got "xml"' });
  });
});

describe('expectMetric', () => {
  it('fails when the metric does not reach the value, saying what it saw', async () => {
    const targets = inProcessTargets({ projectRoot: root, size: 1 });
    const target = await targets.acquire();
    try {
      const scenario = loadScenario(
        'inline.yaml',
        'name: too many\nclients:\n  a: { claims: { sub: a, role: user } }\nsteps:\n  - connect: a\n' +
          '  - expectMetric: { name: ConnectionsOpened, atLeast: 1 }\n' +
          '  - expectMetric: { name: ConnectionsOpened, atLeast: 5, within: 300ms }\n',
      );
      const result = await runScenario(scenario, target);
      expect(result.status).toBe('failed');
      expect(result.steps.map((s) => s.status)).toEqual(['passed', 'passed', 'failed']);
      expect(result.failure).toContain('expected sum of ConnectionsOpened ≥ 5, got 1');
      expect(result.failure).toContain('PerkUp/ConnectionsOpened {service=perkup-dev} sum 1');
    } finally {
      await target.release();
      await targets.close();
    }
  }, 60_000);

  it('is refused without a bound, or with an unknown statistic', () => {
    const base = 'name: x\nclients:\n  a: {}\nsteps:\n  - connect: a\n';
    expect(() => loadScenario('x.yaml', `${base}  - expectMetric: { name: ConnectionsOpened }\n`)).toThrow(/expectMetric/);
    expect(() => loadScenario('x.yaml', `${base}  - expectMetric: { name: ConnectionsOpened, statistic: p42, atLeast: 1 }\n`)).toThrow(
      /statistic/,
    );
  });
});

describe('npm run emulate', () => {
  it('prints a compact metrics line when functions emitted metrics, and serves them on its HTTP port', async () => {
    const JWT_SECRET = 'metrics-cli-secret';
    const emulate = await startEmulateProcess(['--latency', 'none'], { JWT_SECRET });
    let socket: WebSocket | undefined;
    try {
      expect(emulate.output()).toMatch(/Metrics\s+http:\/\/127\.0\.0\.1:\d+\/_emulator\/metrics/);
      const token = await signDevelopmentToken({ sub: 'metrics-cli', role: 'user' }, JWT_SECRET);
      socket = new WebSocket(`${emulate.wsUrl}?token=${token}`);
      await new Promise<void>((resolve, reject) => {
        socket!.once('open', () => resolve());
        socket!.once('error', reject);
      });
      // The line comes with the next tick of its timer (every 5 s) after the $connect's EMF line.
      const deadline = Date.now() + 25_000;
      while (!/📈 metrics .*ConnectionsOpened 1\b/.test(emulate.output()) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(emulate.output()).toMatch(/📈 metrics ConnectionsOpened 1 {2}\(http:\/\/127\.0\.0\.1:\d+\/_emulator\/metrics\)/);
      const text = await (await fetch(`${emulate.httpUrl}/_emulator/metrics`, { headers: { accept: 'text/plain' } })).text();
      expect(parsePrometheus(text).find((f) => f.name === 'perkup_connections_opened_total')?.metrics).toEqual([
        { value: '1', labels: { service: 'perkup-dev' } },
      ]);
    } finally {
      socket?.close();
      await emulate.stop();
    }
  }, 60_000);
});
