import type { Logger } from '@aws-lambda-powertools/logger';
import type { CacheStore } from '../cache/cacheStore.js';
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { invalidatedKeys, listingKey, partnerKey } from '../cache/cacheKeys.js';
import { CLIENT_MUTATION_ID, fingerprintOf, type IdempotencyStore } from './idempotency.js';
import { MAX_RADIUS_KM } from './geohash.js';
import type { Partner, PartnerInput, PartnerUpdate } from './model.js';
import { InvalidPageTokenError, TooManyItemsError, VersionConflictError, type PartnerPage, type PartnerRepository } from './repository.js';
import { ValidationError, validatePartnerInput, validatePartnerUpdate, type FieldError } from './validation.js';
import type { AppMetrics } from '../observability/metrics.js';

export interface MutationResponse {
  success: boolean;
  message: string;
  partner: Partner | null;
  errors?: FieldError[];
}

const refused = (message: string, errors?: FieldError[]): MutationResponse => ({
  success: false,
  message,
  partner: null,
  ...(errors ? { errors } : {}),
});

/** Bad arguments to a query: surfaced as a GraphQL error with BAD_USER_INPUT by the resolvers. */
export class QueryInputError extends Error {
  override name = 'QueryInputError';
}

/** Ids are UUIDs; anything empty or far longer cannot name a partner (and an empty key is a DynamoDB error). */
function idProblem(id: string): FieldError | undefined {
  if (typeof id !== 'string' || id.trim().length === 0) return { field: 'id', message: 'must not be empty' };
  if (id.length > 128) return { field: 'id', message: 'must be at most 128 characters' };
  return undefined;
}

/**
 * The partner use cases: validate, write, answer. The write is the commit point and the answer follows it: cache
 * invalidation and notifications are the notifier's, from the partners table's stream, so the answer's latency does
 * not depend on the audience. The mutation also expires the changed keys right away (one generation bump per key, not
 * audience-bound) so the writer reads its own write; the notifier expires them again after the change, which also
 * voids an entry a concurrent read re-cached from before the write, and deletes the expired values.
 */
export function createPartnerService(deps: {
  repository: PartnerRepository;
  cache: CacheStore;
  logger: Logger;
  idempotency?: IdempotencyStore;
  /** Committed mutations by kind. */
  metrics?: AppMetrics;
}) {
  const { repository, cache, logger, idempotency } = deps;

  /** Runs right after each committed write (and only then): counts it, and expires its cache keys. */
  async function invalidateAtWrite(before: Partner | undefined, after: Partner | undefined): Promise<void> {
    deps.metrics?.mutation(before === undefined ? 'create' : after === undefined ? 'delete' : 'update');
    try {
      // Only the generation bumps: what they void is never served again, and deleting it is the notifier's clean-up
      // (two more round trips per key the mutation's answer would wait for).
      await cache.expire(invalidatedKeys(before, after));
    } catch (error) {
      // The notifier invalidates the same keys from the stream; this one only narrows the window.
      logger.warn('cache invalidation at write failed; the notifier will invalidate from the stream', { error: error as Error });
    }
  }

  const created = (partner: Partner): MutationResponse => ({ success: true, message: `Partner ${partner.name} created`, partner });

  async function createPartner(input: PartnerInput, clientMutationId?: string | null): Promise<MutationResponse> {
    let valid: PartnerInput;
    try {
      valid = validatePartnerInput(input);
    } catch (error) {
      if (error instanceof ValidationError) return refused(error.message, error.errors);
      throw error;
    }
    if (clientMutationId === undefined || clientMutationId === null) {
      const partner = await repository.create(valid);
      await invalidateAtWrite(undefined, partner);
      return created(partner);
    }
    if (!CLIENT_MUTATION_ID.test(clientMutationId))
      return refused('clientMutationId must be 1 to 128 letters, digits or _.:-', [{ field: 'clientMutationId', message: 'invalid' }]);
    if (!idempotency) throw new Error('clientMutationId needs IDEMPOTENCY_TABLE');
    const fingerprint = fingerprintOf(valid);
    const reservedId = randomUUID();
    const claim = await idempotency.claim('createPartner', clientMutationId, fingerprint, reservedId);
    if (!claim.claimed) {
      const { record } = claim;
      if (record.fingerprint !== fingerprint) return refused(`clientMutationId ${clientMutationId} was already used for a different input`);
      if (record.status === 'done' && record.response) return created(JSON.parse(record.response) as Partner);
      // The first request is in flight or died before finishing: create under the id it reserved (never twice).
      const partner = await createOnce(valid, record.partnerId);
      if (!partner) return refused(`Partner ${record.partnerId} of clientMutationId ${clientMutationId} no longer exists`);
      return created(partner);
    }
    const partner = await createOnce(valid, reservedId);
    if (!partner) throw new Error(`partner ${reservedId} reserved by clientMutationId ${clientMutationId} vanished`);
    await idempotency.complete('createPartner', clientMutationId, partner);
    return created(partner);
  }

  /** Creates the partner under `id` unless it exists; answers the partner either way (undefined if deleted since). */
  async function createOnce(valid: PartnerInput, id: string): Promise<Partner | undefined> {
    try {
      const partner = await repository.create(valid, id);
      await invalidateAtWrite(undefined, partner);
      return partner;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return repository.get(id);
    }
  }

  async function updatePartner(id: string, input: PartnerUpdate & { expectedVersion?: number | null }): Promise<MutationResponse> {
    const badId = idProblem(id);
    if (badId) return refused(badId.message, [badId]);
    const { expectedVersion, ...patch } = input;
    let valid: PartnerUpdate;
    try {
      valid = validatePartnerUpdate(patch);
    } catch (error) {
      if (error instanceof ValidationError) return refused(error.message, error.errors);
      throw error;
    }
    let change: Awaited<ReturnType<PartnerRepository['update']>>;
    try {
      change = await repository.update(id, valid, expectedVersion ?? undefined);
    } catch (error) {
      if (error instanceof VersionConflictError) return refused(error.message);
      throw error;
    }
    if (!change) return refused(`Partner ${id} not found`);
    if (change.changes.length === 0)
      return { success: true, message: `Partner ${id} unchanged: the update matches its current values`, partner: change.after };
    await invalidateAtWrite(change.before, change.after);
    return { success: true, message: `Partner ${change.after.name} updated (${change.changes.join(', ')})`, partner: change.after };
  }

  async function deletePartner(id: string): Promise<MutationResponse> {
    const badId = idProblem(id);
    if (badId) return refused(badId.message, [badId]);
    const partner = await repository.delete(id);
    if (!partner) return refused(`Partner ${id} not found`);
    await invalidateAtWrite(partner, undefined);
    return { success: true, message: `Partner ${partner.name} deleted`, partner };
  }

  async function getPartner(id: string): Promise<Partner | null> {
    const badId = idProblem(id);
    if (badId) throw new QueryInputError(`id ${badId.message}`);
    return cache.readThrough(partnerKey(id), 'item', async () => (await repository.get(id)) ?? null);
  }

  async function listPartners(query: {
    city?: string | null;
    category?: string | null;
    limit?: number | null;
    nextToken?: string | null;
  }): Promise<PartnerPage> {
    const limit = query.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new QueryInputError('limit must be an integer between 1 and 100');
    // Longer than any stored city/category can be, so refusing them loses nothing and keeps index keys in bounds.
    if ((query.city?.length ?? 0) > 80) throw new QueryInputError('city must be at most 80 characters');
    if ((query.category?.length ?? 0) > 60) throw new QueryInputError('category must be at most 60 characters');
    const clean = {
      ...(query.city?.trim() ? { city: query.city.trim() } : {}),
      ...(query.category?.trim() ? { category: query.category.trim() } : {}),
      limit,
      ...(query.nextToken ? { nextToken: query.nextToken } : {}),
    };
    const variant = JSON.stringify(['list', clean.city ?? null, clean.category ?? null, limit, clean.nextToken ?? null]);
    try {
      const page = await cache.readThrough(listingKey(clean), variant, async () => {
        const result = await repository.list(clean);
        // JSON has no undefined: keep the "last page" marker through the cache.
        return { items: result.items, nextToken: result.nextToken ?? null };
      });
      return { items: page.items, nextToken: page.nextToken ?? undefined };
    } catch (error) {
      if (error instanceof InvalidPageTokenError) throw new QueryInputError(error.message);
      throw error;
    }
  }

  async function partnersNear(args: { latitude: number; longitude: number; radiusKm: number; limit?: number | null }) {
    const limit = args.limit ?? 20;
    if (Math.abs(args.latitude) > 90 || Math.abs(args.longitude) > 180)
      throw new QueryInputError('latitude must be within -90..90 and longitude within -180..180');
    if (!(args.radiusKm > 0 && args.radiusKm <= MAX_RADIUS_KM))
      throw new QueryInputError(`radiusKm must be greater than 0 and at most ${MAX_RADIUS_KM}`);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new QueryInputError('limit must be an integer between 1 and 100');
    try {
      return await repository.near(args.latitude, args.longitude, args.radiusKm, limit);
    } catch (error) {
      if (error instanceof TooManyItemsError) throw new QueryInputError(error.message);
      throw error;
    }
  }

  return { createPartner, updatePartner, deletePartner, getPartner, listPartners, partnersNear };
}

export type PartnerService = ReturnType<typeof createPartnerService>;
