/**
 * The compact metrics line `npm run emulate` prints every few seconds when a function emitted metrics since the
 * last one: each metric's total (a Count's sum; otherwise its p99 and sample count), split by the dimensions that
 * tell its series apart, and the EMF documents CloudWatch would refuse.
 */
import { statisticsOf, type MetricSeries, type MetricsStore } from '../cloudwatch/metrics.js';

const UNIT_SHORT: Record<string, string> = { Milliseconds: 'ms', Seconds: 's', Microseconds: 'µs', Bytes: 'B', Percent: '%' };

const round = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(1));

function total(series: readonly MetricSeries[]): string {
  const stats = statisticsOf(series);
  const unit = series[0].unit;
  if (unit === 'Count' || unit === 'None') return round(stats.sum ?? 0);
  return `p99 ${round(stats.p99 ?? stats.max ?? 0)}${UNIT_SHORT[unit] ? ` ${UNIT_SHORT[unit]}` : ` ${unit}`} (n=${stats.sampleCount})`;
}

export function metricsLine(store: MetricsStore): string | undefined {
  const byName = new Map<string, MetricSeries[]>();
  for (const s of store.series()) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const parts = [...byName].map(([name, series]) => {
    // Dimensions every series of the metric shares (e.g. service) say nothing here; the others split it.
    const varying = [...new Set(series.flatMap((s) => Object.keys(s.dimensions)))].filter(
      (k) => new Set(series.map((s) => s.dimensions[k])).size > 1,
    );
    const split =
      varying.length && series.length > 1
        ? ` (${series.map((s) => `${varying.map((k) => s.dimensions[k] ?? '-').join('/')} ${total([s])}`).join(', ')})`
        : '';
    return `${name} ${total(series)}${split}`;
  });
  const refused = store.rejections();
  if (refused.length)
    parts.push(`⚠ ${refused.length} EMF line(s) refused, last: ${refused.at(-1)!.functionName}: ${refused.at(-1)!.error}`);
  return parts.length ? `metrics ${parts.join(' · ')}` : undefined;
}
