import type { Logger } from '@aws-lambda-powertools/logger';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import { changedFields, placeKey, type EditableField, type Partner, type PartnerInput, type PartnerUpdate } from './model.js';
import { distanceKm, encodeGeohash, geohashWithNeighbours, precisionForRadius } from './geohash.js';
import { readStoredPartner } from './storedPartner.js';

/** Two writers raced and the caller asked for a specific version: nothing was written. */
export class VersionConflictError extends Error {
  override name = 'VersionConflictError';
  constructor(
    readonly id: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`Partner ${id} is at version ${actual}, not ${expected}: reload it and apply your change again`);
  }
}

export class InvalidPageTokenError extends Error {
  override name = 'InvalidPageTokenError';
}

/** A proximity query would read more items than the bound: the caller should narrow it. */
export class TooManyItemsError extends Error {
  override name = 'TooManyItemsError';
}

export interface PartnerChange {
  before: Partner;
  after: Partner;
  changes: EditableField[];
}

export interface ListQuery {
  city?: string;
  category?: string;
  limit: number;
  nextToken?: string;
}

export interface PartnerPage {
  items: Partner[];
  nextToken: string | undefined;
}

/** Attributes kept beside a partner only so indexes can find it; never served. */
interface IndexKeys {
  cityKey: string;
  categoryKey: string;
  geohash: string;
  geoPartition: string;
}
type StoredPartner = Partner & IndexKeys;

const GEOHASH_PRECISION = 9;
const GEO_PARTITION_PRECISION = 3;
const UPDATE_ATTEMPTS = 5;

function toStored(partner: Partner): StoredPartner {
  const geohash = encodeGeohash(partner.latitude, partner.longitude, GEOHASH_PRECISION);
  return {
    ...partner,
    cityKey: placeKey(partner.city),
    categoryKey: placeKey(partner.category),
    geohash,
    geoPartition: geohash.slice(0, GEO_PARTITION_PRECISION),
  };
}

function encodePageToken(key: Record<string, unknown> | undefined): string | undefined {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;
}

/** Longer than any token this API returns (a key of three short strings), short enough to be a cache sort key. */
const MAX_PAGE_TOKEN_LENGTH = 1024;

/**
 * A page token back into a start key, checked against the key schema of the access path and the query's own
 * partition: a token that decodes but was not made for this listing would otherwise reach DynamoDB, whose
 * ValidationException surfaced as an internal error.
 */
function decodePageToken(token: string | undefined, expected: Record<string, string | undefined>): Record<string, unknown> | undefined {
  if (!token) return undefined;
  const refused = new InvalidPageTokenError('nextToken is not a token this API returned for this listing');
  if (token.length > MAX_PAGE_TOKEN_LENGTH) throw refused;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw refused;
  }
  if (!key || typeof key !== 'object' || Array.isArray(key)) throw refused;
  const entries = Object.entries(key);
  const names = Object.keys(expected);
  if (entries.length !== names.length) throw refused;
  for (const [name, value] of entries) {
    if (!names.includes(name) || typeof value !== 'string' || value.length === 0 || value.length > 512) throw refused;
    const required = expected[name];
    if (required !== undefined && value !== required) throw refused;
  }
  return key as Record<string, unknown>;
}

const isValidationError = (error: unknown): boolean => (error as { name?: string }).name === 'ValidationException';

/** Default bound on items one proximity query reads: about 2 MB of partners, a few hundred ms of Query pages. */
export const DEFAULT_NEAR_MAX_ITEMS = 2000;

export function createPartnerRepository(
  db: DynamoDBDocumentClient,
  table: string,
  options: { now?: () => Date; logger?: Logger; nearMaxItems?: number } = {},
) {
  const now = options.now ?? (() => new Date());
  const nearMaxItems = options.nearMaxItems ?? DEFAULT_NEAR_MAX_ITEMS;

  /** A stored item as a Partner: repaired where a safe default exists, else undefined; both logged with the id. */
  function fromStored(item: Record<string, unknown>): Partner | undefined {
    const reading = readStoredPartner(item);
    if (!reading.partner) {
      options.logger?.error('stored partner unreadable, skipped', { id: item.id, problem: reading.problem });
      return undefined;
    }
    if (reading.repairs.length)
      options.logger?.warn('stored partner repaired on read', { id: reading.partner.id, repairs: reading.repairs });
    return reading.partner;
  }
  const readable = (items: Record<string, unknown>[]): Partner[] => items.map(fromStored).filter((p): p is Partner => p !== undefined);

  async function get(id: string): Promise<Partner | undefined> {
    const { Item } = await db.send(new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true }));
    return Item ? fromStored(Item) : undefined;
  }

  /** `id` is given by an idempotent create (the id its idempotency record reserved); the put never overwrites. */
  async function create(input: PartnerInput, id: string = randomUUID()): Promise<Partner> {
    const timestamp = now().toISOString();
    const partner: Partner = { active: true, ...input, id, version: 1, createdAt: timestamp, updatedAt: timestamp };
    await db.send(new PutCommand({ TableName: table, Item: toStored(partner), ConditionExpression: 'attribute_not_exists(id)' }));
    return partner;
  }

  /**
   * Applies `patch` so that no concurrent update is lost. Without `expectedVersion` the patch is one atomic UpdateItem
   * (SET the patched fields and their index keys, ADD 1 to version): DynamoDB serialises concurrent updates, every one
   * lands, and ALL_OLD gives exactly the state it applied to. A patch of one coordinate alone computes the geohash
   * with the other, stored coordinate and is conditional on that one not having changed (re-read and retried if it
   * did). An update with `expectedVersion` is a read then a write conditional on that version, refused with
   * VersionConflictError when it no longer matches. Returns undefined when the partner does not exist.
   */
  async function update(id: string, patch: PartnerUpdate, expectedVersion?: number): Promise<PartnerChange | undefined> {
    let current = await get(id);
    if (expectedVersion !== undefined) return conditionalUpdate(id, patch, expectedVersion, current);
    for (let attempt = 1; current; attempt++) {
      if (changedFields(current, merge(current, patch)).length === 0) return { before: current, after: current, changes: [] };
      const other =
        'latitude' in patch && !('longitude' in patch)
          ? 'longitude'
          : 'longitude' in patch && !('latitude' in patch)
            ? 'latitude'
            : undefined;
      const complete = other ? { ...patch, [other]: current[other] } : patch;
      const guard = other ? { field: other, value: current[other] } : undefined;
      try {
        return await atomicUpdate(id, patch, complete, guard);
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= UPDATE_ATTEMPTS) throw error;
        current = await get(id); // the other coordinate moved (or the partner went): look again
      }
    }
    return undefined;
  }

  function merge(before: Partner, patch: PartnerUpdate): Partner {
    const merged: Partner = { ...before, ...patch } as Partner;
    for (const key of Object.keys(patch) as EditableField[]) if (patch[key] === undefined) delete merged[key];
    return merged;
  }

  /** `complete` adds to `patch` what the index keys need; `guard` is a stored value the write is conditional on. */
  async function atomicUpdate(
    id: string,
    patch: PartnerUpdate,
    complete: PartnerUpdate,
    guard: { field: string; value: unknown } | undefined,
  ): Promise<PartnerChange | undefined> {
    const updatedAt = now().toISOString();
    const set: Record<string, unknown> = { updatedAt };
    const remove: string[] = [];
    for (const [field, value] of Object.entries(patch)) {
      if (value === undefined) remove.push(field);
      else set[field] = value;
    }
    if (patch.city !== undefined) set.cityKey = placeKey(patch.city);
    if (patch.category !== undefined) set.categoryKey = placeKey(patch.category);
    if (complete.latitude !== undefined && complete.longitude !== undefined) {
      set.geohash = encodeGeohash(complete.latitude, complete.longitude, GEOHASH_PRECISION);
      set.geoPartition = (set.geohash as string).slice(0, GEO_PARTITION_PRECISION);
    }
    const names: Record<string, string> = { '#version': 'version' };
    const values: Record<string, unknown> = { ':one': 1 };
    const assignments = Object.entries(set).map(([field, value], i) => {
      names[`#s${i}`] = field;
      values[`:s${i}`] = value;
      return `#s${i} = :s${i}`;
    });
    const removals = remove.map((field, i) => {
      names[`#r${i}`] = field;
      return `#r${i}`;
    });
    if (guard) {
      names['#guard'] = guard.field;
      values[':guard'] = guard.value;
    }
    // A ConditionalCheckFailedException (partner deleted, or the guarded value changed) goes to the caller, which re-reads.
    const { Attributes: old } = await db.send(
      new UpdateCommand({
        TableName: table,
        Key: { id },
        UpdateExpression: `SET ${assignments.join(', ')} ADD #version :one${removals.length ? ` REMOVE ${removals.join(', ')}` : ''}`,
        ConditionExpression: guard ? 'attribute_exists(id) AND #guard = :guard' : 'attribute_exists(id)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_OLD',
      }),
    );
    const before = old ? fromStored(old) : undefined;
    if (!before) throw new Error(`Partner ${id} was updated but its previous state is unreadable`);
    const after: Partner = { ...merge(before, patch), version: before.version + 1, updatedAt };
    return { before, after, changes: changedFields(before, after) };
  }

  async function conditionalUpdate(
    id: string,
    patch: PartnerUpdate,
    expectedVersion: number,
    first: Partner | undefined,
  ): Promise<PartnerChange | undefined> {
    let before: Partner | undefined = first;
    for (let attempt = 1; ; attempt++) {
      if (!before) return undefined;
      if (before.version !== expectedVersion) throw new VersionConflictError(id, expectedVersion, before.version);
      const merged = merge(before, patch);
      const changes = changedFields(before, merged);
      if (changes.length === 0) return { before, after: before, changes };
      const after: Partner = { ...merged, version: before.version + 1, updatedAt: now().toISOString() };
      try {
        await db.send(
          new PutCommand({
            TableName: table,
            Item: toStored(after),
            ConditionExpression: 'attribute_exists(id) AND #version = :version',
            ExpressionAttributeNames: { '#version': 'version' },
            ExpressionAttributeValues: { ':version': before.version },
          }),
        );
        return { before, after, changes };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= UPDATE_ATTEMPTS) throw error;
        // Somebody wrote in between: re-read; the version check above then reports the conflict (or the deletion).
        before = await get(id);
      }
    }
  }

  async function remove(id: string): Promise<Partner | undefined> {
    try {
      const { Attributes } = await db.send(
        new DeleteCommand({ TableName: table, Key: { id }, ConditionExpression: 'attribute_exists(id)', ReturnValues: 'ALL_OLD' }),
      );
      return Attributes ? fromStored(Attributes) : undefined;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /** By city and/or category through an index; with neither, a paginated scan of the (small) partner table. */
  async function list(query: ListQuery): Promise<PartnerPage> {
    const city = query.city !== undefined ? placeKey(query.city) : undefined;
    const category = query.category !== undefined ? placeKey(query.category) : undefined;
    const keySchema =
      city !== undefined
        ? { id: undefined, cityKey: city, categoryKey: category }
        : category !== undefined
          ? { id: undefined, categoryKey: category, cityKey: undefined }
          : { id: undefined };
    const start = decodePageToken(query.nextToken, keySchema);
    try {
      return await listFrom(query, start);
    } catch (error) {
      // Belt and braces: whatever DynamoDB still finds wrong with a client's start key is the client's doing.
      if (start && isValidationError(error)) throw new InvalidPageTokenError('nextToken is not a token this API returned for this listing');
      throw error;
    }
  }

  async function listFrom(query: ListQuery, start: Record<string, unknown> | undefined): Promise<PartnerPage> {
    const common = { TableName: table, Limit: query.limit, ExclusiveStartKey: start };
    // A Query (by city or category) or a Scan: both answer Items and LastEvaluatedKey.
    let result: { Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> };
    if (query.city !== undefined) {
      const byCategory = query.category !== undefined;
      result = await db.send(
        new QueryCommand({
          ...common,
          IndexName: 'byCity',
          KeyConditionExpression: byCategory ? 'cityKey = :city AND categoryKey = :category' : 'cityKey = :city',
          ExpressionAttributeValues: { ':city': placeKey(query.city), ...(byCategory ? { ':category': placeKey(query.category!) } : {}) },
        }),
      );
    } else if (query.category !== undefined) {
      result = await db.send(
        new QueryCommand({
          ...common,
          IndexName: 'byCategory',
          KeyConditionExpression: 'categoryKey = :category',
          ExpressionAttributeValues: { ':category': placeKey(query.category) },
        }),
      );
    } else {
      result = await db.send(new ScanCommand(common));
    }
    return { items: readable(result.Items ?? []), nextToken: encodePageToken(result.LastEvaluatedKey) };
  }

  /**
   * Partners within `radiusKm`, nearest first: Queries on the geohash index for the covering cells (the centre cell
   * and its neighbours), then an exact distance check on what those cells hold. Cost follows the area, not the table,
   * and is bounded: past `nearMaxItems` items read the query stops with TooManyItemsError (narrow the radius).
   */
  async function near(
    latitude: number,
    longitude: number,
    radiusKm: number,
    limit: number,
  ): Promise<Array<{ partner: Partner; distanceKm: number }>> {
    const precision = precisionForRadius(radiusKm, latitude);
    const cells = geohashWithNeighbours(encodeGeohash(latitude, longitude, precision));
    const found: Array<{ partner: Partner; distanceKm: number }> = [];
    let read = 0;
    await Promise.all(
      cells.map(async (cell) => {
        let start: Record<string, unknown> | undefined;
        do {
          const page = await db.send(
            new QueryCommand({
              TableName: table,
              IndexName: 'byGeohash',
              KeyConditionExpression: 'geoPartition = :partition AND begins_with(geohash, :cell)',
              ExpressionAttributeValues: { ':partition': cell.slice(0, GEO_PARTITION_PRECISION), ':cell': cell },
              // One more than the budget left, so reaching the bound is detected without reading past it.
              Limit: Math.max(1, nearMaxItems - read + 1),
              ExclusiveStartKey: start,
            }),
          );
          read += page.Items?.length ?? 0;
          if (read > nearMaxItems)
            throw new TooManyItemsError(`More than ${nearMaxItems} partners lie in the area searched; use a smaller radiusKm`);
          for (const partner of readable(page.Items ?? [])) {
            const distance = distanceKm(latitude, longitude, partner.latitude, partner.longitude);
            if (distance <= radiusKm) found.push({ partner, distanceKm: distance });
          }
          start = page.LastEvaluatedKey;
        } while (start);
      }),
    );
    return found.sort((a, b) => a.distanceKm - b.distanceKm).slice(0, limit);
  }

  return { get, create, update, delete: remove, list, near };
}

export type PartnerRepository = ReturnType<typeof createPartnerRepository>;
