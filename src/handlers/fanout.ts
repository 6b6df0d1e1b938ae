import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createApp } from '../app.js';
import { handleFanoutShards } from '../realtime/fanoutWorker.js';

// Built once per container and reused by warm invocations.
const app = createApp();

/** Lambda entry for the fanout queue: posts one shard of a large fanout, or a retry of failed posts. */
export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  return handleFanoutShards(event, {
    notifier: app.notifier,
    logger: app.logger,
    shouldStop: () => context.getRemainingTimeInMillis() < app.cfg.notify.stopMarginMs,
  });
}
