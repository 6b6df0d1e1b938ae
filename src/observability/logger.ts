import type { Context } from 'aws-lambda';
import { Logger } from '@aws-lambda-powertools/logger';

/** A JWT: three base64url parts, the header a JSON object (so it starts `eyJ`, base64 of `{"`). */
const JWT = /eyJ[\w-]*\.[\w-]+\.[\w-]*/g;
/** Fields whose value is a credential whatever it looks like. */
const SECRET_FIELDS = /^(token|authorization|jwt_?secret|password|cookie|sec-websocket-protocol)$/i;

/**
 * Keeps credentials out of the logs: a field named like a credential is replaced, and a JWT anywhere in a string
 * (an error message quoting a header, a logged query string, an event logged with POWERTOOLS_LOGGER_LOG_EVENT) is cut
 * out. Applied by the logger to every key of every line, nested ones included.
 */
export function redact(key: string, value: unknown): unknown {
  if (SECRET_FIELDS.test(key) && value !== undefined && value !== null && value !== '') return '[redacted]';
  if (typeof value === 'string' && value.includes('eyJ')) return value.replace(JWT, '[redacted JWT]');
  return value;
}

/** One structured JSON logger per container; LOG_LEVEL and POWERTOOLS_SERVICE_NAME come from the environment. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'perkup', jsonReplacerFn: redact });

interface ApiGatewayEventFacts {
  requestContext?: { routeKey?: string; connectionId?: string; requestId?: string };
}

/**
 * Wraps a Lambda handler so each of its log lines carries the invocation's request id (Lambda's context) and, for
 * API Gateway events, the route, the connection id and API Gateway's request id; the keys are dropped when the
 * invocation ends so a warm container's next invocation does not inherit them. Powertools' injectLambdaContext does
 * this for Middy or decorators; the handlers here are plain functions.
 */
export function withLogContext<E, R, A extends unknown[]>(
  handler: (event: E, context: Context, ...rest: A) => R | Promise<R>,
): (event: E, context?: Context, ...rest: A) => Promise<R> {
  return async (event, context, ...rest) => {
    // Lambda always passes a context; tests that call a handler directly may not (the handler then gets none either).
    if (context?.awsRequestId) logger.addContext(context);
    const facts = (event as ApiGatewayEventFacts | undefined)?.requestContext;
    logger.appendKeys({
      ...(facts?.routeKey ? { route: facts.routeKey } : {}),
      ...(facts?.connectionId ? { connectionId: facts.connectionId } : {}),
      ...(facts?.requestId ? { apiRequestId: facts.requestId } : {}),
    });
    // POWERTOOLS_LOGGER_LOG_EVENT=true logs each incoming event (tokens redacted), as Powertools' injectLambdaContext does.
    logger.logEventIfEnabled(event);
    try {
      return await handler(event, context as Context, ...rest);
    } finally {
      logger.resetKeys();
    }
  };
}
