/**
 * CloudWatch Metrics, locally: collects the EMF documents functions print (harness/cloudwatch/emf.ts reads them) and
 * keeps one series per namespace, metric name and dimensions, as CloudWatch identifies a metric. What it serves is
 * what CloudWatch would extract from the same log lines; unlike CloudWatch it does not bucket by minute (a series
 * is the whole run, or the scenario, since `clear`) and its percentiles are exact over the values it kept.
 */
import { looksLikeEmf, parseEmf, type MetricDatum } from './emf.js';

/** Values of a non-count series kept for percentiles; past it the oldest are dropped (sum and count stay exact). */
const KEPT_VALUES = 100_000;
/** Refused documents kept for the JSON view. */
const KEPT_REJECTIONS = 50;

export interface MetricSeries {
  namespace: string;
  name: string;
  unit: string;
  dimensions: Record<string, string>;
  /** CloudWatch's SampleCount, Sum, Minimum, Maximum. */
  sampleCount: number;
  sum: number;
  min: number;
  max: number;
  /** Functions whose log lines carried it (not a CloudWatch dimension: the log group is). */
  functions: string[];
  lastTimestamp: number;
  /** Values for percentiles (Count series keep none: their sum is what is read). */
  values: number[];
}

export type Statistic = 'sum' | 'sampleCount' | 'min' | 'max' | 'average' | 'p50' | 'p90' | 'p99';
export const STATISTICS: readonly Statistic[] = ['sum', 'sampleCount', 'min', 'max', 'average', 'p50', 'p90', 'p99'];

export interface MetricQuery {
  name: string;
  namespace?: string;
  /** The series' dimensions include these (others may be there too): CloudWatch's search, not its exact match. */
  dimensions?: Record<string, string>;
}

export interface Rejection {
  functionName: string;
  error: string;
  time: number;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number | undefined {
  if (!sorted.length) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const keyOf = (d: Pick<MetricDatum, 'namespace' | 'name' | 'dimensions'>): string =>
  JSON.stringify([d.namespace, d.name, Object.entries(d.dimensions).sort(([a], [b]) => (a < b ? -1 : 1))]);

/** Statistics of one series, or of several series merged (a query that matches more than one set of dimensions). */
export function statisticsOf(series: readonly MetricSeries[]): Record<Statistic, number | undefined> {
  const sampleCount = series.reduce((n, s) => n + s.sampleCount, 0);
  const sum = series.reduce((n, s) => n + s.sum, 0);
  const sorted = series.flatMap((s) => s.values).sort((a, b) => a - b);
  const none = sampleCount === 0;
  return {
    sum,
    sampleCount,
    min: none ? undefined : Math.min(...series.map((s) => s.min)),
    max: none ? undefined : Math.max(...series.map((s) => s.max)),
    average: none ? undefined : sum / sampleCount,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
  };
}

export function createMetricsStore(options: { now?: () => number } = {}) {
  const now = options.now ?? Date.now;
  const series = new Map<string, MetricSeries>();
  let rejections: Rejection[] = [];
  let documents = 0;
  /** Bumped by every change, so a watcher (the CLI's metrics line) knows whether to print. */
  let version = 0;

  function add(functionName: string, datum: MetricDatum): void {
    const key = keyOf(datum);
    let s = series.get(key);
    if (!s) {
      s = {
        namespace: datum.namespace,
        name: datum.name,
        unit: datum.unit,
        dimensions: datum.dimensions,
        sampleCount: 0,
        sum: 0,
        min: Number.POSITIVE_INFINITY,
        max: Number.NEGATIVE_INFINITY,
        functions: [],
        lastTimestamp: datum.timestamp,
        values: [],
      };
      series.set(key, s);
    }
    for (const value of datum.values) {
      s.sampleCount++;
      s.sum += value;
      s.min = Math.min(s.min, value);
      s.max = Math.max(s.max, value);
      if (datum.unit !== 'Count') s.values.push(value);
    }
    if (s.values.length > KEPT_VALUES) s.values.splice(0, s.values.length - KEPT_VALUES);
    s.lastTimestamp = Math.max(s.lastTimestamp, datum.timestamp);
    if (!s.functions.includes(functionName)) s.functions.push(functionName);
  }

  return {
    /**
     * One line a function printed: an EMF document becomes metrics (or a rejection saying why CloudWatch would
     * extract none); any other line is ignored. Answers whether the line was EMF.
     */
    ingest(functionName: string, line: string): boolean {
      if (!line.includes('"_aws"')) return false;
      let document: unknown;
      try {
        document = JSON.parse(line);
      } catch {
        return false;
      }
      if (!looksLikeEmf(document)) return false;
      const result = parseEmf(document);
      documents++;
      version++;
      if (!result.ok) {
        rejections.push({ functionName, error: result.error, time: now() });
        if (rejections.length > KEPT_REJECTIONS) rejections = rejections.slice(-KEPT_REJECTIONS);
        return true;
      }
      for (const datum of result.data) add(functionName, datum);
      return true;
    },
    series: (): MetricSeries[] => [...series.values()],
    /** The series a query matches (any dimensions that include the query's). */
    find(query: MetricQuery): MetricSeries[] {
      return [...series.values()].filter(
        (s) =>
          s.name === query.name &&
          (query.namespace === undefined || s.namespace === query.namespace) &&
          Object.entries(query.dimensions ?? {}).every(([k, v]) => s.dimensions[k] === v),
      );
    },
    rejections: (): readonly Rejection[] => rejections,
    get documents(): number {
      return documents;
    },
    get version(): number {
      return version;
    },
    clear(): void {
      series.clear();
      rejections = [];
      documents = 0;
      version++;
    },
  };
}

export type MetricsStore = ReturnType<typeof createMetricsStore>;

/** The JSON view `GET /_emulator/metrics` answers: every series with its statistics, and refused documents. */
export function metricsJson(store: MetricsStore) {
  return {
    documents: store.documents,
    series: store.series().map((s) => {
      const { values: _kept, ...series } = s;
      const { average, p50, p90, p99 } = statisticsOf([s]);
      return { ...series, average, p50, p90, p99 };
    }),
    rejected: store.rejections(),
  };
}
