import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import type { Config } from '../config/env.js';

/** The document client for this container; the endpoint comes from configuration so tests can point it at dynalite. */
export function createDocumentClient(cfg: Pick<Config, 'region' | 'dynamodbEndpoint'>): DynamoDBDocumentClient {
  const client = new DynamoDBClient({
    region: cfg.region,
    ...(cfg.dynamodbEndpoint ? { endpoint: cfg.dynamodbEndpoint } : {}),
  });
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

const managementClients = new Map<string, ApiGatewayManagementApiClient>();

/**
 * One management client per endpoint, reused across warm invocations. Retries are ours (see notifier), so the
 * SDK's own are off: a 410 must never be retried and a 429 gets our backoff, not a second layer of it.
 */
export function managementClient(
  endpoint: string,
  cfg: Pick<Config, 'region'> & { notify: Pick<Config['notify'], 'connectTimeoutMs' | 'requestTimeoutMs'> },
): ApiGatewayManagementApiClient {
  let client = managementClients.get(endpoint);
  if (!client) {
    client = new ApiGatewayManagementApiClient({
      endpoint,
      region: cfg.region,
      maxAttempts: 1,
      // connectionTimeout: an endpoint that never answers the TCP handshake would otherwise hold a post (and the
      // invocation doing the fanout) until the OS gives up, minutes later; requestTimeout bounds the rest — and only
      // with throwOnRequestTimeout does it end the request (without it the SDK logs a warning and keeps waiting).
      requestHandler: {
        connectionTimeout: cfg.notify.connectTimeoutMs,
        requestTimeout: cfg.notify.requestTimeoutMs,
        throwOnRequestTimeout: true,
      },
    });
    managementClients.set(endpoint, client);
  }
  return client;
}

/**
 * The management endpoint for a WebSocket event: configuration wins; otherwise AWS's own domain and stage from the
 * event (a custom domain would need WEBSOCKET_API_ENDPOINT, since its path has no stage).
 */
export function managementEndpoint(configured: string | undefined, requestContext?: { domainName?: string; stage?: string }): string {
  if (configured) return configured;
  if (requestContext?.domainName && requestContext.stage) {
    return `https://${requestContext.domainName}/${requestContext.stage}`;
  }
  throw new Error('WEBSOCKET_API_ENDPOINT is not set and the event carries no domainName/stage');
}
