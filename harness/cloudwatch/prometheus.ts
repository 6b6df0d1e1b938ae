/**
 * The collected CloudWatch series in the Prometheus text exposition format (`GET /_emulator/metrics?format=prometheus`),
 * rendered by prom-client so names, labels and escaping follow the format. Names: `<namespace>_<metric>`, lower-case,
 * the metric's name in snake case (PerkUp/NotificationsSent → perkup_notifications_sent_total); a `Count` metric is a counter (`…_total`, the sum of its values), any other unit a summary (quantiles 0.5,
 * 0.9, 0.99 over the values kept, `_sum`, `_count`) named with its unit. Dimensions become labels.
 */
import type { MetricSeries, MetricsStore } from './metrics.js';

/** `PerkUp` → `perkup`, `NotificationsSent` → `notifications_sent`, anything outside [a-zA-Z0-9_] → `_`. */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^a-zA-Z0-9_]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toLowerCase();
}

const unitSuffix = (unit: string): string => (unit === 'None' ? '' : `_${snakeCase(unit.replace('/', '_per_'))}`);

/** The Prometheus name of a CloudWatch metric; a label name from a dimension name. */
export function prometheusName(series: Pick<MetricSeries, 'namespace' | 'name' | 'unit'>): string {
  // A namespace is a product or service name (PerkUp, AWS/Lambda): lower-cased whole, not split into words.
  const namespace = series.namespace.replace(/[^a-zA-Z0-9]+/g, '_').toLowerCase();
  const base = `${namespace}_${snakeCase(series.name)}`;
  const name = series.unit === 'Count' ? `${base}_total` : `${base}${unitSuffix(series.unit)}`;
  return /^[a-zA-Z_]/.test(name) ? name : `_${name}`;
}
const labelName = (dimension: string): string => {
  const name = dimension.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[a-zA-Z_]/.test(name) ? name : `_${name}`;
};

/** prom-client's Registry.PROMETHEUS_CONTENT_TYPE (text format 0.0.4), known without loading it (a test checks they agree). */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export async function metricsPrometheus(store: MetricsStore): Promise<string> {
  // prom-client (80-odd modules) loads on the first scrape, not with the emulator: start-up does not need it.
  const { Counter, Gauge, Registry, Summary } = await import('prom-client');
  const registry = new Registry();
  const byName = new Map<string, MetricSeries[]>();
  for (const s of store.series()) {
    const name = prometheusName(s);
    byName.set(name, [...(byName.get(name) ?? []), s]);
  }
  for (const [name, group] of byName) {
    const labelNames = [...new Set(group.flatMap((s) => Object.keys(s.dimensions).map(labelName)))];
    const help = `CloudWatch metric ${group[0].namespace}/${group[0].name} (${group[0].unit}), from the functions' EMF log lines`;
    const labelsOf = (s: MetricSeries) => Object.fromEntries(Object.entries(s.dimensions).map(([k, v]) => [labelName(k), v]));
    if (group[0].unit === 'Count' && group.every((s) => s.min >= 0)) {
      const counter = new Counter({ name, help, labelNames, registers: [registry] });
      for (const s of group) counter.inc(labelsOf(s), s.sum);
    } else if (group[0].unit === 'Count') {
      // A counter cannot go down; a count with negative values (an adjustment) is shown as its running sum.
      const gauge = new Gauge({ name: name.replace(/_total$/, ''), help, labelNames, registers: [registry] });
      for (const s of group) gauge.set(labelsOf(s), s.sum);
    } else {
      const summary = new Summary({ name, help, labelNames, percentiles: [0.5, 0.9, 0.99], registers: [registry] });
      for (const s of group) for (const value of s.values) summary.observe(labelsOf(s), value);
    }
  }
  return registry.metrics();
}
