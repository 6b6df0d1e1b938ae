import { SQSClient } from '@aws-sdk/client-sqs';
import { config, type Config } from './config/env.js';
import { createDocumentClient, managementClient, managementEndpoint } from './aws/clients.js';
import { createCacheStore } from './cache/cacheStore.js';
import { createPartnerRepository } from './partners/repository.js';
import { createIdempotencyStore } from './partners/idempotency.js';
import { createPartnerService } from './partners/service.js';
import { createConnectionStore } from './realtime/connections.js';
import { createNotifier } from './realtime/notifier.js';
import { createUserSlots } from './realtime/userSlots.js';
import { createFanoutQueue } from './realtime/fanoutQueue.js';
import { logger } from './observability/logger.js';
import { appMetrics } from './observability/metrics.js';

/**
 * The composition root: builds every dependency once per container from configuration. Handlers call this and
 * nothing else, which keeps them thin and lets tests build the same graph from an explicit config. Clients are
 * created lazily by what uses them, so a function builds only what it calls.
 */
export function createApp(cfg: Config = config()) {
  const db = createDocumentClient(cfg);
  const cache = createCacheStore(db, cfg.cacheTable, cfg.cacheTtlSeconds, { logger });
  const connections = createConnectionStore(db, cfg.connectionsTable, {
    slots: createUserSlots(db, cfg.connectionsTable, cfg.maxConnectionsPerUser),
  });
  const repository = createPartnerRepository(db, cfg.partnersTable, { logger });
  const sendOptions = {
    concurrency: cfg.notify.concurrency,
    maxAttempts: cfg.notify.maxAttempts,
    retryBaseDelayMs: cfg.notify.retryBaseDelayMs,
  };
  const idempotency = cfg.idempotencyTable ? createIdempotencyStore(db, cfg.idempotencyTable, cfg.idempotencyTtlSeconds) : undefined;
  const partners = createPartnerService({ repository, cache, logger, metrics: appMetrics, ...(idempotency ? { idempotency } : {}) });
  // SQS retries are the SDK's (a send is idempotent enough: a duplicate shard is a duplicate the client drops by eventId).
  const queue = cfg.notify.fanoutQueueUrl ? createFanoutQueue(new SQSClient({ region: cfg.region }), cfg.notify.fanoutQueueUrl) : undefined;
  const notifier = createNotifier({
    connections,
    cache,
    // The notifier has no WebSocket event to derive the endpoint from: it needs WEBSOCKET_API_ENDPOINT.
    managementClient: () => managementClient(managementEndpoint(cfg.websocketApiEndpoint), cfg),
    logger,
    sendOptions,
    fanout: { shardThreshold: cfg.notify.shardThreshold, shardSize: cfg.notify.shardSize },
    queue,
    metrics: appMetrics,
  });
  return { cfg, db, cache, connections, repository, notifier, partners, logger, metrics: appMetrics, sendOptions };
}

export type App = ReturnType<typeof createApp>;
