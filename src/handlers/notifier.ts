import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { createApp } from '../app.js';
import { withMetrics } from '../observability/metrics.js';
import { withLogContext } from '../observability/logger.js';
import { handleStreamBatch } from '../realtime/streamBatch.js';

// Built once per container and reused by warm invocations.
const app = createApp();

/** Lambda entry for the partners table's stream (event source mapping with ReportBatchItemFailures). */
// Log lines carry the invocation's request id (and route, connection id); metrics are flushed once per invocation.
export const handler = withLogContext(
  withMetrics(
    async (event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> =>
      handleStreamBatch(event, {
        notifier: app.notifier,
        logger: app.logger,
        shouldStop: () => context.getRemainingTimeInMillis() < app.cfg.notify.stopMarginMs,
      }),
  ),
);
