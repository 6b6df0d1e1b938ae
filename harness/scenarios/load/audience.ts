/**
 * Who listens to what: each connection's subscription picked from the section's spreads, and which connections a
 * mutation's notification should reach. The audience model is the one of the subscribe protocol's place filter:
 * a topic, a city or none (every city), a category or none (every category).
 */
import type { Spread } from './format.js';

/** Spread value meaning "no filter" (no city: every city; no category: every category). */
export const ANY = '*';

/**
 * The i-th pick of a spread. A list is taken round-robin; weights give each value its share deterministically
 * (value v gets the picks where its cumulative share is crossed), so a run is reproducible and a 1 % run keeps the
 * proportions of the full one as well as its size allows.
 */
export function pick(spread: Spread, i: number): string {
  if (Array.isArray(spread)) return spread[i % spread.length];
  const entries = Object.entries(spread);
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  // Position of i inside one cycle of `total` picks, scaled so the cycle is as short as the weights allow.
  const position = ((i * 0.6180339887498949) % 1) * total; // golden-ratio sequence: well spread for any count
  let cumulative = 0;
  for (const [value, weight] of entries) {
    cumulative += weight;
    if (position < cumulative) return value;
  }
  return entries[entries.length - 1][0];
}

export interface Subscription {
  topic: string;
  city: string | undefined;
  category: string | undefined;
}

export function subscriptionOf(spreads: { topics: Spread; cities?: Spread; categories?: Spread }, i: number): Subscription {
  const city = spreads.cities ? pick(spreads.cities, i) : ANY;
  const category = spreads.categories ? pick(spreads.categories, i) : ANY;
  return { topic: pick(spreads.topics, i), city: city === ANY ? undefined : city, category: category === ANY ? undefined : category };
}

/** The subscribe message's fields for a subscription (topics, city, categories). */
export function subscribeFields(s: Subscription): Record<string, unknown> {
  return { topics: [s.topic], ...(s.city ? { city: s.city } : {}), ...(s.category ? { categories: [s.category] } : {}) };
}

/** Whether a notification about an entity at (city, category) on one of `topics` reaches this subscription. */
export function reaches(s: Subscription, topics: string[], place: { city: string; category: string }): boolean {
  return (
    topics.includes(s.topic) &&
    (s.city === undefined || s.city.toLowerCase() === place.city.toLowerCase()) &&
    (s.category === undefined || s.category.toLowerCase() === place.category.toLowerCase())
  );
}
