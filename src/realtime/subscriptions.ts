import { placeKey } from '../partners/model.js';
import { distanceKm } from '../partners/geohash.js';

export const TOPICS = ['partners', 'partner_updates', 'cache_invalidation'] as const;
export type Topic = (typeof TOPICS)[number];

/** Topics whose subscribers receive partner_updated; cache_invalidation subscribers receive cache_invalidated. */
export const PARTNER_TOPICS: readonly Topic[] = ['partners', 'partner_updates'];
export const CACHE_TOPIC: Topic = 'cache_invalidation';

export const ANY = '*';

export interface Near {
  latitude: number;
  longitude: number;
  radiusKm: number;
}

/** What one subscribe message asks for. No city = everywhere; no categories = every category. */
export interface Subscription {
  topics: Topic[];
  city?: string;
  categories?: string[];
  near?: Near;
  /** One `notifications` frame per stream batch instead of one frame per notification. */
  batch?: boolean;
}

/** One stored row: the filter is in the key, so finding subscribers is an exact key lookup. */
export interface SubscriptionRow {
  topic: Topic;
  city: string; // placeKey or ANY
  category: string; // placeKey or ANY
  near?: Near;
  batch?: boolean;
  /** Epoch ms of the subscribe that wrote the row: changes committed before it are not notified to it. */
  subscribedAt?: number;
}

export const targetOf = (row: Pick<SubscriptionRow, 'topic' | 'city' | 'category'>): string => `${row.topic}#${row.city}#${row.category}`;

/**
 * Expands a subscription into rows, one per (topic, city or *, category or *). The cache topic ignores place:
 * every cache_invalidation subscriber gets every invalidation.
 */
export function subscriptionRows(subscription: Subscription): SubscriptionRow[] {
  const rows: SubscriptionRow[] = [];
  for (const topic of new Set(subscription.topics)) {
    if (topic === CACHE_TOPIC) {
      rows.push({ topic, city: ANY, category: ANY, ...(subscription.batch ? { batch: true } : {}) });
      continue;
    }
    const city = subscription.city ? placeKey(subscription.city) : ANY;
    const categories = subscription.categories?.length ? [...new Set(subscription.categories.map(placeKey))] : [ANY];
    for (const category of categories)
      rows.push({
        topic,
        city,
        category,
        ...(subscription.near ? { near: subscription.near } : {}),
        ...(subscription.batch ? { batch: true } : {}),
      });
  }
  return rows;
}

/** Where a partner is, as far as notification targeting is concerned. */
export interface PartnerPlace {
  city: string;
  category: string;
  latitude?: number;
  longitude?: number;
}

/**
 * The exact subscription targets a partner_updated notification about partners at `places` must reach: for each
 * partner topic, (city|*) × (category|*). At most four keys per topic and place; an update that moves a partner
 * notifies both its old and its new place.
 */
export function partnerTargets(places: readonly PartnerPlace[]): string[] {
  const targets = new Set<string>();
  for (const topic of PARTNER_TOPICS) {
    for (const place of places) {
      for (const city of [placeKey(place.city), ANY]) {
        for (const category of [placeKey(place.category), ANY]) targets.add(targetOf({ topic, city, category }));
      }
    }
  }
  return [...targets];
}

export const cacheTarget = (): string => targetOf({ topic: CACHE_TOPIC, city: ANY, category: ANY });

/** A row with a point and radius matches only partners inside that circle (checked after the key lookup). */
export function withinNear(near: Near | undefined, places: readonly PartnerPlace[]): boolean {
  if (!near) return true;
  return places.some(
    (p) =>
      p.latitude !== undefined &&
      p.longitude !== undefined &&
      distanceKm(near.latitude, near.longitude, p.latitude, p.longitude) <= near.radiusKm,
  );
}
