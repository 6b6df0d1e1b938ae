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
  return error.name === 'TimeoutError' || error.name === 'RequestTimeout' || /ECONNRESET|ETIMEDOUT|socket hang up/i.test(error.message ?? '');
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Posts one payload to many connections through the management API with bounded concurrency. A 410 deletes the
 * connection's records (via `onGone`) and is never retried; 429/5xx are retried with exponential backoff and jitter;
 * every failure is logged. Never throws: a failed notification must not fail the mutation that caused it.
 */
export async function sendToConnections(
  client: ApiGatewayManagementApiClient,
  connectionIds: readonly string[],
  payload: string,
  options: SendOptions,
  deps: { onGone: (connectionId: string) => Promise<unknown>; logger: Logger },
): Promise<SendReport> {
  const data = Buffer.from(payload);
  const report: SendReport = { delivered: [], gone: [], failed: [] };

  async function deliver(connectionId: string): Promise<Outcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
        return 'delivered';
      } catch (caught) {
        const error = caught as SdkError;
        if (isGone(error)) return 'gone';
        const retry = isRetryable(error) && attempt < options.maxAttempts;
        deps.logger.warn('postToConnection failed', { connectionId, attempt, retry, errorName: error.name, statusCode: statusOf(error), message: error.message });
        if (!retry) return { error: `${error.name ?? 'Error'}: ${error.message ?? ''}`, statusCode: statusOf(error) };
        const backoff = options.retryBaseDelayMs * 2 ** (attempt - 1);
        await sleep(backoff / 2 + Math.random() * backoff / 2);
      }
    }
  }

  let next = 0;
  async function worker(): Promise<void> {
    while (next < connectionIds.length) {
      const connectionId = connectionIds[next++];
      const outcome = await deliver(connectionId);
      if (outcome === 'delivered') report.delivered.push(connectionId);
      else if (outcome === 'gone') {
        report.gone.push(connectionId);
        deps.logger.info('connection gone (410), deleting its records', { connectionId });
        try {
          await deps.onGone(connectionId);
        } catch (error) {
          deps.logger.error('could not delete a gone connection', { connectionId, error: error as Error });
        }
      } else report.failed.push({ connectionId, ...outcome });
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.concurrency, connectionIds.length) }, worker));
  return report;
}
