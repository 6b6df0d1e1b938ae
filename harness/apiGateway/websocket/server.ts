/**
 * The WebSocket API's port, as transport only: node:http serves `@connections` requests and hands upgrade requests
 * over; `ws` completes a handshake once the API has decided to accept it. No API Gateway rule lives here.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { HttpLikeHandler } from '../../lambda/types.js';
import { websocketApiLimits } from '../../common/awsDefaults.js';
import { closeServer, listen } from '../../common/net.js';

type WithProtocol = IncomingMessage & { selectedProtocol?: string };

export function createWebSocketPort(handlers: {
  /** Decides the fate of an upgrade request; calls `accept` to open it or answers the socket itself. */
  onUpgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** The management API (`@connections`), served on the same port as on AWS. */
  management: HttpLikeHandler;
}) {
  // Made when the port opens: `ws` loads then, not with the emulator's modules (start-up does not wait for it
  // before the Lambda containers' init begins). No upgrade can arrive before.
  let wss: WebSocketServer | undefined;
  async function webSocketServer(): Promise<WebSocketServer> {
    const { WebSocketServer } = await import('ws');
    return new WebSocketServer({
      noServer: true,
      maxPayload: websocketApiLimits.maxMessageBytes,
      // The subprotocol $connect returned, if any, is echoed; otherwise none is selected.
      handleProtocols: (_protocols, request) => (request as WithProtocol).selectedProtocol ?? false,
    });
  }

  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(request.headers)) if (typeof value === 'string') headers[name] = value;
      void handlers
        .management({ method: request.method ?? 'GET', path: request.url ?? '/', headers, body: Buffer.concat(chunks) })
        .then((answer) => {
          response.writeHead(answer.statusCode, answer.headers);
          response.end(Buffer.from(answer.body));
        });
    });
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => handlers.onUpgrade(request, socket, head));

  return {
    async listen(port: number, host?: string) {
      wss ??= await webSocketServer();
      return listen(server, port, host);
    },
    /** Completes the WebSocket handshake, echoing `protocol` when $connect returned one. */
    accept(request: IncomingMessage, socket: Duplex, head: Buffer, protocol: string | undefined, opened: (ws: WebSocket) => void): void {
      (request as WithProtocol).selectedProtocol = protocol;
      wss!.handleUpgrade(request, socket, head, opened);
    },
    async close(): Promise<void> {
      wss?.close();
      await closeServer(server);
    },
  };
}
