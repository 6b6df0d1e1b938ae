import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import { queryAll } from '../aws/dynamoPages.js';
import { changedFields, placeKey, type EditableField, type Partner, type PartnerInput, type PartnerUpdate } from './model.js';
import { distanceKm, encodeGeohash, geohashWithNeighbours, precisionForRadius } from './geohash.js';

/** Two writers raced and the caller asked for a specific version: nothing was written. */
export class VersionConflictError extends Error {
  override name = 'VersionConflictError';
  constructor(readonly id: string, readonly expected: number, readonly actual: number) {
    super(`Partner ${id} is at version ${actual}, not ${expected}: reload it and apply your change again`);
  }
}

export class InvalidPageTokenError extends Error {
  override name = 'InvalidPageTokenError';
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

function fromStored(item: Record<string, unknown>): Partner {
  const { cityKey: _c, categoryKey: _k, geohash: _g, geoPartition: _p, ...partner } = item;
  return partner as unknown as Partner;
}

function encodePageToken(key: Record<string, unknown> | undefined): string | undefined {
  return key ? Buffer.from(JSON.stringify(key)).toString('base64url') : undefined;
}

function decodePageToken(token: string | undefined): Record<string, unknown> | undefined {
  if (!token) return undefined;
  try {
    const key: unknown = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
    if (key && typeof key === 'object' && !Array.isArray(key)) return key as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new InvalidPageTokenError('nextToken is not a token this API returned');
}

export function createPartnerRepository(db: DynamoDBDocumentClient, table: string, now: () => Date = () => new Date()) {
  async function get(id: string): Promise<Partner | undefined> {
    const { Item } = await db.send(new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true }));
    return Item ? fromStored(Item) : undefined;
  }

  /** `id` is given by an idempotent create (the id its idempotency record reserved); the put never overwrites. */
  async function create(input: PartnerInput, id: string = randomUUID()): Promise<Partner> {
    const timestamp = now().toISOString();
    const partner: Partner = { active: true, ...input, id, version: 1, createdAt: timestamp, updatedAt: timestamp };
    await db.send(
      new PutCommand({ TableName: table, Item: toStored(partner), ConditionExpression: 'attribute_not_exists(id)' }),
    );
    return partner;
  }

  /**
   * Applies `patch` with a write conditional on the version read, so a concurrent update is never silently
   * overwritten: without `expectedVersion` we re-read and re-apply the patch (both updates land); with it, a
   * mismatch is a VersionConflictError and nothing is written. Returns undefined when the partner does not exist.
   */
  async function update(id: string, patch: PartnerUpdate, expectedVersion?: number): Promise<PartnerChange | undefined> {
    for (let attempt = 1; ; attempt++) {
      const before = await get(id);
      if (!before) return undefined;
      if (expectedVersion !== undefined && before.version !== expectedVersion) {
        throw new VersionConflictError(id, expectedVersion, before.version);
      }
      const merged: Partner = { ...before, ...patch } as Partner;
      for (const key of Object.keys(patch) as EditableField[]) if (patch[key] === undefined) delete merged[key];
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
        // Somebody wrote in between: loop to re-read and re-apply (or report the conflict if a version was asked for).
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
    const start = decodePageToken(query.nextToken);
    const common = { TableName: table, Limit: query.limit, ExclusiveStartKey: start };
    let result;
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
    return { items: (result.Items ?? []).map(fromStored), nextToken: encodePageToken(result.LastEvaluatedKey) };
  }

  /**
   * Partners within `radiusKm`, nearest first: Queries on the geohash index for the covering cells (the centre cell
   * and its neighbours), then an exact distance check on what those cells hold. Cost follows the area, not the table.
   */
  async function near(latitude: number, longitude: number, radiusKm: number, limit: number): Promise<Array<{ partner: Partner; distanceKm: number }>> {
    const precision = precisionForRadius(radiusKm, latitude);
    const cells = geohashWithNeighbours(encodeGeohash(latitude, longitude, precision));
    const found: Array<{ partner: Partner; distanceKm: number }> = [];
    await Promise.all(
      cells.map(async (cell) => {
        const items = await queryAll(db, {
          TableName: table,
          IndexName: 'byGeohash',
          KeyConditionExpression: 'geoPartition = :partition AND begins_with(geohash, :cell)',
          ExpressionAttributeValues: { ':partition': cell.slice(0, GEO_PARTITION_PRECISION), ':cell': cell },
        });
        for (const item of items) {
          const partner = fromStored(item);
          const distance = distanceKm(latitude, longitude, partner.latitude, partner.longitude);
          if (distance <= radiusKm) found.push({ partner, distanceKm: distance });
        }
      }),
    );
    return found.sort((a, b) => a.distanceKm - b.distanceKm).slice(0, limit);
  }

  return { get, create, update, delete: remove, list, near };
}

export type PartnerRepository = ReturnType<typeof createPartnerRepository>;
