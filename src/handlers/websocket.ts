import type { APIGatewayProxyResult } from 'aws-lambda';
import { createApp } from '../app.js';
import { withMetrics } from '../observability/metrics.js';
import { withLogContext } from '../observability/logger.js';
import { managementClient, managementEndpoint } from '../aws/clients.js';
import { createWebSocketRoutes, type WebSocketEvent } from '../realtime/websocketRoutes.js';

// Built once per container and reused by warm invocations.
const app = createApp();
const routes = createWebSocketRoutes({
  connections: app.connections,
  auth: app.cfg.auth,
  managementClientFor: (event) => managementClient(managementEndpoint(app.cfg.websocketApiEndpoint, event.requestContext), app.cfg),
  logger: app.logger,
  sendOptions: app.sendOptions,
  connectionTtlSeconds: app.cfg.connectionTtlSeconds,
  metrics: app.metrics,
});

/** Lambda entry for the WebSocket API's $connect, $disconnect and $default routes. */
// Log lines carry the invocation's request id (and route, connection id); metrics are flushed once per invocation.
export const handler = withLogContext(
  withMetrics(async (event: WebSocketEvent): Promise<APIGatewayProxyResult> => {
    switch (event.requestContext.routeKey) {
      case '$connect':
        return routes.onConnect(event);
      case '$disconnect':
        return routes.onDisconnect(event);
      default:
        return routes.onMessage(event);
    }
  }),
);
