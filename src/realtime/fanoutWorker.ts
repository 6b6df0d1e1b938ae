import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Notifier } from './notifier.js';
import { decodeShard } from './fanoutQueue.js';

/**
 * Posts the shards an SQS batch holds. Posts that fail with a retryable error, and connections not reached before
 * the invocation's time is up, are re-queued by the notifier's `deliver` as a smaller shard, so the message itself
 * succeeds and nobody else in the shard gets a duplicate. A message that cannot be read, or whose re-queueing
 * fails, is reported as a batch item failure: SQS hands it back after its visibility timeout and its redrive
 * policy eventually moves it to the dead-letter queue.
 */
export async function handleFanoutShards(
  event: SQSEvent,
  deps: { notifier: Notifier; logger: Logger; shouldStop?: () => boolean },
): Promise<SQSBatchResponse> {
  const batchItemFailures: SQSBatchResponse['batchItemFailures'] = [];
  for (const record of event.Records) {
    try {
      const { deliveries, retry } = decodeShard(record.body);
      const sent = await deps.notifier.deliver(deliveries, deps.shouldStop);
      deps.logger.info('fanout shard sent', {
        messageId: record.messageId,
        retry,
        connections: deliveries.length,
        posts: sent.posts,
        delivered: sent.delivered.length,
        gone: sent.gone.length,
        failed: sent.failed.length,
        handedOver: sent.undelivered.length,
      });
    } catch (error) {
      deps.logger.error('fanout shard failed', { messageId: record.messageId, error: error as Error });
      batchItemFailures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures };
}
