import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createApp } from '../app.js';
import { withMetrics } from '../observability/metrics.js';
import { withLogContext } from '../observability/logger.js';
import { handleFanoutShards } from '../realtime/fanoutWorker.js';

// Built once per container and reused by warm invocations.
const app = createApp();

/** Lambda entry for the fanout queue: posts one shard of a large fanout, or a retry of failed posts. */
// Log lines carry the invocation's request id (and route, connection id); metrics are flushed once per invocation.
export const handler = withLogContext(
  withMetrics(
    async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
      handleFanoutShards(event, {
        notifier: app.notifier,
        logger: app.logger,
        shouldStop: () => context.getRemainingTimeInMillis() < app.cfg.notify.stopMarginMs,
      }),
  ),
);
