import type { APIGatewayProxyResult, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { TokenError, verifyToken } from '../auth/tokens.js';
import type { AuthConfig } from '../config/env.js';
import type { ConnectionStore } from './connections.js';
import { ClientMessageError, parseClientMessage, type ClientMessage } from './clientMessages.js';
import { subscriptionRows } from './subscriptions.js';
import { sendToConnections, type SendOptions } from './sender.js';
import { METRIC, type AppMetrics } from '../observability/metrics.js';

/** A $connect event: the typed WebSocket event plus the query string API Gateway adds on CONNECT. */
export type WebSocketEvent = APIGatewayProxyWebsocketEventV2 & {
  queryStringParameters?: Record<string, string | undefined> | null;
  headers?: Record<string, string | undefined>;
};

const reply = (statusCode: number, body = ''): APIGatewayProxyResult => ({ statusCode, body });

/**
 * $connect, $disconnect and $default for PerkUp's WebSocket API. Every client message gets an answer on the
 * socket (ack, pong or a clear error); a bad message is answered, never a reason to close the connection.
 */
export function createWebSocketRoutes(deps: {
  connections: ConnectionStore;
  auth: AuthConfig;
  managementClientFor: (event: WebSocketEvent) => ApiGatewayManagementApiClient;
  logger: Logger;
  sendOptions: SendOptions;
  connectionTtlSeconds: number;
  metrics?: AppMetrics;
  now?: () => Date;
}) {
  const now = deps.now ?? (() => new Date());

  /**
   * Verifies ?token= before the connection exists: 401 when missing or invalid, 403 when valid but unusable, 429 when
   * the user already holds the maximum of open connections. Nothing is written on refusal.
   */
  async function onConnect(event: WebSocketEvent): Promise<APIGatewayProxyResult> {
    const { connectionId } = event.requestContext;
    const token = event.queryStringParameters?.token;
    try {
      const principal = await verifyToken(token, deps.auth);
      const connectedAt = (event.requestContext as { connectedAt?: number }).connectedAt ?? now().getTime();
      const ttl = Math.floor(connectedAt / 1000) + deps.connectionTtlSeconds;
      const slots = deps.connections.slots;
      if (slots && !(await slots.take(principal.userId, connectionId, ttl))) {
        deps.logger.info('connection refused', { connectionId, userId: principal.userId, reason: 'too many connections' });
        return reply(429, 'Too many open connections for this user; close one and retry');
      }
      try {
        await deps.connections.save({ connectionId, userId: principal.userId, role: principal.role, connectedAt, ttl });
      } catch (error) {
        // The connection will not exist: give its slot back before failing the handshake.
        await slots?.release(principal.userId, connectionId).catch(() => undefined);
        throw error;
      }
      deps.logger.info('connected', { connectionId, userId: principal.userId });
      deps.metrics?.count(METRIC.connectionsOpened);
      return reply(200);
    } catch (error) {
      if (!(error instanceof TokenError)) throw error;
      deps.logger.info('connection refused', { connectionId, reason: error.reason });
      return reply(error.reason === 'forbidden' ? 403 : 401, error.message);
    }
  }

  async function onDisconnect(event: WebSocketEvent): Promise<APIGatewayProxyResult> {
    const { connectionId } = event.requestContext;
    const removed = await deps.connections.remove(connectionId);
    deps.logger.info('disconnected', { connectionId, rowsRemoved: removed });
    deps.metrics?.count(METRIC.connectionsClosed);
    return reply(200);
  }

  async function answer(event: WebSocketEvent, message: Record<string, unknown>): Promise<void> {
    const { connectionId } = event.requestContext;
    await sendToConnections(deps.managementClientFor(event), [connectionId], JSON.stringify(message), deps.sendOptions, {
      onGone: (id) => deps.connections.remove(id),
      logger: deps.logger,
    });
  }

  async function handle(event: WebSocketEvent, message: ClientMessage): Promise<Record<string, unknown>> {
    const { connectionId } = event.requestContext;
    const timestamp = now().toISOString();
    switch (message.type) {
      case 'ping':
        return { type: 'pong', timestamp };
      case 'subscribe': {
        const connection = await deps.connections.subscribe(connectionId, subscriptionRows(message.subscription));
        if (!connection)
          return {
            type: 'error',
            code: 'UNKNOWN_CONNECTION',
            message: 'This connection is not registered; reconnect with a valid token',
            timestamp,
          };
        const { topics, city, categories, near, batch } = message.subscription;
        return {
          type: 'subscribed',
          topics: [...new Set(topics)],
          city: city ?? null,
          categories: categories ?? [],
          ...(near ? { near } : {}),
          ...(batch ? { batch } : {}),
          timestamp,
        };
      }
      case 'unsubscribe': {
        const removed = await deps.connections.unsubscribe(connectionId, message.topics);
        return { type: 'unsubscribed', topics: message.topics ?? 'all', removed, timestamp };
      }
    }
  }

  async function onMessage(event: WebSocketEvent): Promise<APIGatewayProxyResult> {
    let response: Record<string, unknown>;
    try {
      response = await handle(event, parseClientMessage(event.body));
    } catch (error) {
      if (!(error instanceof ClientMessageError)) throw error;
      response = { type: 'error', code: error.code, message: error.message, timestamp: now().toISOString() };
    }
    await answer(event, response);
    return reply(200);
  }

  return { onConnect, onDisconnect, onMessage };
}
