import { placeKey } from '../partners/model.js';

/** The part of a partner that decides which cached reads it appears in. */
export interface CachePlacement {
  id: string;
  city: string;
  category: string;
}

export const ALL_PARTNERS = 'all_partners';
export const partnerKey = (id: string): string => `partner:${id}`;
export const cityKey = (city: string): string => `city:${placeKey(city)}`;
export const categoryKey = (category: string): string => `category:${placeKey(category)}`;

/**
 * The cache keys a change to a partner invalidates: the partner itself, the full listing, and its category and city
 * before and after (a partner moving from Paris to Lyon leaves both lists stale). Keys come first as the seed's
 * contract writes them, with the category and city AS STORED (`category:Restaurant`, `city:Paris`). Listing reads
 * are cached under a case- and accent-insensitive key (`partners(category: "restaurant")` and `"Restaurant"` are
 * one query of the byCategory index, so one cache entry), so when that spelling differs it is invalidated too and
 * listed after the seed's keys. Order is stable and keys are unique, so notifications and logs read the same every time.
 */
export function invalidatedKeys(before: CachePlacement | undefined, after: CachePlacement | undefined): string[] {
  const placements = [before, after].filter((p): p is CachePlacement => p !== undefined);
  const keys = new Set<string>();
  for (const p of placements) keys.add(partnerKey(p.id));
  keys.add(ALL_PARTNERS);
  for (const p of placements) keys.add(`category:${p.category}`);
  for (const p of placements) keys.add(`city:${p.city}`);
  for (const p of placements) keys.add(categoryKey(p.category));
  for (const p of placements) keys.add(cityKey(p.city));
  return [...keys];
}

/**
 * Which key a listing read is cached under: the narrowest key every change that could alter the result invalidates.
 * A city+category listing lives under the city key, because any partner entering or leaving it has that city
 * before or after the change.
 */
export function listingKey(query: { city?: string; category?: string }): string {
  if (query.city !== undefined) return cityKey(query.city);
  if (query.category !== undefined) return categoryKey(query.category);
  return ALL_PARTNERS;
}
