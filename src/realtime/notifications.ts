import type { Partner } from '../partners/model.js';

/**
 * The messages clients receive. Shapes are a public interface (the seed's contract): fields may be added, never
 * removed or changed. `eventId` (added) is the stream record's eventID: delivery is at least once, so a client drops
 * a notification whose eventId it has already seen.
 */
export type Notification =
  | {
      type: 'partner_updated';
      action: 'created';
      partnerId: string;
      data: { id: string; name: string; category: string; city: string; discount: number };
      timestamp: string;
      eventId?: string;
    }
  | {
      type: 'partner_updated';
      action: 'updated';
      partnerId: string;
      data: { id: string; changes: string[]; updatedAt: string };
      timestamp: string;
      eventId?: string;
    }
  | { type: 'partner_updated'; action: 'deleted'; partnerId: string; timestamp: string; eventId?: string }
  | { type: 'cache_invalidated'; keys: string[]; timestamp: string; eventId?: string; eventIds?: string[] };

/** What a `"batch": true` subscriber receives instead: a stream batch's notifications in one frame (or a few, each under 128 KB). */
export interface NotificationsFrame {
  type: 'notifications';
  notifications: Notification[];
  /** 1-based part and part count when one batch needed several frames. */
  part: number;
  parts: number;
  timestamp: string;
}

export function partnerCreated(partner: Partner, timestamp: string, eventId?: string): Notification {
  const { id, name, category, city, discount } = partner;
  return {
    type: 'partner_updated',
    action: 'created',
    partnerId: id,
    data: { id, name, category, city, discount },
    timestamp,
    ...(eventId ? { eventId } : {}),
  };
}

export function partnerUpdated(partner: Partner, changes: string[], timestamp: string, eventId?: string): Notification {
  return {
    type: 'partner_updated',
    action: 'updated',
    partnerId: partner.id,
    data: { id: partner.id, changes, updatedAt: partner.updatedAt },
    timestamp,
    ...(eventId ? { eventId } : {}),
  };
}

export function partnerDeleted(partnerId: string, timestamp: string, eventId?: string): Notification {
  return { type: 'partner_updated', action: 'deleted', partnerId, timestamp, ...(eventId ? { eventId } : {}) };
}

export function cacheInvalidated(keys: string[], timestamp: string, eventIds: string[] = []): Notification {
  return {
    type: 'cache_invalidated',
    keys,
    timestamp,
    ...(eventIds.length === 1 ? { eventId: eventIds[0] } : eventIds.length ? { eventId: batchEventId(eventIds), eventIds } : {}),
  };
}

/**
 * The eventId of a notification merging several stream records: stable for the same records, so the same batch
 * delivered twice (a retry) carries the same id.
 */
export function batchEventId(eventIds: readonly string[]): string {
  // FNV-1a over the sorted ids, twice with different seeds: short, stable, no crypto import in the hot path.
  const text = [...eventIds].sort().join(',');
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ text.length;
  for (let i = 0; i < text.length; i++) {
    a = Math.imul(a ^ text.charCodeAt(i), 0x01000193) >>> 0;
    b = Math.imul(b ^ text.charCodeAt(i), 0x5bd1e995) >>> 0;
  }
  return `batch-${a.toString(16).padStart(8, '0')}${b.toString(16).padStart(8, '0')}`;
}

/** API Gateway's limit on a message to a client (and on postToConnection's Data). */
export const MAX_MESSAGE_BYTES = 128 * 1024;

/**
 * Packs notifications into `notifications` frames, each under the 128 KB message limit, keeping their order.
 * One notification larger than a frame on its own goes alone in its frame (it would be refused anyway; it is logged).
 */
export function packFrames(notifications: readonly Notification[], timestamp: string, limit = MAX_MESSAGE_BYTES - 1): string[] {
  const envelope = (items: readonly string[], part: number, parts: number): string =>
    `{"type":"notifications","notifications":[${items.join(',')}],"part":${part},"parts":${parts},"timestamp":${JSON.stringify(timestamp)}}`;
  // Room for the envelope with generous part numbers.
  const overhead = Buffer.byteLength(envelope([], 99999, 99999));
  const groups: string[][] = [[]];
  let size = overhead;
  for (const notification of notifications) {
    const text = JSON.stringify(notification);
    const bytes = Buffer.byteLength(text) + 1;
    const current = groups[groups.length - 1];
    if (current.length && size + bytes > limit) {
      groups.push([text]);
      size = overhead + bytes;
    } else {
      current.push(text);
      size += bytes;
    }
  }
  return groups.map((items, i) => envelope(items, i + 1, groups.length));
}
