import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { createApp } from '../app.js';
import { handleStreamBatch } from '../realtime/streamBatch.js';

// Built once per container and reused by warm invocations.
const app = createApp();

/** Lambda entry for the partners table's stream (event source mapping with ReportBatchItemFailures). */
export async function handler(event: DynamoDBStreamEvent, context: Context): Promise<DynamoDBBatchResponse> {
  return handleStreamBatch(event, {
    notifier: app.notifier,
    logger: app.logger,
    shouldStop: () => context.getRemainingTimeInMillis() < app.cfg.notify.stopMarginMs,
  });
}
