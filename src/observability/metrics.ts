import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/**
 * The application's CloudWatch metrics, written as Embedded Metric Format (EMF) log lines by Powertools Metrics:
 * CloudWatch Logs extracts them from the functions' logs, so publishing costs no API call and no latency.
 * Namespace and service (the `service` dimension every metric carries) come from POWERTOOLS_METRICS_NAMESPACE and
 * POWERTOOLS_SERVICE_NAME, which serverless.yml sets; the dashboard and alarms there name these same metrics
 * (test/package-contract.test.ts checks they match).
 */

/** Every metric the code emits, by name. */
export const METRIC = {
  /** Connections that received every notification meant for them (one per connection and delivery round). */
  notificationsSent: 'NotificationsSent',
  /** Connections whose post answered 410 Gone: the client left without a $disconnect; its records are deleted. */
  notificationsGone: 'NotificationsGone',
  /** Connections whose post failed after the sender's retries (re-queued when the failure is retryable). */
  notificationsFailed: 'NotificationsFailed',
  /** Time to post one round of deliveries (the notifier's small audiences, or one shard of a large one). */
  fanoutDuration: 'FanoutDuration',
  connectionsOpened: 'ConnectionsOpened',
  connectionsClosed: 'ConnectionsClosed',
  /** Committed partner mutations, with a `kind` dimension: create, update or delete. */
  mutations: 'Mutations',
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];
export const METRIC_NAMES: readonly MetricName[] = Object.values(METRIC);

export type MutationKind = 'create' | 'update' | 'delete';

/** What the application records; handlers flush it once per invocation. Optional in the modules' deps (tests). */
export interface AppMetrics {
  count(name: MetricName, value?: number): void;
  durationMs(name: MetricName, ms: number): void;
  mutation(kind: MutationKind): void;
}

// One buffer per container, as Powertools intends: handlers add to it and `flushMetrics` writes it once per invocation.
const metrics = new Metrics({
  // Fallbacks for code run outside a function (tests, tools); serverless.yml sets both variables on every function.
  namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'PerkUp',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'perkup',
});

export const appMetrics: AppMetrics = {
  count: (name, value = 1) => metrics.addMetric(name, MetricUnit.Count, value),
  durationMs: (name, ms) => metrics.addMetric(name, MetricUnit.Milliseconds, ms),
  mutation(kind) {
    // A dimension other than the buffer's: its own EMF line, written at once (Powertools' single metric).
    const single = metrics.singleMetric();
    single.addDimension('kind', kind);
    single.addMetric(METRIC.mutations, MetricUnit.Count, 1);
  },
};

/**
 * Writes the invocation's metrics as one EMF line. Nothing is written when nothing was recorded (Powertools would
 * otherwise warn on every GraphQL query and ping).
 */
export function flushMetrics(): void {
  if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
}

/**
 * Wraps a Lambda handler so its metrics are flushed when it returns or throws (Powertools' logMetrics, without Middy).
 * The wrapper is async: Lambda takes its promise (a handler typed as possibly callback-style, like Apollo's, returns one).
 */
export function withMetrics<A extends unknown[], R>(handler: (...args: A) => R | Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    try {
      return await handler(...args);
    } finally {
      flushMetrics();
    }
  };
}
