/**
 * A load run's measurements: latencies in HDR histograms (hdr-histogram-js: constant memory whatever the count,
 * percentiles to 3 significant digits), counters by name, and deliveries per second. `snapshot()` flattens them into
 * the named metrics thresholds compare (`message.latency.p99`, `delivered.ratio`, …).
 */
import { build as buildHistogram, type Histogram } from 'hdr-histogram-js';

export const TREND_NAMES = ['message.latency', 'graphql.latency', 'connect.latency', 'subscribe.latency'] as const;
export type TrendName = (typeof TREND_NAMES)[number];

export interface HistogramBin {
  /** Upper bound of the bin, ms. */
  to: number;
  count: number;
}

export interface LoadMetrics {
  /** Named metrics, as thresholds see them. */
  values: Record<string, number>;
  /** The message latency distribution, for the report's histogram. */
  latencyBins: HistogramBin[];
  /** Frames delivered in each second from the first delivery (the notifications the run counts). */
  deliveriesPerSecond: number[];
}

export function createMetrics() {
  const trends = new Map<TrendName, Histogram>(
    TREND_NAMES.map((name) => [
      name,
      buildHistogram({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3 }),
    ]),
  );
  const counters = new Map<string, number>();
  const perSecond: number[] = [];
  let firstDeliveryAt: number | undefined;
  // Message latencies by whole millisecond, for the histogram picture (percentiles come from the HDR histogram).
  const messageByMs = new Map<number, number>();

  return {
    record(trend: TrendName, ms: number): void {
      // HDR histograms hold integers; sub-millisecond latencies count as 1 ms rather than being dropped.
      const value = Math.max(1, Math.round(ms));
      trends.get(trend)!.recordValue(value);
      if (trend === 'message.latency') messageByMs.set(value, (messageByMs.get(value) ?? 0) + 1);
    },
    count(name: string, by = 1): void {
      counters.set(name, (counters.get(name) ?? 0) + by);
    },
    get: (name: string): number => counters.get(name) ?? 0,
    /** A counted delivery at `at` (performance.now() ms). */
    delivered(at: number): void {
      firstDeliveryAt ??= at;
      const second = Math.floor((at - firstDeliveryAt) / 1000);
      while (perSecond.length <= second) perSecond.push(0);
      perSecond[second]++;
    },
    snapshot(): LoadMetrics {
      const values: Record<string, number> = Object.fromEntries(counters);
      for (const [name, h] of trends) {
        if (h.totalCount === 0) continue;
        values[`${name}.count`] = h.totalCount;
        values[`${name}.min`] = h.minNonZeroValue;
        values[`${name}.mean`] = Math.round(h.mean * 10) / 10;
        for (const [label, q] of [
          ['p50', 50],
          ['p90', 90],
          ['p95', 95],
          ['p99', 99],
          ['p999', 99.9],
        ] as const)
          values[`${name}.${label}`] = h.getValueAtPercentile(q);
        values[`${name}.max`] = h.maxValue;
      }
      return { values, latencyBins: bins(messageByMs), deliveriesPerSecond: [...perSecond] };
    },
    destroy(): void {
      for (const h of trends.values()) h.destroy();
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** 30 equal bins from 0 to the maximum, from the counts per whole millisecond (bounded by the largest latency). */
function bins(byMs: Map<number, number>, count = 30): HistogramBin[] {
  if (!byMs.size) return [];
  let max = 0;
  for (const ms of byMs.keys()) if (ms > max) max = ms;
  const width = Math.max(1, Math.ceil(max / count));
  const out: HistogramBin[] = Array.from({ length: count }, (_, i) => ({ to: (i + 1) * width, count: 0 }));
  for (const [ms, n] of byMs) out[Math.min(count - 1, Math.floor(ms / width))].count += n;
  return out;
}
