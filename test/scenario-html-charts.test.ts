/** The load-run charts of the HTML report, from results shaped as the runner returns them. */
import { describe, expect, it } from 'vitest';
import { deliveriesPerSecond, latencyHistogram } from '../harness/scenarios/html/charts.js';
import type { ScenarioResult } from '../harness/scenarios/runner.js';
import type { LoggedEvent } from '../harness/eventLog.js';

const result = (latencies: number[], deliveredAt: number[]): ScenarioResult => ({
  file: 'load.yaml',
  name: 'load',
  target: 'in-process',
  status: 'passed',
  durationMs: 1,
  steps: [],
  sloBreaches: [],
  messageLatenciesMs: latencies,
  events: deliveredAt.map((time, i): LoggedEvent => ({ kind: 'delivered', connectionId: `c${i}`, data: '{}', seq: i + 1, time })),
  connections: {},
});
const rects = (svg: string): number[] => [...svg.matchAll(/<title>[^:]+: (\d+)<\/title>/g)].map((m) => Number(m[1]));

describe('latency histogram', () => {
  it('counts every measured message in 30 bins and marks p50, p95 and p99', () => {
    const latencies = Array.from({ length: 100 }, (_, i) => i * 10); // 0 … 990 ms
    const svg = latencyHistogram(result(latencies, []));
    expect(rects(svg)).toHaveLength(30);
    expect(rects(svg).reduce((a, b) => a + b, 0)).toBe(100);
    expect(svg).toContain('message latency, n=100');
    expect(svg).toMatch(/p50 49\d ms/);
    expect(svg).toMatch(/p95 9[45]\d ms/);
    expect(svg).toMatch(/p99 98\d ms/);
  });

  it('nothing for a run with fewer than 20 measured messages', () => {
    expect(latencyHistogram(result([1, 2, 3], []))).toBe('');
  });
});

describe('deliveries per second', () => {
  it('one bar per second of the run, counting the frames delivered in it', () => {
    const t0 = 1_700_000_000_000;
    const times = [...Array.from({ length: 30 }, (_, i) => t0 + i * 10), ...Array.from({ length: 5 }, (_, i) => t0 + 2_000 + i)];
    const svg = deliveriesPerSecond(result([], times));
    expect(rects(svg)).toEqual([30, 0, 5]);
    expect(svg).toContain('deliveries per second, 35 frames');
  });

  it('nothing for a run with fewer than 20 deliveries', () => {
    expect(deliveriesPerSecond(result([], [1, 2]))).toBe('');
  });
});
