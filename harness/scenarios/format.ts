/** The scenario file format, as TypeScript sees it after the loader has validated it against the JSON Schema. */

export type Pattern = unknown;

export interface ClientSpec {
  claims?: { sub: string; role?: string; [claim: string]: unknown };
  token?: string;
  count?: number;
}

export interface MessageExpectation {
  client: string;
  match: Pattern;
  within?: number | string;
  /** name: JSONPath into the matched frame (one client), usable in later steps as ${{ name }}. */
  capture?: Record<string, string>;
}
export interface NoMessageExpectation {
  client: string;
  match?: Pattern;
  during: number | string;
}
export interface CacheExpectation {
  keys: string[];
  mode?: 'exact' | 'containing';
  within?: number | string;
}
export interface ConnectionExpectation {
  client?: string;
  state?: 'present' | 'gone';
  count?: number;
  within?: number | string;
}
export interface ClosedExpectation {
  client: string;
  code?: number;
  within?: number | string;
}
/** A statistic (default sum) of a CloudWatch metric the functions emitted as EMF, over the series matching name/namespace/dimensions. */
export interface MetricExpectation {
  name: string;
  namespace?: string;
  dimensions?: Record<string, string>;
  statistic?: 'sum' | 'sampleCount' | 'min' | 'max' | 'average' | 'p50' | 'p90' | 'p99';
  atLeast?: number;
  atMost?: number;
  equals?: number;
  within?: number | string;
}
/** At least `count` (default 1) events of the emulator's log match the pattern (stream records, batches, queue moves…). */
export interface EventExpectation {
  match: Pattern;
  count?: number;
  within?: number | string;
}

export type Expectation =
  | { message: MessageExpectation }
  | { noMessage: NoMessageExpectation }
  | { cacheInvalidated: CacheExpectation }
  | { connection: ConnectionExpectation }
  | { closed: ClosedExpectation }
  | { event: EventExpectation };

export type Fault =
  | { postToConnection: { client: string; status: number; count?: number } }
  | { socketDies: { client: string; disconnectFails?: boolean } }
  | { dynamodbThrottle: { count: number; operation?: string } }
  | { lambdaTimeout: { function: string; count?: number; afterMs?: number | string; afterCalls?: number; service?: string } }
  | { dynamodbIndexLag: { ms: number | string } }
  | { streamRecordFails: { match: Pattern; description?: string } }
  | { coldStart: { function: string } };

export interface Step {
  name?: string;
  connect?: string | { client: string; expectStatus?: number };
  send?: { client: string; text?: string; json?: unknown; repeat?: number };
  subscribe?: { client: string; [field: string]: unknown };
  graphql?: {
    as?: string;
    query: string;
    variables?: Record<string, unknown>;
    expect?: { status?: number; data?: Pattern; errors?: Pattern };
    capture?: Record<string, string>;
  };
  expectMessage?: MessageExpectation;
  expectNoMessage?: NoMessageExpectation;
  expectCacheInvalidated?: CacheExpectation;
  expectConnection?: ConnectionExpectation;
  expectClosed?: ClosedExpectation;
  expectMetric?: MetricExpectation;
  expect?: Expectation[];
  fault?: Fault;
  advanceClock?: number | string;
  disconnect?: string | { client: string; code?: number; abrupt?: boolean };
  sleep?: number | string;
}

export const ACTIONS = [
  'connect',
  'send',
  'subscribe',
  'graphql',
  'expectMessage',
  'expectNoMessage',
  'expectCacheInvalidated',
  'expectConnection',
  'expectClosed',
  'expectMetric',
  'expect',
  'fault',
  'advanceClock',
  'disconnect',
  'sleep',
] as const;
export type Action = (typeof ACTIONS)[number];

export interface Scenario {
  file: string;
  name: string;
  description?: string;
  tags?: string[];
  vars?: Record<string, unknown>;
  /** Network-time profile for the scenario (harness/latency.ts); the target's own when absent. */
  latency?: 'none' | 'aws';
  clients: Record<string, ClientSpec>;
  slo?: { maxDurationMs?: number; p95MessageLatencyMs?: number; maxGraphqlMs?: number };
  steps: Step[];
  /** Where each step starts in the file, for messages that point at it. */
  stepLines: number[];
}

/** "250ms", "2s", "10m", "2h" or a number of milliseconds. */
export function toMs(value: number | string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value);
  if (!match) throw new Error(`Not a duration: "${value}" (use e.g. 500ms, 2s, 10m, 2h)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return Number(match[1]) * unit;
}

/** The step's single action key. */
export const actionOf = (step: Step): Action => ACTIONS.find((a) => a in step)!;
