/**
 * Answers AWS SDK v3 requests for chosen hosts in-process, without a socket. The SDK client still builds,
 * signs and deserializes every request, so a 410 with `x-amzn-ErrorType: GoneException` becomes the SDK's real
 * GoneException. This is how handlers' postToConnection calls reach the emulated management API at tens of
 * thousands of calls per second instead of the ~2,500/s an HTTP hop allows on two cores.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { HttpLikeHandler } from './types.js';

// Patch the copy of the handler the SDK clients actually load (CommonJS, resolved from the client package).
const requireFromSdk = createRequire(createRequire(import.meta.url).resolve('@aws-sdk/client-apigatewaymanagementapi'));
const nodeHttpHandlerPath = requireFromSdk.resolve('@smithy/node-http-handler');
const { NodeHttpHandler } = requireFromSdk(nodeHttpHandlerPath) as { NodeHttpHandler: { prototype: { handle: Handle } } };
const { HttpResponse } = createRequire(nodeHttpHandlerPath)('@smithy/core/protocols') as { HttpResponse: new (init: object) => object };

interface SdkHttpRequest {
  method: string;
  hostname: string;
  port?: number;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: string | Uint8Array | Readable;
}
type Handle = (this: unknown, request: SdkHttpRequest, options?: object) => Promise<{ response: object }>;

/** What the NodeHttpHandler resolves its options to (the fields network time needs). */
interface HandlerConfig {
  requestTimeout?: number;
  throwOnRequestTimeout?: boolean;
}

/**
 * Runs around every AWS call a handler makes, whichever path answers it (the fast path at `send`, the wire
 * interceptor, or a real socket such as DynamoDB's): network time before, call counting after.
 */
export interface CallHooks {
  /** Called as the call starts; what it answers reaches `after` (e.g. which invocation made the call). */
  started(service: string): unknown;
  /** Waits the call's network time; rejects as the SDK would when that exceeds a throwing request timeout. */
  before(service: string, config: HandlerConfig): Promise<void>;
  /** The call to `service` (SigV4's name: execute-api, dynamodb, sqs…) has its answer (or its error). */
  after(service: string, startedBy: unknown): void;
}
let hooks: CallHooks | undefined;

async function configOf(handler: unknown): Promise<HandlerConfig> {
  const h = handler as { config?: HandlerConfig; configProvider?: Promise<HandlerConfig> } | undefined;
  return h?.config ?? (await h?.configProvider) ?? {};
}

/** The service a signed request is for: SigV4's credential scope names it (…/<region>/<service>/aws4_request). */
export function serviceOf(request: { hostname: string; headers: Record<string, string> }): string {
  const authorization = Object.entries(request.headers).find(([name]) => name.toLowerCase() === 'authorization')?.[1] ?? '';
  return /Credential=[^/]+\/\d{8}\/[^/]+\/([^/]+)\/aws4_request/.exec(authorization)?.[1] ?? request.hostname.split('.')[0];
}

async function withHooks<T>(service: string, handler: unknown, call: () => Promise<T>): Promise<T> {
  if (!hooks) return call();
  const active = hooks;
  const startedBy = active.started(service);
  try {
    await active.before(service, await configOf(handler));
    return await call();
  } finally {
    active.after(service, startedBy);
  }
}

/**
 * Installs `callHooks` around every SDK call from this thread. Install after `installSdkInterceptor`, so the hooks
 * wrap the intercepted handler too.
 */
export function installCallHooks(callHooks: CallHooks): void {
  const first = !hooks;
  hooks = callHooks;
  if (!first) return;
  const inner = NodeHttpHandler.prototype.handle;
  NodeHttpHandler.prototype.handle = function hookedHandle(request, options) {
    return withHooks(serviceOf(request), this, () => inner.call(this, request, options));
  };
}

interface Route {
  /** `port` is the request's when its endpoint names one (e.g. the embedded dynalite's http://127.0.0.1:port). */
  matchHost: (hostname: string, port?: number) => boolean;
  handle: HttpLikeHandler;
}
const routes = new Set<Route>();
let original: Handle | undefined;

function queryString(query: SdkHttpRequest['query']): string {
  if (!query) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    for (const v of [value].flat())
      parts.push(v === null ? encodeURIComponent(key) : `${encodeURIComponent(key)}=${encodeURIComponent(v)}`);
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

async function bodyBytes(body: SdkHttpRequest['body']): Promise<Uint8Array> {
  if (body === undefined) return new Uint8Array();
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}

/** Serves requests whose hostname matches with `handle`; all other requests go out as before. Returns an uninstall function. */
export function installSdkInterceptor(matchHost: Route['matchHost'], handle: HttpLikeHandler): () => void {
  const route: Route = { matchHost, handle };
  routes.add(route);
  if (!original) {
    original = NodeHttpHandler.prototype.handle;
    const passThrough = original;
    NodeHttpHandler.prototype.handle = async function interceptedHandle(request, options) {
      const target = [...routes].find((r) => r.matchHost(request.hostname, request.port));
      if (!target) return passThrough.call(this, request, options);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
      // The host names the service the emulator routes to (the SDK sets it; a hand-built request may not).
      headers.host ??= `${request.hostname}${request.port ? `:${request.port}` : ''}`;
      const answer = await target.handle({
        method: request.method,
        path: request.path + queryString(request.query),
        headers,
        body: await bodyBytes(request.body),
      });
      return {
        response: new HttpResponse({
          statusCode: answer.statusCode,
          headers: answer.headers,
          body: Readable.from([Buffer.from(answer.body)]),
        }),
      };
    };
  }
  return () => {
    routes.delete(route);
    if (routes.size === 0 && original) {
      NodeHttpHandler.prototype.handle = original;
      original = undefined;
    }
  };
}

// ——— The fast path: the management client answered at `send`, without serialization, signing or HTTP ———

interface ManagementCommand {
  constructor: { name: string };
  input: { ConnectionId?: string; Data?: string | Uint8Array };
}
type ManagementClient = {
  config: { endpoint: () => Promise<{ hostname: string; path: string }>; requestHandler?: unknown };
  send: (...args: unknown[]) => Promise<unknown>;
};

type ManagementSdk = Record<string, unknown> & {
  ApiGatewayManagementApiClient: { prototype: ManagementClient };
  ApiGatewayManagementApiServiceException: new (init: object) => Error;
};
const patchedPrototypes = new WeakSet<object>();
const harnessSdk = requireFromSdk('@aws-sdk/client-apigatewaymanagementapi') as ManagementSdk;

/**
 * The management SDK a handler file resolves (its own node_modules may hold another copy than the harness's), or
 * undefined when it resolves none (a bundle, or no SDK at all: the HTTPS interceptor serves those).
 */
export function managementSdkFor(handlerFile: string): ManagementSdk | undefined {
  try {
    return createRequire(handlerFile)('@aws-sdk/client-apigatewaymanagementapi') as ManagementSdk;
  } catch {
    return undefined;
  }
}
const METHODS: Record<string, 'POST' | 'GET' | 'DELETE'> = {
  PostToConnectionCommand: 'POST',
  GetConnectionCommand: 'GET',
  DeleteConnectionCommand: 'DELETE',
};
// The service model's modelled errors; anything else is the service's base exception with the wire's error name.
const MODELLED = new Set(['ForbiddenException', 'GoneException', 'LimitExceededException', 'PayloadTooLargeException']);

function sdkError(sdk: ManagementSdk, response: { statusCode: number; headers: Record<string, string>; body: Uint8Array }): Error {
  const name =
    response.headers['x-amzn-errortype']?.split(':')[0] ?? (response.statusCode >= 500 ? 'InternalServerErrorException' : 'UnknownError');
  let message = 'UnknownError';
  try {
    const parsed = JSON.parse(Buffer.from(response.body).toString('utf8')) as { message?: string };
    if (parsed.message) message = parsed.message;
  } catch {
    // an empty body (410) keeps the SDK's "UnknownError"
  }
  const init = {
    name,
    message,
    $fault: response.statusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: response.statusCode, attempts: 1, totalRetryDelay: 0 },
  };
  const Modelled = MODELLED.has(name) ? (sdk[name] as new (init: object) => Error) : undefined;
  return Modelled ? new Modelled(init) : new sdk.ApiGatewayManagementApiServiceException(init);
}

function output(method: string, response: { statusCode: number; body: Uint8Array }): unknown {
  const $metadata = { httpStatusCode: response.statusCode, attempts: 1, totalRetryDelay: 0 };
  if (method !== 'GET') return { $metadata };
  const body = JSON.parse(Buffer.from(response.body).toString('utf8')) as {
    connectedAt: string;
    lastActiveAt: string;
    identity: { sourceIp: string; userAgent?: string };
  };
  return {
    $metadata,
    ConnectedAt: new Date(body.connectedAt),
    LastActiveAt: new Date(body.lastActiveAt),
    Identity: { SourceIp: body.identity.sourceIp, ...(body.identity.userAgent ? { UserAgent: body.identity.userAgent } : {}) },
  };
}

/**
 * Answers ApiGatewayManagementApiClient commands for matching endpoints right at `send`, as aws-sdk-client-mock
 * does, with the SDK's own exception classes (GoneException has name "GoneException" and
 * $metadata.httpStatusCode 410). The SDK's middleware costs ~110 µs a call on two cores, which caps the wire path
 * near 8,000 calls/s; this path serves tens of thousands. `installSdkInterceptor` remains for full wire fidelity.
 */
export function installManagementApiFastPath(
  matchHost: (hostname: string) => boolean,
  handle: HttpLikeHandler,
  sdk: ManagementSdk = harnessSdk,
): () => void {
  const proto = sdk.ApiGatewayManagementApiClient.prototype;
  // The handler's copy is often the harness's own: patch each copy once.
  if (patchedPrototypes.has(proto)) return () => undefined;
  patchedPrototypes.add(proto);
  const originalSend = proto.send;
  const endpoints = new WeakMap<object, Promise<{ hostname: string; path: string }>>();
  proto.send = async function fastSend(this: ManagementClient, ...args: unknown[]) {
    const command = args[0] as ManagementCommand;
    const method = METHODS[command?.constructor?.name];
    if (!method || typeof args[args.length - 1] === 'function') return originalSend.apply(this, args);
    let endpoint = endpoints.get(this);
    if (!endpoint) endpoints.set(this, (endpoint = this.config.endpoint()));
    const { hostname, path } = await endpoint;
    if (!matchHost(hostname)) return originalSend.apply(this, args);
    const { ConnectionId = '', Data } = command.input;
    const response = await withHooks('execute-api', this.config.requestHandler, () =>
      handle({
        method,
        path: `${path.replace(/\/$/, '')}/@connections/${encodeURIComponent(ConnectionId)}`,
        // The fast path stands in for a signed request.
        headers: { authorization: 'AWS4-HMAC-SHA256 emulator-fast-path' },
        body: Data === undefined ? new Uint8Array() : typeof Data === 'string' ? Buffer.from(Data) : Data,
      }),
    );
    if (response.statusCode >= 300) throw sdkError(sdk, response);
    return output(method, response);
  };
  return () => {
    proto.send = originalSend;
    patchedPrototypes.delete(proto);
  };
}
