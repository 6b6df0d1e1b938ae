/**
 * Lambda proxy events of an API Gateway WebSocket API, field by field as AWS sends them (API Gateway developer
 * guide, "WebSocket API Lambda integration", and aws-lambda-go's apigw-websocket test events).
 */
import { randomBytes } from 'node:crypto';

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const randomId = (length: number): string => [...randomBytes(length)].map((b) => ID_ALPHABET[b % ID_ALPHABET.length]).join('');

/** Looks like AWS's: 15 characters and a trailing "=", e.g. "L0SM9cOFvHcCIhw=". */
export const newConnectionId = (): string => `${randomId(15)}=`;
export const newRequestId = (): string => `${randomId(15)}=`;
/** Connection ids are base64-ish; anything else is a malformed id (400 on the management API). */
export const isWellFormedConnectionId = (id: string): boolean => /^[A-Za-z0-9+/_-]{1,64}={0,2}$/.test(id);

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');

/** CLF-style time, as in requestContext.requestTime: "20/Jan/2024:11:55:00 +0000". */
export function requestTime(epochMs: number): string {
  const d = new Date(epochMs);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

export interface ApiIdentity {
  apiId: string;
  stage: string;
  region: string;
}

export interface ConnectionFacts {
  connectionId: string;
  connectedAt: number;
  sourceIp: string;
  userAgent: string | undefined;
  /** `{principalId, ...context}` from the $connect authorizer, repeated on every later event. */
  authorizer: Record<string, unknown> | undefined;
}

export const domainNameOf = (api: ApiIdentity): string => `${api.apiId}.execute-api.${api.region}.amazonaws.com`;

function requestContext(api: ApiIdentity, connection: ConnectionFacts, routeKey: string, eventType: string, now: number) {
  const requestId = newRequestId();
  return {
    routeKey,
    eventType,
    extendedRequestId: requestId,
    requestTime: requestTime(now),
    messageDirection: 'IN',
    stage: api.stage,
    connectedAt: connection.connectedAt,
    requestTimeEpoch: now,
    identity: { sourceIp: connection.sourceIp, ...(connection.userAgent ? { userAgent: connection.userAgent } : {}) },
    requestId,
    domainName: domainNameOf(api),
    connectionId: connection.connectionId,
    apiId: api.apiId,
    ...(connection.authorizer ? { authorizer: connection.authorizer } : {}),
  };
}

/** Single- and multi-value maps, as API Gateway builds them (the single map keeps the last value). */
function singleAndMulti(entries: Array<[string, string]>): { single: Record<string, string>; multi: Record<string, string[]> } {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [key, value] of entries) {
    single[key] = value;
    (multi[key] ??= []).push(value);
  }
  return { single, multi };
}

export interface HandshakeRequest {
  /** Header names as the client sent them. */
  rawHeaders: string[];
  /** The query string without "?" ('' when none). */
  query: string;
}

/** The headers API Gateway passes on CONNECT: the client's, with Host set to the API's domain and its own X-* added. */
export function connectHeaders(api: ApiIdentity, request: HandshakeRequest, sourceIp: string): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i];
    const lower = name.toLowerCase();
    // Hop-by-hop headers do not reach the integration; Host is API Gateway's own.
    if (['connection', 'upgrade', 'host'].includes(lower)) continue;
    entries.push([name, request.rawHeaders[i + 1]]);
  }
  entries.unshift(['Host', domainNameOf(api)]);
  entries.push(
    ['X-Amzn-Trace-Id', `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`],
    ['X-Forwarded-For', sourceIp],
    ['X-Forwarded-Port', '443'],
    ['X-Forwarded-Proto', 'https'],
  );
  return entries;
}

export function connectEvent(api: ApiIdentity, connection: ConnectionFacts, request: HandshakeRequest, now: number) {
  const headers = singleAndMulti(connectHeaders(api, request, connection.sourceIp));
  const query = request.query ? singleAndMulti([...new URLSearchParams(request.query)]) : undefined;
  return {
    headers: headers.single,
    multiValueHeaders: headers.multi,
    ...(query ? { queryStringParameters: query.single, multiValueQueryStringParameters: query.multi } : {}),
    requestContext: requestContext(api, connection, '$connect', 'CONNECT', now),
    isBase64Encoded: false,
  };
}

export function messageEvent(api: ApiIdentity, connection: ConnectionFacts, routeKey: string, body: string, now: number) {
  return {
    requestContext: { ...requestContext(api, connection, routeKey, 'MESSAGE', now), messageId: `${randomId(15)}=` },
    body,
    isBase64Encoded: false,
  };
}

export function disconnectEvent(api: ApiIdentity, connection: ConnectionFacts, statusCode: number, reason: string, now: number) {
  // AWS's DISCONNECT carries a minimal, fixed header set.
  const headers = singleAndMulti([
    ['Host', domainNameOf(api)],
    ['x-api-key', ''],
    ['X-Forwarded-For', ''],
    ['x-restapi', ''],
  ]);
  return {
    headers: headers.single,
    multiValueHeaders: headers.multi,
    requestContext: {
      ...requestContext(api, connection, '$disconnect', 'DISCONNECT', now),
      disconnectStatusCode: statusCode,
      disconnectReason: reason,
    },
    isBase64Encoded: false,
  };
}

/** The REQUEST authorizer event for $connect. */
export function authorizerEvent(api: ApiIdentity, connection: ConnectionFacts, request: HandshakeRequest, now: number, accountId: string) {
  const connect = connectEvent(api, connection, request, now);
  return {
    type: 'REQUEST',
    methodArn: `arn:aws:execute-api:${api.region}:${accountId}:${api.apiId}/${api.stage}/$connect`,
    headers: connect.headers,
    multiValueHeaders: connect.multiValueHeaders,
    queryStringParameters: connect.queryStringParameters ?? {},
    multiValueQueryStringParameters: connect.multiValueQueryStringParameters ?? {},
    stageVariables: {},
    requestContext: connect.requestContext,
  };
}
