/**
 * The upgrade request's fate before and after `$connect`: API Gateway refuses a malformed handshake itself (no
 * `$connect`, no connection), maps `$connect`'s result to the handshake's status, and answers a refusal as plain
 * HTTP. `ws` and node:http only carry the bytes.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { InvocationResult } from '../../lambda/types.js';
import { observed } from '../observed.js';

export interface Refusal {
  status: number;
  message: string;
  headers?: Record<string, string>;
}

/**
 * RFC 6455 §4.2.1: a GET with `Upgrade: websocket`, a `Sec-WebSocket-Key` of 16 base64 bytes and
 * `Sec-WebSocket-Version: 13`. Anything else is refused before `$connect` runs, as API Gateway does.
 */
export function malformedUpgrade(request: IncomingMessage): Refusal | undefined {
  if (request.method !== 'GET') return { status: 400, message: 'Bad Request' };
  if ((request.headers.upgrade ?? '').toLowerCase() !== 'websocket') return { status: 400, message: 'Bad Request' };
  const key = request.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !/^[A-Za-z0-9+/]{22}==$/.test(key.trim())) return { status: 400, message: 'Bad Request' };
  // §4.2.2: a version the server does not speak is answered 426 with the version it does.
  if (request.headers['sec-websocket-version'] !== '13')
    return { status: 426, message: 'Upgrade Required', headers: { 'Sec-WebSocket-Version': '13' } };
  return undefined;
}

/** `$connect`'s result: 2xx opens (echoing a returned `Sec-WebSocket-Protocol`), any other status refuses with it. */
export function connectOutcome(result: InvocationResult): Refusal | { protocol?: string } {
  if (!result.ok) return { status: observed.connectIntegrationErrorStatus, message: 'Internal server error' };
  const value = result.value as { statusCode?: number; headers?: Record<string, string> } | null;
  const status = typeof value?.statusCode === 'number' ? value.statusCode : 200;
  if (status < 200 || status > 299) return { status, message: STATUS_CODES[status] ?? 'Error' };
  const header = Object.entries(value?.headers ?? {}).find(([name]) => name.toLowerCase() === 'sec-websocket-protocol');
  return header ? { protocol: header[1] } : {};
}

/** Answers the upgrade request with a plain HTTP status and a JSON body, then closes the socket. */
export function refuseUpgrade(socket: Duplex, refusal: Refusal, connectionId?: string): void {
  const body = JSON.stringify({ message: refusal.message, ...(connectionId ? { connectionId } : {}) });
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? 'Error'}\r\n` +
      Object.entries(refusal.headers ?? {})
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('') +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
