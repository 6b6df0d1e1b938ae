import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import type { Notifier } from './notifier.js';
import { partnerChangeOf, StreamRecordError, type PartnerChange } from './streamChanges.js';

/**
 * One stream batch: read every record, then notify once for the whole batch. A record that cannot be read is
 * reported by sequence number (ReportBatchItemFailures): the mapping checkpoints before it and retries from it, so
 * only the records before it are handled now (the ones after would be retried anyway, and handled twice). Anything
 * else that fails (cache, subscriber lookup, queue) throws: the whole batch is retried, clients drop duplicates by
 * eventId.
 */
export async function handleStreamBatch(
  event: DynamoDBStreamEvent,
  deps: { notifier: Notifier; logger: Logger; shouldStop?: () => boolean },
): Promise<DynamoDBBatchResponse> {
  const changes: PartnerChange[] = [];
  let failed: string | undefined;
  for (const record of event.Records) {
    try {
      const change = partnerChangeOf(record);
      if (change) changes.push(change);
    } catch (error) {
      if (!(error instanceof StreamRecordError)) throw error;
      deps.logger.error('unreadable stream record', {
        eventID: record.eventID,
        sequenceNumber: record.dynamodb?.SequenceNumber,
        error: error.message,
      });
      failed = record.dynamodb?.SequenceNumber ?? '';
      break;
    }
  }
  if (changes.length) await deps.notifier.notifyChanges(changes, deps.shouldStop);
  return { batchItemFailures: failed === undefined ? [] : [{ itemIdentifier: failed }] };
}
