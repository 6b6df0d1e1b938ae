/**
 * Answers AWS SDK v3 requests for chosen hosts in-process, without a socket. The SDK client still builds,
 * signs and deserializes every request, so a 410 with `x-amzn-ErrorType: GoneException` becomes the SDK's real
 * GoneException. This is how handlers' postToConnection calls reach the emulated management API at tens of
 * thousands of calls per second instead of the ~2,500/s an HTTP hop allows on two cores.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { HttpLikeHandler } from './lambdaTypes.js';

// Patch the copy of the handler the SDK clients actually load (CommonJS, resolved from the client package).
const requireFromSdk = createRequire(createRequire(import.meta.url).resolve('@aws-sdk/client-apigatewaymanagementapi'));
const nodeHttpHandlerPath = requireFromSdk.resolve('@smithy/node-http-handler');
const { NodeHttpHandler } = requireFromSdk(nodeHttpHandlerPath) as { NodeHttpHandler: { prototype: { handle: Handle } } };
const { HttpResponse } = createRequire(nodeHttpHandlerPath)('@smithy/core/protocols') as { HttpResponse: new (init: object) => object };

interface SdkHttpRequest {
  method: string;
  hostname: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: string | Uint8Array | Readable;
}
type Handle = (this: unknown, request: SdkHttpRequest, options?: object) => Promise<{ response: object }>;

interface Route {
  matchHost: (hostname: string) => boolean;
  handle: HttpLikeHandler;
}
const routes = new Set<Route>();
let original: Handle | undefined;

function queryString(query: SdkHttpRequest['query']): string {
  if (!query) return '';
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    for (const v of [value].flat()) parts.push(v === null ? encodeURIComponent(key) : `${encodeURIComponent(key)}=${encodeURIComponent(v)}`);
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
export function installSdkInterceptor(matchHost: (hostname: string) => boolean, handle: HttpLikeHandler): () => void {
  const route: Route = { matchHost, handle };
  routes.add(route);
  if (!original) {
    original = NodeHttpHandler.prototype.handle;
    const passThrough = original;
    NodeHttpHandler.prototype.handle = async function interceptedHandle(request, options) {
      const target = [...routes].find((r) => r.matchHost(request.hostname));
      if (!target) return passThrough.call(this, request, options);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
      const answer = await target.handle({
        method: request.method,
        path: request.path + queryString(request.query),
        headers,
        body: await bodyBytes(request.body),
      });
      return {
        response: new HttpResponse({ statusCode: answer.statusCode, headers: answer.headers, body: Readable.from([Buffer.from(answer.body)]) }),
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
