/**
 * HTTP API payload format 2.0 events, field by field as API Gateway sends them (API Gateway developer guide,
 * "Working with AWS Lambda proxy integrations for HTTP APIs"). Built from transport-neutral request facts, so the
 * emulator's port and tests that call handlers directly produce the same events.
 */
import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import { ACCOUNT_ID } from '../../common/awsDefaults.js';
import { sourceIpOf } from '../../common/net.js';
import { requestTime } from '../websocket/events.js';

/** What an HTTP request carries that the event needs. */
export interface HttpRequestFacts {
  method: string;
  /** Path and query string, e.g. "/graphql?x=1". */
  url: string;
  /** Header names as the client sent them, alternating with their values (node:http's rawHeaders). */
  rawHeaders: string[];
  httpVersion: string;
  sourceIp: string;
}

export interface HttpApiIdentity {
  apiId: string;
  region: string;
  stage: string;
}

export const requestFacts = (request: IncomingMessage): HttpRequestFacts => ({
  method: request.method ?? 'GET',
  url: request.url ?? '/',
  rawHeaders: request.rawHeaders,
  httpVersion: request.httpVersion,
  sourceIp: sourceIpOf(request.socket),
});

// Bodies of these types reach the function as text; anything else is base64, as API Gateway does.
const TEXTUAL = /^(text\/|application\/(json|javascript|xml|x-www-form-urlencoded|graphql)|[^;]*\+(json|xml))/i;

export function httpApiEvent(
  request: HttpRequestFacts,
  body: Buffer,
  route: { method: string; path: string },
  pathParameters: Record<string, string>,
  api: HttpApiIdentity,
  now = Date.now(),
) {
  const url = new URL(request.url, 'http://localhost');
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    const name = request.rawHeaders[i].toLowerCase();
    const value = request.rawHeaders[i + 1];
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((c) => c.trim())
          .filter(Boolean),
      );
      continue;
    }
    // Duplicate headers are joined with commas in payload 2.0.
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  const queryStringParameters: Record<string, string> = {};
  for (const [key, value] of url.searchParams)
    queryStringParameters[key] = queryStringParameters[key] === undefined ? value : `${queryStringParameters[key]},${value}`;
  const requestId = randomBytes(12).toString('base64').replace(/[+/]/g, 'A');
  const textual = TEXTUAL.test(headers['content-type'] ?? 'text/plain');
  const routeKey = `${route.method} ${route.path}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies.length ? { cookies } : {}),
    headers,
    ...(url.search ? { queryStringParameters } : {}),
    ...(Object.keys(pathParameters).length ? { pathParameters } : {}),
    requestContext: {
      accountId: ACCOUNT_ID,
      apiId: api.apiId,
      domainName: `${api.apiId}.execute-api.${api.region}.amazonaws.com`,
      domainPrefix: api.apiId,
      http: {
        method: request.method,
        path: url.pathname,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId,
      routeKey,
      stage: api.stage,
      time: requestTime(now),
      timeEpoch: now,
    },
    ...(body.length ? { body: textual ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: body.length > 0 && !textual,
  };
}
