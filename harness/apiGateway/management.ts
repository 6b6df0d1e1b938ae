/**
 * The API Gateway Management API (`@connections`), one request handler for both the real port and in-process
 * SDK calls. Answers follow the apigatewaymanagementapi service model in AWS SDK for JavaScript v3: POST → 200,
 * GET → 200 `{connectedAt, identity:{sourceIp,userAgent}, lastActiveAt}`, DELETE → 204; errors carry
 * `x-amzn-ErrorType` so the SDK raises GoneException (410, empty body), PayloadTooLargeException (413),
 * LimitExceededException (429), ForbiddenException (403) and BadRequestException (400) by name.
 */
import type { Clock } from '../clock.js';
import type { EventLog } from '../eventLog.js';
import type { HttpLikeHandler, HttpLikeRequest, HttpLikeResponse } from '../lambda/types.js';
import { observed } from './observed.js';
import { isWellFormedConnectionId } from './websocket/events.js';
import { websocketApiLimits } from '../common/awsDefaults.js';
import { createTokenBucket, type TokenBucket } from '../common/tokenBucket.js';

const MAX_POST_BYTES = websocketApiLimits.maxPostBytes;

/** What the management API needs from the WebSocket API's connection registry. */
export interface ConnectionRegistry {
  /** 'open' connections accept posts; 'connecting' ones are still in $connect; undefined = gone. */
  state(connectionId: string): 'connecting' | 'open' | undefined;
  info(connectionId: string): { connectedAt: number; lastActiveAt: number; sourceIp: string; userAgent: string | undefined } | undefined;
  /** False when the connection turned out to be gone (the post answers 410). */
  send(connectionId: string, data: Uint8Array): boolean;
  close(connectionId: string): void;
  /** A fault queued for this connection's next post, if any (410/429/500…). */
  takePostFault(connectionId: string): number | undefined;
}

export interface ThrottleSettings {
  /** Steady-state requests per second (AWS account default: 10,000). */
  rate: number;
  /** Bucket size (AWS default: 5,000). */
  burst: number;
}

const ERROR_TYPES: Record<number, string> = {
  400: 'BadRequestException',
  403: 'ForbiddenException',
  410: 'GoneException',
  413: 'PayloadTooLargeException',
  429: 'LimitExceededException',
  500: 'InternalServerErrorException',
};

function error(statusCode: number, message?: string): HttpLikeResponse {
  const errorType = ERROR_TYPES[statusCode] ?? 'InternalServerErrorException';
  return {
    statusCode,
    headers: { 'x-amzn-errortype': errorType, 'content-type': 'application/json' },
    // 410 comes with an empty body, as API Gateway sends it.
    body: message === undefined ? new Uint8Array() : Buffer.from(JSON.stringify({ message })),
  };
}

/** `/{stage}/@connections/{id}` or `/@connections/{id}` (custom domain) → the decoded id, or undefined. */
export function connectionIdFromPath(path: string, stage: string): string | undefined {
  const pathname = path.split('?')[0];
  const match = /^(?:\/([^/]+))?\/@connections\/([^/]*)$/.exec(pathname);
  if (!match || (match[1] !== undefined && match[1] !== stage)) return undefined;
  try {
    return decodeURIComponent(match[2]);
  } catch {
    return '';
  }
}

export function createManagementApi(options: {
  connections: ConnectionRegistry;
  stage: string;
  clock: Clock;
  eventLog?: EventLog;
  throttle?: ThrottleSettings;
}) {
  const { connections, clock } = options;
  let throttle: TokenBucket | undefined = options.throttle && createTokenBucket(options.throttle, clock.now);
  const throttled = (): boolean => (throttle ? !throttle.take() : false);

  function answer(request: HttpLikeRequest, connectionId: string): HttpLikeResponse {
    if (!request.headers.authorization) return error(403, 'Missing Authentication Token');
    if (!isWellFormedConnectionId(connectionId)) return error(400, `Invalid connectionId: ${connectionId}`);
    if (throttled()) return error(429, 'Rate exceeded');
    const state = connections.state(connectionId);
    if (state === undefined) return error(410);
    if (state === 'connecting') return error(observed.postDuringConnectStatus);
    const fault = request.method === 'POST' ? connections.takePostFault(connectionId) : undefined;
    if (fault !== undefined) return error(fault, fault === 410 ? undefined : `Injected fault ${fault}`);
    switch (request.method) {
      case 'POST': {
        if (request.body.byteLength > MAX_POST_BYTES) return error(413, 'Request Entity Too Large');
        if (!connections.send(connectionId, request.body)) return error(410);
        return { statusCode: 200, headers: {}, body: new Uint8Array() };
      }
      case 'GET': {
        const info = connections.info(connectionId)!;
        const body = {
          connectedAt: new Date(info.connectedAt).toISOString(),
          identity: { sourceIp: info.sourceIp, ...(info.userAgent ? { userAgent: info.userAgent } : {}) },
          lastActiveAt: new Date(info.lastActiveAt).toISOString(),
        };
        return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) };
      }
      case 'DELETE':
        connections.close(connectionId);
        return { statusCode: 204, headers: {}, body: new Uint8Array() };
      default:
        return error(403, 'Missing Authentication Token');
    }
  }

  const handle: HttpLikeHandler = async (request) => {
    const connectionId = connectionIdFromPath(request.path, options.stage);
    if (connectionId === undefined) {
      return { statusCode: 404, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"message":"Not Found"}') };
    }
    const response = answer(request, connectionId);
    const method = request.method as 'POST' | 'GET' | 'DELETE';
    options.eventLog?.record({
      kind: 'management',
      method,
      connectionId,
      statusCode: response.statusCode,
      ...(response.statusCode >= 400 ? { errorType: response.headers['x-amzn-errortype'] } : {}),
      ...(method === 'POST' ? { bytes: request.body.byteLength } : {}),
    });
    return response;
  };

  return {
    handle,
    /** Turns the account-level @connections throttle on (AWS: 10,000 rps, burst 5,000) or off (undefined). */
    setThrottle(settings: ThrottleSettings | undefined): void {
      throttle = settings && createTokenBucket(settings, clock.now);
    },
  };
}

export type ManagementApi = ReturnType<typeof createManagementApi>;
