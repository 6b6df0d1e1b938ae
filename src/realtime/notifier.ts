import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Partner } from '../partners/model.js';
import type { CacheStore } from '../cache/cacheStore.js';
import { invalidatedKeys } from '../cache/cacheKeys.js';
import type { ConnectionStore, Subscriber } from './connections.js';
import { cacheInvalidated, packFrames, partnerCreated, partnerDeleted, partnerUpdated, type Notification } from './notifications.js';
import { CACHE_TOPIC, PARTNER_TOPICS, cacheTarget, partnerTargets, targetOf, withinNear, type PartnerPlace } from './subscriptions.js';
import { sendDeliveries, type Delivery, type DeliveryReport, type SendOptions } from './sender.js';
import type { PartnerChange } from './streamChanges.js';
import type { FanoutQueue } from './fanoutQueue.js';
import { METRIC, type AppMetrics } from '../observability/metrics.js';
import { settleAll } from '../common/settleAll.js';

/** A committed change to a partner. */
export type PartnerEvent =
  | { action: 'created'; partner: Partner }
  | { action: 'updated'; before: Partner; after: Partner; changes: string[] }
  | { action: 'deleted'; partner: Partner };

export interface FanoutSettings {
  /** Past this many connections, a batch's fanout is split into shards handled by parallel invocations. */
  shardThreshold: number;
  /** Connections per shard: what one invocation posts within its timeout (README, "Large audiences"). */
  shardSize: number;
}

export interface NotifyReport {
  invalidatedKeys: string[];
  connections: number;
  /** Frames the connections were to receive in total (what one-message-per-notification would have posted is `unbatchedMessages`). */
  messages: number;
  unbatchedMessages: number;
  shards: number;
  sent?: DeliveryReport;
}

const placeOf = (p: Partner): PartnerPlace => ({ city: p.city, category: p.category, latitude: p.latitude, longitude: p.longitude });

interface PreparedChange {
  change: PartnerChange;
  keys: string[];
  places: PartnerPlace[];
  targets: Set<string>;
  notification: Notification;
}

function prepare(change: PartnerChange, timestamp: string): PreparedChange {
  const { event, eventId } = change;
  const before = event.action === 'created' ? undefined : event.action === 'updated' ? event.before : event.partner;
  const after = event.action === 'deleted' ? undefined : event.action === 'updated' ? event.after : event.partner;
  const places = [before, after].filter((p): p is Partner => p !== undefined).map(placeOf);
  const notification =
    event.action === 'created'
      ? partnerCreated(event.partner, timestamp, eventId)
      : event.action === 'updated'
        ? partnerUpdated(event.after, event.changes, timestamp, eventId)
        : partnerDeleted(event.partner.id, timestamp, eventId);
  return { change, keys: invalidatedKeys(before, after), places, targets: new Set(partnerTargets(places)), notification };
}

/**
 * What each subscriber receives for one stream batch: one partner_updated per change its subscription matches (the
 * seed's shapes), then ONE cache_invalidated with the union of the batch's keys. A `"batch": true` subscriber gets
 * those in `notifications` frames instead, each under the 128 KB message limit.
 */
export function planDeliveries(
  prepared: readonly PreparedChange[],
  subscribers: readonly Subscriber[],
  timestamp: string,
): { deliveries: Delivery[]; unbatchedMessages: number } {
  const allKeys = [...new Set(prepared.flatMap((p) => p.keys))];
  const cacheMessage = cacheInvalidated(
    allKeys,
    timestamp,
    prepared.map((p) => p.change.eventId),
  );
  const cacheText = JSON.stringify(cacheMessage);
  const texts = new Map(prepared.map((p) => [p, JSON.stringify(p.notification)]));
  const deliveries: Delivery[] = [];
  let unbatchedMessages = 0;
  for (const subscriber of subscribers) {
    const messages: Notification[] = [];
    const payloads: string[] = [];
    // A subscription hears of changes committed after it (a client reads the state when it subscribes; the stream
    // lags the write, so without this it would hear of older changes too).
    const after = (row: Subscriber['rows'][number], p: PreparedChange): boolean =>
      row.subscribedAt === undefined || row.subscribedAt <= p.change.committedBy;
    for (const p of prepared) {
      const matches = subscriber.rows.some(
        (row) => PARTNER_TOPICS.includes(row.topic) && p.targets.has(targetOf(row)) && withinNear(row.near, p.places) && after(row, p),
      );
      if (matches) {
        messages.push(p.notification);
        payloads.push(texts.get(p)!);
      }
    }
    const cacheSubscriber = subscriber.rows.some((row) => row.topic === CACHE_TOPIC && prepared.some((p) => after(row, p)));
    if (cacheSubscriber) {
      messages.push(cacheMessage);
      payloads.push(cacheText);
      unbatchedMessages += prepared.length;
    }
    unbatchedMessages += messages.length - (cacheSubscriber ? 1 : 0);
    if (!messages.length) continue;
    const batch = subscriber.rows.some((row) => row.batch === true);
    deliveries.push({ connectionId: subscriber.connectionId, payloads: batch ? packFrames(messages, timestamp) : payloads });
  }
  return { deliveries, unbatchedMessages };
}

/**
 * Turns a batch of committed partner changes (from the partners table's stream) into cache invalidation and
 * notifications. It runs in the notifier function, off the mutation's path: the mutation answered after its write.
 * Small audiences are posted here; past `shardThreshold` connections the deliveries go to the fanout queue in
 * shards of `shardSize`, posted by parallel invocations. Posts that still fail after the sender's retries (429,
 * 5xx) go to the queue too, for a later round, so a live connection is not dropped by a passing error.
 *
 * Throws when the batch cannot be handled (cache, subscriber lookup or queue unavailable): the event source
 * mapping retries it, and clients drop the duplicates by eventId.
 */
export function createNotifier(deps: {
  connections: ConnectionStore;
  cache: CacheStore;
  managementClient: () => ApiGatewayManagementApiClient;
  logger: Logger;
  sendOptions: SendOptions;
  fanout: FanoutSettings;
  queue: FanoutQueue | undefined;
  /** Sent / gone / failed connections and the fanout's duration, per delivery round. */
  metrics?: AppMetrics;
  now?: () => Date;
}) {
  const now = deps.now ?? (() => new Date());

  async function notifyChanges(changes: readonly PartnerChange[], shouldStop?: () => boolean): Promise<NotifyReport> {
    const timestamp = now().toISOString();
    const prepared = changes.map((c) => prepare(c, timestamp));
    const keys = [...new Set(prepared.flatMap((p) => p.keys))];
    const targets = new Set<string>([cacheTarget()]);
    for (const p of prepared) for (const t of p.targets) targets.add(t);
    // Expire before notifying: a client that re-reads on a notification must not be served the stale entry. Looking
    // the subscribers up meanwhile changes nothing of that (it only reads), and takes it off the latency path.
    // Both settled before a failure is thrown: a rejected lookup must not leave the expiry running.
    const [generations, subscribers] = await settleAll([deps.cache.expire(keys), deps.connections.subscribersOf([...targets])]);
    for (const p of prepared) deps.logger.info('cache invalidated', { keys: p.keys, eventId: p.change.eventId });
    // The expired values can no longer be served: deleting them is clean-up (a Query and a BatchWrite per key that no
    // client needs to wait for), done while the notifications go out and awaited before the invocation ends. Its
    // failure leaves garbage, not stale reads: logged, and the batch is not retried for it.
    const purged = deps.cache.purge(generations).catch((error: unknown) => {
      deps.logger.warn('cache clean-up failed; the expired values stay until their ttl, never served', { error: error as Error });
    });
    try {
      const { deliveries, unbatchedMessages } = planDeliveries(prepared, subscribers, timestamp);
      const messages = deliveries.reduce((n, d) => n + d.payloads.length, 0);
      const report: NotifyReport = { invalidatedKeys: keys, connections: deliveries.length, messages, unbatchedMessages, shards: 0 };

      if (deps.queue && deliveries.length > deps.fanout.shardThreshold) {
        report.shards = await deps.queue.enqueue(deliveries, deps.fanout.shardSize);
        deps.logger.info('fanout sharded', {
          connections: deliveries.length,
          shards: report.shards,
          eventIds: changes.map((c) => c.eventId),
        });
        return report;
      }
      report.sent = await deliver(deliveries, shouldStop);
      deps.logger.info('notifications sent', {
        eventIds: changes.map((c) => c.eventId),
        connections: deliveries.length,
        messages,
        unbatchedMessages,
        posts: report.sent.posts,
        delivered: report.sent.delivered.length,
        gone: report.sent.gone.length,
        failed: report.sent.failed.length,
        handedOver: report.sent.undelivered.length,
      });
      return report;
    } finally {
      await purged;
    }
  }

  /** Posts deliveries; what failed with a retryable error or was not reached in time goes to the queue. */
  async function deliver(deliveries: readonly Delivery[], shouldStop?: () => boolean): Promise<DeliveryReport> {
    const started = performance.now();
    const sent = await sendDeliveries(deps.managementClient(), deliveries, deps.sendOptions, {
      onGone: (connectionId) => deps.connections.remove(connectionId),
      logger: deps.logger,
      ...(shouldStop ? { shouldStop } : {}),
    });
    if (deps.metrics && deliveries.length) {
      deps.metrics.count(METRIC.notificationsSent, sent.delivered.length);
      deps.metrics.count(METRIC.notificationsGone, sent.gone.length);
      deps.metrics.count(METRIC.notificationsFailed, sent.failed.length);
      deps.metrics.durationMs(METRIC.fanoutDuration, performance.now() - started);
    }
    const again: Delivery[] = [
      ...sent.undelivered,
      ...sent.failed.filter((f) => f.retryable).map((f) => ({ connectionId: f.connectionId, payloads: f.remaining })),
    ];
    if (again.length) {
      if (!deps.queue) deps.logger.error('notifications not delivered and no fanout queue to retry them', { connections: again.length });
      else await deps.queue.enqueue(again, deps.fanout.shardSize, { retry: true });
    }
    return sent;
  }

  return { notifyChanges, deliver };
}

export type Notifier = ReturnType<typeof createNotifier>;
