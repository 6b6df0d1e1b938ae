/**
 * An API Gateway HTTP API: requests become payload format 2.0 events, Lambda results become responses
 * (API Gateway developer guide, "Working with AWS Lambda proxy integrations for HTTP APIs").
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { EventLog } from '../../eventLog.js';
import type { HttpLikeRequest, HttpLikeResponse, Invoke } from '../../lambda/types.js';
import { httpApiEvent, requestFacts } from './events.js';
import { closeServer, listen } from '../../common/net.js';
import { isPreflight, preflightHeaders, responseHeaders, withoutCorsHeaders, type CorsConfiguration } from './cors.js';

/** HTTP APIs wait at most 30 s for an integration (API Gateway quotas, "Integration timeout"), then answer 503. */
export const HTTP_API_INTEGRATION_TIMEOUT_MS = 30_000;

/** HTTP APIs take request bodies of at most 10 MB (API Gateway quotas, "Payload size"; not adjustable). */
export const HTTP_API_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

// API Gateway's own answers (developer guide, "Troubleshooting issues with HTTP API Lambda integrations").
const NOT_FOUND = '{"message":"Not Found"}';
/** Over the payload quota: 413 per the quotas page; this body is not documented, it is assumed (FIDELITY.md). */
const REQUEST_TOO_LARGE = '{"message":"Request Entity Too Large"}';
const INTERNAL_SERVER_ERROR = '{"message":"Internal Server Error"}';
const SERVICE_UNAVAILABLE = '{"message":"Service Unavailable"}';

export interface HttpRoute {
  method: string;
  path: string;
  functionName: string;
}

/** Matches "/items/{id}" and "/{proxy+}" style paths; returns the path parameters or undefined. */
export function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const names: string[] = [];
  const regex = new RegExp(
    `^${pattern.replace(/[.*?^$()|[\]\\]/g, '\\$&').replace(/\{([^}+]+)(\+)?\}/g, (_m, name: string, greedy?: string) => {
      names.push(name);
      return greedy ? '(.+)' : '([^/]+)';
    })}$`,
  );
  const match = regex.exec(path);
  if (!match) return undefined;
  return Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(match[i + 1])]));
}

export interface HttpApiOptions {
  invoke: Invoke;
  routes: HttpRoute[];
  apiId: string;
  region: string;
  stage?: string;
  eventLog?: EventLog;
  /**
   * The emulator's own endpoints on the same port (health, Lambda's Invoke API): answers a request it serves, or
   * undefined to let the HTTP API route it. Not part of API Gateway: nothing deployed answers these paths.
   */
  serveLocal?: (request: HttpLikeRequest) => Promise<HttpLikeResponse> | undefined;
  /** provider.httpApi.cors as the Serverless Framework compiles it; undefined = no CORS (nothing added). */
  cors?: CorsConfiguration;
  /** Default 30 s, AWS's maximum for HTTP APIs; tests shorten it. */
  integrationTimeoutMs?: number;
}

export function createHttpApi(options: HttpApiOptions) {
  const stage = options.stage ?? '$default';
  const integrationTimeoutMs = options.integrationTimeoutMs ?? HTTP_API_INTEGRATION_TIMEOUT_MS;
  let server: Server | undefined;

  function findRoute(method: string, path: string): { route: HttpRoute; pathParameters: Record<string, string> } | undefined {
    for (const route of options.routes) {
      if (route.method !== '*' && route.method !== 'ANY' && route.method !== method) continue;
      const pathParameters = matchPath(route.path, path);
      if (pathParameters) return { route, pathParameters };
    }
    return undefined;
  }

  function send(response: ServerResponse, status: number, headers: Record<string, string | string[]>, body: Buffer | string): void {
    response.writeHead(status, headers);
    response.end(body);
  }

  /** Maps a Lambda result back, including payload 2.0's inference for results without a statusCode. */
  function respond(response: ServerResponse, value: unknown, cors: Record<string, string> | undefined): number {
    const result = value as {
      statusCode?: number;
      headers?: Record<string, string>;
      cookies?: string[];
      body?: unknown;
      isBase64Encoded?: boolean;
    } | null;
    if (result === null || typeof result !== 'object' || typeof result.statusCode !== 'number') {
      // No statusCode: API Gateway assumes 200, JSON, and the whole result as the body.
      const body = typeof value === 'string' ? value : JSON.stringify(value ?? null);
      send(response, 200, { 'content-type': 'application/json', ...cors }, body);
      return 200;
    }
    const headers: Record<string, string | string[]> = cors
      ? { ...withoutCorsHeaders(result.headers ?? {}), ...cors }
      : { ...(result.headers ?? {}) };
    if (result.cookies?.length) headers['set-cookie'] = result.cookies;
    const body = result.body === undefined ? '' : typeof result.body === 'string' ? result.body : JSON.stringify(result.body);
    send(response, result.statusCode, headers, result.isBase64Encoded ? Buffer.from(body, 'base64') : body);
    return result.statusCode;
  }

  /** Lambda's answer, or 'integration-timeout' when it is later than the HTTP API waits (the invocation goes on). */
  function invokeWithin(
    functionName: string,
    event: unknown,
    trigger: string,
  ): Promise<Awaited<ReturnType<Invoke>> | 'integration-timeout'> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'integration-timeout'>(
      (resolve) => (timer = setTimeout(() => resolve('integration-timeout'), integrationTimeoutMs)),
    );
    return Promise.race([options.invoke(functionName, event, trigger), timeout]).finally(() => clearTimeout(timer));
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let kept = 0;
    for await (const chunk of request) {
      // Past the payload quota the rest is read but not kept: the answer is a 413 whatever follows, and a client
      // streaming gigabytes must not fill this process's memory.
      if (kept > HTTP_API_MAX_PAYLOAD_BYTES) continue;
      chunks.push(chunk as Buffer);
      kept += (chunk as Buffer).byteLength;
    }
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    const method = request.method ?? 'GET';
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) if (typeof value === 'string') headers[name] = value;
    const body = Buffer.concat(chunks);
    const local = options.serveLocal?.({ method, path: request.url ?? '/', headers, body });
    if (local) {
      const answer = await local;
      send(response, answer.statusCode, answer.headers, Buffer.from(answer.body));
      return;
    }
    const origin = typeof request.headers.origin === 'string' ? request.headers.origin : undefined;
    const cors = options.cors && origin !== undefined ? responseHeaders(options.cors, origin) : undefined;
    let status: number;
    const found = findRoute(method, path);
    if (body.byteLength > HTTP_API_MAX_PAYLOAD_BYTES) {
      status = 413;
      send(response, status, { 'content-type': 'application/json', ...cors }, REQUEST_TOO_LARGE);
    } else if (options.cors && origin !== undefined && isPreflight(method, request.headers)) {
      // With CORS configured, API Gateway answers preflights itself, OPTIONS route or not.
      status = 204;
      send(response, status, preflightHeaders(options.cors, origin), '');
    } else if (!found) {
      status = 404;
      send(response, status, { 'content-type': 'application/json', ...cors }, NOT_FOUND);
    } else {
      const event = httpApiEvent(requestFacts(request), body, found.route, found.pathParameters, {
        apiId: options.apiId,
        region: options.region,
        stage,
      });
      // An event over Lambda's request quota is refused by the invoker, as by Lambda: a failed integration, 500.
      const result = await invokeWithin(found.route.functionName, event, `${method} ${path}`);
      if (result === 'integration-timeout') {
        status = 503;
        send(response, status, { 'content-type': 'application/json', ...cors }, SERVICE_UNAVAILABLE);
      } else if (result.ok) {
        status = respond(response, result.value, cors);
      } else {
        // A function error — including the function's own timeout, which Lambda reports as an error — is a 500.
        status = 500;
        send(response, status, { 'content-type': 'application/json', ...cors }, INTERNAL_SERVER_ERROR);
      }
    }
    options.eventLog?.record({ kind: 'http', method, path, statusCode: status });
  }

  return {
    listen(port: number, host?: string): Promise<{ port: number }> {
      server = createServer(
        (request, response) => void handle(request, response).catch((error: Error) => send(response, 500, {}, error.message)),
      );
      return listen(server, port, host);
    },
    close: (): Promise<void> => closeServer(server),
  };
}
