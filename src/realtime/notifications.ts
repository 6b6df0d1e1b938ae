import type { Partner } from '../partners/model.js';

/** The messages clients receive. Shapes are a public interface: fields may be added, never removed. */
export type Notification =
  | { type: 'partner_updated'; action: 'created'; partnerId: string; data: { id: string; name: string; category: string; city: string; discount: number }; timestamp: string }
  | { type: 'partner_updated'; action: 'updated'; partnerId: string; data: { id: string; changes: string[]; updatedAt: string }; timestamp: string }
  | { type: 'partner_updated'; action: 'deleted'; partnerId: string; timestamp: string }
  | { type: 'cache_invalidated'; keys: string[]; timestamp: string };

export function partnerCreated(partner: Partner, timestamp: string): Notification {
  const { id, name, category, city, discount } = partner;
  return { type: 'partner_updated', action: 'created', partnerId: id, data: { id, name, category, city, discount }, timestamp };
}

export function partnerUpdated(partner: Partner, changes: string[], timestamp: string): Notification {
  return { type: 'partner_updated', action: 'updated', partnerId: partner.id, data: { id: partner.id, changes, updatedAt: partner.updatedAt }, timestamp };
}

export function partnerDeleted(partnerId: string, timestamp: string): Notification {
  return { type: 'partner_updated', action: 'deleted', partnerId, timestamp };
}

export function cacheInvalidated(keys: string[], timestamp: string): Notification {
  return { type: 'cache_invalidated', keys, timestamp };
}
