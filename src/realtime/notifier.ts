import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Partner } from '../partners/model.js';
import type { CacheStore } from '../cache/cacheStore.js';
import { invalidatedKeys } from '../cache/cacheKeys.js';
import type { ConnectionStore } from './connections.js';
import { cacheInvalidated, partnerCreated, partnerDeleted, partnerUpdated, type Notification } from './notifications.js';
import { cacheTarget, partnerTargets, withinNear, type PartnerPlace } from './subscriptions.js';
import { sendToConnections, type SendOptions, type SendReport } from './sender.js';

/** A committed change to a partner. */
export type PartnerEvent =
  | { action: 'created'; partner: Partner }
  | { action: 'updated'; before: Partner; after: Partner; changes: string[] }
  | { action: 'deleted'; partner: Partner };

export interface NotifyReport {
  invalidatedKeys: string[];
  partnerUpdated: SendReport;
  cacheInvalidated: SendReport;
}

const placeOf = (p: Partner): PartnerPlace => ({ city: p.city, category: p.category, latitude: p.latitude, longitude: p.longitude });

/**
 * What happens after a mutation commits: its cache keys are invalidated, then partner_updated goes to the
 * partner-topic subscribers whose place matches and cache_invalidated to the cache_invalidation subscribers.
 *
 * The mutation awaits this (a Lambda is frozen once it returns, so fire-and-forget would lose notifications), but it
 * never waits long: posts run in parallel with bounded concurrency, each with a short request timeout and few retries,
 * and API Gateway acknowledges a post once it has the frame, not once a slow client has read it.
 */
export function createNotifier(deps: {
  connections: ConnectionStore;
  cache: CacheStore;
  managementClient: () => ApiGatewayManagementApiClient;
  logger: Logger;
  sendOptions: SendOptions;
  now?: () => Date;
}) {
  const now = deps.now ?? (() => new Date());

  async function fanout(targets: string[], places: PartnerPlace[] | undefined, notification: Notification): Promise<SendReport> {
    const subscribers = await deps.connections.subscribersOf(targets);
    // A point + radius subscription matched on city/category by key; the circle is checked here, on the matches only.
    const recipients = subscribers
      .filter((s) => !places || s.rows.some((row) => withinNear(row.near, places)))
      .map((s) => s.connectionId);
    return sendToConnections(deps.managementClient(), recipients, JSON.stringify(notification), deps.sendOptions, {
      onGone: (connectionId) => deps.connections.remove(connectionId),
      logger: deps.logger,
    });
  }

  async function partnerChanged(event: PartnerEvent): Promise<NotifyReport> {
    const timestamp = now().toISOString();
    const before = event.action === 'created' ? undefined : event.action === 'updated' ? event.before : event.partner;
    const after = event.action === 'deleted' ? undefined : event.action === 'updated' ? event.after : event.partner;
    const keys = invalidatedKeys(before, after);
    const empty: SendReport = { delivered: [], gone: [], failed: [] };
    const report: NotifyReport = { invalidatedKeys: keys, partnerUpdated: empty, cacheInvalidated: empty };

    try {
      await deps.cache.invalidate(keys);
      deps.logger.info('cache invalidated', { keys });
    } catch (error) {
      // The write is committed; a stale cache entry expires with its TTL. Say so loudly rather than fail the mutation.
      deps.logger.error('cache invalidation failed', { keys, error: error as Error });
    }

    const places = [before, after].filter((p): p is Partner => p !== undefined).map(placeOf);
    const notification =
      event.action === 'created'
        ? partnerCreated(event.partner, timestamp)
        : event.action === 'updated'
          ? partnerUpdated(event.after, event.changes, timestamp)
          : partnerDeleted(event.partner.id, timestamp);

    const [partnerReport, cacheReport] = await Promise.all([
      fanout(partnerTargets(places), places, notification).catch((error: unknown) => {
        deps.logger.error('partner_updated fanout failed', { error: error as Error });
        return empty;
      }),
      fanout([cacheTarget()], undefined, cacheInvalidated(keys, timestamp)).catch((error: unknown) => {
        deps.logger.error('cache_invalidated fanout failed', { error: error as Error });
        return empty;
      }),
    ]);
    report.partnerUpdated = partnerReport;
    report.cacheInvalidated = cacheReport;
    deps.logger.info('notifications sent', {
      action: event.action,
      partnerId: (after ?? before)!.id,
      partnerUpdated: { delivered: partnerReport.delivered.length, gone: partnerReport.gone.length, failed: partnerReport.failed.length },
      cacheInvalidated: { delivered: cacheReport.delivered.length, gone: cacheReport.gone.length, failed: cacheReport.failed.length },
    });
    return report;
  }

  return { partnerChanged };
}

export type Notifier = ReturnType<typeof createNotifier>;
