/**
 * DynamoDB requests served without a socket. dynalite is an HTTP request handler (req, res); these stand-ins let
 * the provider hand it a request that arrived as bytes over a MessagePort (a Lambda container's SDK call) or from
 * the emulator's own SDK client, and collect its answer. Why: on two cores each request over loopback HTTP cost
 * more than dynalite's own work (the HTTP server and client, and the `writev` of every answer, which wakes the
 * other thread), and it capped handshakes and subscribes near 100/s. The bytes are the DynamoDB wire protocol
 * either way: the SDK still serializes and signs the request and parses the answer.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpLikeHandler, HttpLikeRequest, HttpLikeResponse } from '../lambda/types.js';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A request whose body arrives as one 'data' event and 'end', emitted by `deliver` once the listener has attached
 * its handlers (dynalite and the provider's proxy attach them synchronously).
 */
export function bodyRequest(
  init: { headers: IncomingMessage['headers']; method: string | undefined; url: string | undefined },
  body: Uint8Array,
): { req: IncomingMessage; deliver(): void } {
  const req = Object.assign(new EventEmitter(), init) as unknown as IncomingMessage;
  return {
    req,
    deliver() {
      if (body.length) req.emit('data', Buffer.from(body.buffer, body.byteOffset, body.byteLength));
      req.emit('end');
    },
  };
}

/** The part of ServerResponse dynalite and the provider use, collecting the answer instead of writing it. */
class CollectedResponse extends EventEmitter {
  statusCode = 200;
  /** dynalite stores the content type it answers with here. */
  contentType?: string;
  readonly headers: Record<string, string> = {};
  constructor(private readonly done: (response: HttpLikeResponse) => void) {
    super();
  }
  setHeader(name: string, value: string | number): this {
    this.headers[name.toLowerCase()] = String(value);
    return this;
  }
  getHeader(name: string): string | undefined {
    return this.headers[name.toLowerCase()];
  }
  writeHead(statusCode: number, headers: Record<string, string | number> = {}): this {
    this.statusCode = statusCode;
    for (const [name, value] of Object.entries(headers)) this.setHeader(name, value);
    return this;
  }
  end(chunk?: string | Uint8Array): this {
    const body = chunk === undefined ? new Uint8Array() : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    // 'finish' first, as a socket's response finishes before its client reads the answer.
    this.emit('finish');
    this.done({ statusCode: this.statusCode, headers: this.headers, body });
    return this;
  }
}

/** Runs `listener` on `request` in this thread and resolves with what it answered. */
export function serveInProcess(listener: RequestListener, request: HttpLikeRequest): Promise<HttpLikeResponse> {
  return new Promise((resolve) => {
    const { req, deliver } = bodyRequest({ headers: request.headers, method: request.method, url: request.path }, request.body);
    const res = new CollectedResponse(resolve);
    listener(req, res as unknown as ServerResponse);
    deliver();
  });
}

type HttpResponseClass = new (init: { statusCode: number; headers: Record<string, string>; body: Uint8Array }) => object;
let httpResponseClass: HttpResponseClass | undefined;
/**
 * The SDK's HttpResponse, from the copy the DynamoDB client loads; required on first use, as the SDK itself is
 * (sdk.ts: not part of the emulator's start-up before the containers' init begins).
 */
function sdkHttpResponse(): HttpResponseClass {
  if (httpResponseClass) return httpResponseClass;
  const requireFromSdk = createRequire(createRequire(import.meta.url).resolve('@aws-sdk/client-dynamodb'));
  httpResponseClass = (
    createRequire(requireFromSdk.resolve('@smithy/node-http-handler'))('@smithy/core/protocols') as { HttpResponse: HttpResponseClass }
  ).HttpResponse;
  return httpResponseClass;
}

interface SdkRequest {
  method: string;
  hostname: string;
  port?: number;
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
}

/**
 * An SDK `requestHandler` that answers in this thread with `handle`: the emulator's own DynamoDB client (table
 * creation, stream images, index copies, TTL sweeps) talks to the embedded dynalite without a socket.
 */
export function inProcessRequestHandler(handle: HttpLikeHandler) {
  return {
    metadata: { handlerProtocol: 'http/1.1' },
    async handle(request: SdkRequest): Promise<{ response: object }> {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
      headers.host ??= `${request.hostname}${request.port ? `:${request.port}` : ''}`;
      const body =
        request.body === undefined ? new Uint8Array() : typeof request.body === 'string' ? Buffer.from(request.body) : request.body;
      const answer = await handle({ method: request.method, path: request.path, headers, body });
      return { response: new (sdkHttpResponse())({ statusCode: answer.statusCode, headers: answer.headers, body: answer.body }) };
    },
    updateHttpClientConfig(): void {},
    httpHandlerConfigs(): Record<string, never> {
      return {};
    },
    destroy(): void {},
  };
}
