/**
 * Thresholds on named metrics, k6's idea with the aggregation in the name: `message.latency.p99: "< 2000"`,
 * `delivered.ratio: "== 1"`, `connect.failed.rate: "== 0"`, `management.post.410: "== 0"`. A breach fails the
 * scenario, hence the exit code.
 */

const AGGREGATES = ['min', 'mean', 'p50', 'p90', 'p95', 'p99', 'p999', 'max', 'count'];
const TRENDS = ['message.latency', 'graphql.latency', 'connect.latency', 'subscribe.latency'];
const SCALARS = [
  'connect.attempted',
  'connect.ok',
  'connect.failed',
  'connect.failed.rate',
  'subscribe.failed',
  'mutations.sent',
  'mutations.failed',
  'delivered',
  'expected',
  'delivered.ratio',
  'missing',
  'duplicates',
  'management.calls',
  'errors',
  'duration.s',
  'unexpected',
  'rss.peak.mb',
];
/** Families with a free last part: management.post.410, management.GET.200, errors.connect.429, errors.invoke.timeout… */
const FAMILIES = [/^management\.(post|get|delete)\.\d{3}$/, /^management\.(post|get|delete)$/, /^errors\.[a-z]+(\.[\w-]+)?$/];

export function isKnownMetric(name: string): boolean {
  if (SCALARS.includes(name)) return true;
  const trend = TRENDS.find((t) => name.startsWith(`${t}.`));
  if (trend) return AGGREGATES.includes(name.slice(trend.length + 1));
  return FAMILIES.some((f) => f.test(name));
}

export const knownMetricsHelp = `${TRENDS.map((t) => `${t}.{${AGGREGATES.join(',')}}`).join(', ')}, ${SCALARS.join(', ')}, management.{post,get,delete}[.<status>], errors.<kind>[.<detail>]`;

export type Comparator = '<' | '<=' | '>' | '>=' | '==' | '!=';

export interface Threshold {
  metric: string;
  comparator: Comparator;
  limit: number;
  /** As written, for messages. */
  source: string;
}

const CONDITION = /^\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$/;

export function parseThreshold(metric: string, condition: string): Threshold {
  const match = CONDITION.exec(condition);
  if (!match) throw new Error(`threshold "${condition}" on ${metric}: expected a comparison such as "< 2000", "== 1" or ">= 0.99"`);
  return { metric, comparator: match[1] as Comparator, limit: Number(match[2]), source: condition.trim() };
}

const holds = (value: number, t: Threshold): boolean =>
  ({
    '<': value < t.limit,
    '<=': value <= t.limit,
    '>': value > t.limit,
    '>=': value >= t.limit,
    '==': value === t.limit,
    '!=': value !== t.limit,
  })[t.comparator];

export interface ThresholdOutcome extends Threshold {
  /** Undefined when the run measured nothing for it (e.g. no message arrived): that is a breach. */
  value: number | undefined;
  ok: boolean;
  /** The target cannot observe this metric (management calls and invocations of a remote emulator): not checked. */
  unobservable?: true;
}

/** Metrics only the in-process emulator's event log can give (a remote target's management API is out of sight). */
export const insideOnly = (metric: string): boolean => /^(management\.|errors\.(invoke|management)\.)/.test(metric);

/**
 * Each threshold against the run's metrics. A counter of a family that never occurred (`management.post.410`) is 0;
 * a latency with no sample is not measured, which breaches: a threshold nothing could check must not pass.
 */
export function evaluateThresholds(
  thresholds: Threshold[],
  metrics: Record<string, number>,
  observable: (metric: string) => boolean = () => true,
): ThresholdOutcome[] {
  return thresholds.map((t) => {
    if (!observable(t.metric)) return { ...t, value: undefined, ok: false, unobservable: true };
    const isTrend = TRENDS.some((trend) => t.metric.startsWith(`${trend}.`));
    const value = t.metric in metrics ? metrics[t.metric] : isTrend ? undefined : 0;
    return { ...t, value, ok: value !== undefined && holds(value, t) };
  });
}
