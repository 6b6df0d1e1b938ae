import { PostToConnectionCommand, type ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import type { Logger } from '@aws-lambda-powertools/logger';

export interface SendOptions {
  concurrency: number;
  maxAttempts: number;
  retryBaseDelayMs: number;
}

export interface SendReport {
  delivered: string[];
  /** Answered 410: the connection is gone and its records were deleted. */
  gone: string[];
  /** Every other failure, after retries where retrying makes sense. */
  failed: Array<{ connectionId: string; error: string; statusCode: number | undefined }>;
}

type Outcome = 'delivered' | 'gone' | { error: string; statusCode: number | undefined };

interface SdkError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** SDK v3 errors carry the status in $metadata.httpStatusCode (there is no `statusCode`). */
const statusOf = (error: SdkError): number | undefined => error.$metadata?.httpStatusCode;

export const isGone = (error: SdkError): boolean => error.name === 'GoneException' || statusOf(error) === 410;

/** Throttling, server errors and timeouts may pass on a later attempt; 403/413/400 will not. */
function isRetryable(error: SdkError): boolean {
  const status = statusOf(error);
  if (status === 429 || error.name === 'LimitExceededException' || error.name === 'ThrottlingException') return true;
  if (status !== undefined) return status >= 500;
  return (
    error.name === 'TimeoutError' || error.name === 'RequestTimeout' || /ECONNRESET|ETIMEDOUT|socket hang up/i.test(error.message ?? '')
  );
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What one connection is to receive, in order. */
export interface Delivery {
  connectionId: string;
  payloads: string[];
}

export interface DeliveryReport {
  /** Connections that received every payload. */
  delivered: string[];
  /** Answered 410: the connection is gone and its records were deleted. */
  gone: string[];
  /** Failed after retries; `retryable` failures (429, 5xx, timeouts) keep the payloads not yet delivered. */
  failed: Array<{ connectionId: string; error: string; statusCode: number | undefined; retryable: boolean; remaining: string[] }>;
  /** Never started because the caller's time ran out (`shouldStop`): hand them to another invocation. */
  undelivered: Delivery[];
  /** postToConnection calls made (attempts included). */
  posts: number;
}

/**
 * Posts each connection its payloads, in order, through the management API with bounded concurrency. A 410
 * deletes the connection's records (via `onGone`) and is never retried; 429/5xx/timeouts are retried with
 * exponential backoff and jitter; every failure is logged. `shouldStop` is asked before each connection is started,
 * so an invocation near its timeout stops taking new work and reports the rest as `undelivered`. Never throws.
 */
export async function sendDeliveries(
  client: ApiGatewayManagementApiClient,
  deliveries: readonly Delivery[],
  options: SendOptions,
  deps: { onGone: (connectionId: string) => Promise<unknown>; logger: Logger; shouldStop?: () => boolean },
): Promise<DeliveryReport> {
  const report: DeliveryReport = { delivered: [], gone: [], failed: [], undelivered: [], posts: 0 };

  async function post(connectionId: string, data: Uint8Array): Promise<Outcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        report.posts++;
        await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
        return 'delivered';
      } catch (caught) {
        const error = caught as SdkError;
        if (isGone(error)) return 'gone';
        const retry = isRetryable(error) && attempt < options.maxAttempts;
        deps.logger.warn('postToConnection failed', {
          connectionId,
          attempt,
          retry,
          errorName: error.name,
          statusCode: statusOf(error),
          // Not `message`: Powertools reserves it for the line's own message and drops the field (with a warning).
          errorMessage: error.message,
        });
        if (!retry) return { error: `${error.name ?? 'Error'}: ${error.message ?? ''}`, statusCode: statusOf(error) };
        const backoff = options.retryBaseDelayMs * 2 ** (attempt - 1);
        await sleep(backoff / 2 + (Math.random() * backoff) / 2);
      }
    }
  }

  const encoded = new Map<string, Uint8Array>();
  const bytes = (payload: string): Uint8Array => {
    let data = encoded.get(payload);
    if (!data) encoded.set(payload, (data = Buffer.from(payload)));
    return data;
  };

  async function deliver(delivery: Delivery): Promise<void> {
    for (let i = 0; i < delivery.payloads.length; i++) {
      const outcome = await post(delivery.connectionId, bytes(delivery.payloads[i]));
      if (outcome === 'delivered') continue;
      if (outcome === 'gone') {
        report.gone.push(delivery.connectionId);
        deps.logger.info('connection gone (410), deleting its records', { connectionId: delivery.connectionId });
        try {
          await deps.onGone(delivery.connectionId);
        } catch (error) {
          deps.logger.error('could not delete a gone connection', { connectionId: delivery.connectionId, error: error as Error });
        }
        return;
      }
      const retryable = outcome.statusCode === undefined || outcome.statusCode === 429 || outcome.statusCode >= 500;
      report.failed.push({ connectionId: delivery.connectionId, ...outcome, retryable, remaining: delivery.payloads.slice(i) });
      return;
    }
    report.delivered.push(delivery.connectionId);
  }

  let next = 0;
  async function worker(): Promise<void> {
    while (next < deliveries.length) {
      if (deps.shouldStop?.()) {
        report.undelivered.push(...deliveries.slice(next));
        next = deliveries.length;
        return;
      }
      await deliver(deliveries[next++]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.concurrency, deliveries.length) }, worker));
  return report;
}

/** One payload to many connections (acknowledgements, single messages): `sendDeliveries` with one payload each. */
export async function sendToConnections(
  client: ApiGatewayManagementApiClient,
  connectionIds: readonly string[],
  payload: string,
  options: SendOptions,
  deps: { onGone: (connectionId: string) => Promise<unknown>; logger: Logger },
): Promise<SendReport> {
  const report = await sendDeliveries(
    client,
    connectionIds.map((connectionId) => ({ connectionId, payloads: [payload] })),
    options,
    deps,
  );
  return {
    delivered: report.delivered,
    gone: report.gone,
    failed: report.failed.map(({ connectionId, error, statusCode }) => ({ connectionId, error, statusCode })),
  };
}
