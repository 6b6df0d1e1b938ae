import type { AttributeValue, DynamoDBRecord } from 'aws-lambda';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue as SdkAttributeValue } from '@aws-sdk/client-dynamodb';
import { changedFields, EDITABLE_FIELDS, type Partner } from '../partners/model.js';
import type { PartnerEvent } from './notifier.js';

/** A committed change to a partner, read from the partners table's stream, with the record's identity. */
export interface PartnerChange {
  /** The stream record's eventID: the same on every delivery of the record, so clients can drop duplicates. */
  eventId: string;
  sequenceNumber: string;
  event: PartnerEvent;
  /**
   * When the change was committed, in epoch ms, at the latest: the partner's updatedAt for a create or update; for a
   * delete the end of the record's ApproximateCreationDateTime second (whole seconds only, so rounded up).
   */
  committedBy: number;
}

export class StreamRecordError extends Error {
  override name = 'StreamRecordError';
}

const PARTNER_FIELDS = new Set<string>([...EDITABLE_FIELDS, 'id', 'version', 'createdAt', 'updatedAt']);

/** A stored item as a Partner: the index-only attributes (cityKey, geohash…) are not part of it. */
function partnerOf(image: Record<string, AttributeValue> | undefined, which: string): Partner {
  if (!image) throw new StreamRecordError(`the record has no ${which} (the stream must be NEW_AND_OLD_IMAGES)`);
  const item = unmarshall(image as Record<string, SdkAttributeValue>);
  if (typeof item.id !== 'string' || typeof item.city !== 'string' || typeof item.category !== 'string') {
    throw new StreamRecordError(`the ${which} is not a partner (id, city and category are required)`);
  }
  return Object.fromEntries(Object.entries(item).filter(([k]) => PARTNER_FIELDS.has(k))) as unknown as Partner;
}

/**
 * The partner change a stream record describes, or undefined when it changes nothing a client sees (a write that
 * only touched index attributes). Throws StreamRecordError for a record it cannot read.
 */
export function partnerChangeOf(record: DynamoDBRecord): PartnerChange | undefined {
  const eventId = record.eventID;
  const sequenceNumber = record.dynamodb?.SequenceNumber;
  if (!eventId || !sequenceNumber) throw new StreamRecordError('a stream record needs an eventID and a dynamodb.SequenceNumber');
  const images = record.dynamodb!;
  const approximate = ((images.ApproximateCreationDateTime ?? Date.now() / 1000) + 1) * 1000;
  const committedBy = (partner: Partner): number => Date.parse(partner.updatedAt) || approximate;
  switch (record.eventName) {
    case 'INSERT': {
      const partner = partnerOf(images.NewImage, 'NewImage');
      return { eventId, sequenceNumber, committedBy: committedBy(partner), event: { action: 'created', partner } };
    }
    case 'REMOVE':
      return {
        eventId,
        sequenceNumber,
        committedBy: approximate,
        event: { action: 'deleted', partner: partnerOf(images.OldImage, 'OldImage') },
      };
    case 'MODIFY': {
      const before = partnerOf(images.OldImage, 'OldImage');
      const after = partnerOf(images.NewImage, 'NewImage');
      const changes = changedFields(before, after);
      return changes.length
        ? { eventId, sequenceNumber, committedBy: committedBy(after), event: { action: 'updated', before, after, changes } }
        : undefined;
    }
    default:
      throw new StreamRecordError(`unknown eventName ${JSON.stringify(record.eventName)}`);
  }
}
