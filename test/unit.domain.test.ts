import { describe, expect, it } from 'vitest';
import { invalidatedKeys, listingKey } from '../src/cache/cacheKeys.js';
import { partnerTargets, subscriptionRows } from '../src/realtime/subscriptions.js';
import { distanceKm, encodeGeohash, geohashWithNeighbours, precisionForRadius } from '../src/partners/geohash.js';
import { parseClientMessage } from '../src/realtime/clientMessages.js';
import { readConfig } from '../src/config/env.js';

describe('cacheKeys', () => {
  it("a create invalidates the seed's keys as it writes them (category as stored), then the listings' case-insensitive spellings", () => {
    expect(invalidatedKeys(undefined, { id: 'p1', city: 'Paris', category: 'Restaurant' })).toEqual([
      'partner:p1',
      'all_partners',
      'category:Restaurant',
      'city:Paris',
      'category:restaurant',
      'city:paris',
    ]);
  });
  it('a spelling that is already the listing key is not repeated', () => {
    expect(invalidatedKeys(undefined, { id: 'p1', city: 'lyon', category: 'bar' })).toEqual([
      'partner:p1',
      'all_partners',
      'category:bar',
      'city:lyon',
    ]);
  });
  it('a category and city change invalidates old and new', () => {
    expect(invalidatedKeys({ id: 'p1', city: 'Paris', category: 'Bar' }, { id: 'p1', city: 'Lyon', category: 'Café' })).toEqual([
      'partner:p1',
      'all_partners',
      'category:Bar',
      'category:Café',
      'city:Paris',
      'city:Lyon',
      'category:bar',
      'category:cafe',
      'city:paris',
      'city:lyon',
    ]);
  });
  it('listings are cached under the narrowest key every relevant change invalidates', () => {
    expect(listingKey({ city: 'Paris', category: 'Bar' })).toBe('city:paris');
    expect(listingKey({ category: 'Bar' })).toBe('category:bar');
    expect(listingKey({})).toBe('all_partners');
  });
});

describe('subscriptions', () => {
  it('expands to one row per topic × city|* × category|*; the cache topic ignores place', () => {
    expect(subscriptionRows({ topics: ['partners', 'cache_invalidation'], city: 'Paris', categories: ['Restaurant', 'Bar'] })).toEqual([
      { topic: 'partners', city: 'paris', category: 'restaurant' },
      { topic: 'partners', city: 'paris', category: 'bar' },
      { topic: 'cache_invalidation', city: '*', category: '*' },
    ]);
  });
  it('a partner reaches at most four exact targets per topic and place', () => {
    expect(partnerTargets([{ city: 'Paris', category: 'Restaurant' }])).toEqual([
      'partners#paris#restaurant',
      'partners#paris#*',
      'partners#*#restaurant',
      'partners#*#*',
      'partner_updates#paris#restaurant',
      'partner_updates#paris#*',
      'partner_updates#*#restaurant',
      'partner_updates#*#*',
    ]);
  });
});

describe('geohash', () => {
  it('encodes a known point', () => {
    expect(encodeGeohash(57.64911, 10.40744, 11)).toBe('u4pruydqqvj');
  });
  it('neighbours cover the circle at the chosen precision', () => {
    const precision = precisionForRadius(5, 48.85);
    const cells = geohashWithNeighbours(encodeGeohash(48.85, 2.35, precision));
    expect(cells).toHaveLength(9);
    const east = encodeGeohash(48.85, 2.35 + 0.06, precision); // ~4.4 km east
    expect(cells).toContain(east);
  });
  it('distance Paris → Lyon ≈ 392 km', () => {
    expect(distanceKm(48.8566, 2.3522, 45.764, 4.8357)).toBeGreaterThan(385);
    expect(distanceKm(48.8566, 2.3522, 45.764, 4.8357)).toBeLessThan(400);
  });
});

describe('client messages', () => {
  it('parses a full subscribe', () => {
    expect(parseClientMessage('{"type":"subscribe","data":{"topics":["partners"],"city":" Paris ","categories":["Bar"]}}')).toEqual({
      type: 'subscribe',
      subscription: { topics: ['partners'], city: 'Paris', categories: ['Bar'] },
    });
  });
});

describe('configuration', () => {
  it('names the missing variable', () => {
    expect(() => readConfig({ JWT_SECRET: 'x' })).toThrow('Environment variable PARTNERS_TABLE is required');
  });
  it('needs a way to verify tokens', () => {
    expect(() => readConfig({ PARTNERS_TABLE: 'a', WEBSOCKET_CONNECTIONS_TABLE: 'b', CACHE_TABLE: 'c' })).toThrow(/JWT_SECRET/);
  });
  it('refuses a non-numeric tuning value', () => {
    expect(() =>
      readConfig({ PARTNERS_TABLE: 'a', WEBSOCKET_CONNECTIONS_TABLE: 'b', CACHE_TABLE: 'c', JWT_SECRET: 's', NOTIFY_CONCURRENCY: 'lots' }),
    ).toThrow('NOTIFY_CONCURRENCY must be a positive integer, got "lots"');
  });
});
