/**
 * Catches HTTPS requests to chosen hosts below any SDK: `https.request` (which every copy of the AWS SDK's node
 * HTTP handler calls at request time, bundled or not) is wrapped so that a request to an intercepted host is served
 * by an in-process HTTP server over an in-memory socket pair. The SDK copy a handler resolved — its own
 * node_modules, a bundle — still builds, signs and parses a real HTTP exchange; only the network is replaced.
 */
import https from 'node:https';
import { createServer, request as httpRequest, type IncomingMessage, type RequestOptions, type ServerResponse } from 'node:http';
import { duplexPair } from 'node:stream';
import { syncBuiltinESMExports } from 'node:module';
import type { HttpLikeHandler } from './types.js';

type HttpsRequest = typeof https.request;

let original: HttpsRequest | undefined;
const routes = new Set<{ matchHost: (hostname: string) => boolean; server: ReturnType<typeof createServer> }>();

function hostnameOf(args: unknown[]): string | undefined {
  const [first, second] = args;
  if (typeof first === 'string' || first instanceof URL) return new URL(first).hostname;
  const options = (first ?? second) as RequestOptions | undefined;
  return (options?.hostname ?? options?.host ?? undefined)?.replace(/:\d+$/, '');
}

/** Serves HTTPS requests whose hostname matches with `handle`. Returns an uninstall function. */
export function installHttpsInterceptor(matchHost: (hostname: string) => boolean, handle: HttpLikeHandler): () => void {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) if (typeof value === 'string') headers[name] = value;
      void handle({ method: request.method ?? 'GET', path: request.url ?? '/', headers, body: Buffer.concat(chunks) }).then(
        (answer) => {
          response.writeHead(answer.statusCode, answer.headers);
          response.end(Buffer.from(answer.body));
        },
        (error: Error) => {
          response.writeHead(500, { 'x-amzn-errortype': 'InternalServerErrorException' });
          response.end(error.message);
        },
      );
    });
  });
  const route = { matchHost, server };
  routes.add(route);
  if (!original) {
    const passThrough = https.request;
    original = passThrough;
    https.request = function interceptedRequest(this: unknown, ...args: unknown[]) {
      const hostname = hostnameOf(args);
      const target = hostname ? [...routes].find((r) => r.matchHost(hostname)) : undefined;
      if (!target) return (passThrough as (...a: unknown[]) => ReturnType<HttpsRequest>).apply(this, args);
      const [first, second, third] = args;
      const fromUrl = typeof first === 'string' || first instanceof URL ? new URL(first) : undefined;
      const options: RequestOptions = {
        ...(fromUrl ? { path: fromUrl.pathname + fromUrl.search, method: 'GET' } : {}),
        ...((fromUrl ? second : first) as RequestOptions),
      };
      const callback = (fromUrl ? (typeof second === 'function' ? second : third) : second) as ((res: IncomingMessage) => void) | undefined;
      // Plain HTTP over an in-memory socket: TLS would only encrypt bytes that never leave the process.
      const { agent: _agent, ...rest } = options;
      return httpRequest(
        {
          ...rest,
          protocol: 'http:',
          // No agent: with createConnection and no agent, node:http uses the given socket (agent: false would not).
          agent: undefined,
          createConnection: () => {
            const [client, serverSide] = duplexPair();
            target.server.emit('connection', serverSide);
            return client;
          },
        },
        callback,
      );
    } as HttpsRequest;
    // ESM code that imported `request` by name sees the wrapper too.
    syncBuiltinESMExports();
  }
  return () => {
    routes.delete(route);
    if (routes.size === 0 && original) {
      https.request = original;
      original = undefined;
      syncBuiltinESMExports();
    }
  };
}
