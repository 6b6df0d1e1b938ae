import type { Partner } from './model.js';

/**
 * Reading a partner item back from DynamoDB defensively. Items written before validation was complete (or by hand)
 * can hold a null or missing field; served as is, one such item fails a whole listing on GraphQL's non-null check.
 * What has a safe default is repaired (and the caller logs it); what has none makes the item unreadable (skipped).
 */
export type StoredReading = { partner: Partner; repairs: string[] } | { partner: undefined; problem: string };

const REQUIRED_TEXT = ['id', 'name', 'category', 'address', 'city', 'zipCode', 'phone', 'createdAt', 'updatedAt'] as const;
const OPTIONAL_TEXT = ['description', 'email', 'website'] as const;
const COORDINATES = [
  ['discount', 0, 100],
  ['latitude', -90, 90],
  ['longitude', -180, 180],
] as const;
/** Attributes kept beside a partner only so indexes can find it; never served. */
const INDEX_ATTRIBUTES = new Set(['cityKey', 'categoryKey', 'geohash', 'geoPartition']);

export function readStoredPartner(item: Record<string, unknown>): StoredReading {
  const partner: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(item)) if (!INDEX_ATTRIBUTES.has(key)) partner[key] = value;
  const repairs: string[] = [];
  for (const field of REQUIRED_TEXT) {
    const value = partner[field];
    if (typeof value !== 'string' || value.trim().length === 0)
      return { partner: undefined, problem: `${field} is ${JSON.stringify(value ?? null)}` };
  }
  for (const [field, min, max] of COORDINATES) {
    const value = partner[field];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      return { partner: undefined, problem: `${field} is ${JSON.stringify(value ?? null)}` };
    }
  }
  if (!Number.isInteger(partner.version) || (partner.version as number) < 1) {
    return { partner: undefined, problem: `version is ${JSON.stringify(partner.version ?? null)}` };
  }
  // Absent `active` means active at creation, so a null or non-boolean one reads as that default.
  if (typeof partner.active !== 'boolean') {
    repairs.push(`active ${JSON.stringify(partner.active ?? null)} → true`);
    partner.active = true;
  }
  for (const field of OPTIONAL_TEXT) {
    if (field in partner && typeof partner[field] !== 'string') {
      repairs.push(`${field} ${JSON.stringify(partner[field])} → absent`);
      delete partner[field];
    }
  }
  return { partner: partner as unknown as Partner, repairs };
}
