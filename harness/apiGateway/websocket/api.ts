/**
 * An API Gateway WebSocket API: $connect at the handshake (authorizer, status codes), route selection for
 * messages, $disconnect for every way a connection ends, AWS's frame and message limits and quotas, and the
 * `@connections` management API on the same port. The connection registry and the decisions live here; `ws`
 * and node:http are the adapters that carry bytes.
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Clock } from '../../clock.js';
import type { EventLog } from '../../eventLog.js';
import type { InvocationResult, Invoke } from '../../lambda/types.js';
import { createManagementApi, type ThrottleSettings } from '../management.js';
import { selectRoute } from './routeSelection.js';
import {
  authorizerEvent,
  connectEvent,
  disconnectEvent,
  messageEvent,
  newConnectionId,
  newRequestId,
  type ApiIdentity,
  type ConnectionFacts,
  type HandshakeRequest,
} from './events.js';
import { observed } from '../observed.js';

export interface WebSocketApiOptions {
  invoke: Invoke;
  /** routeKey → function name. */
  routes: Record<string, string>;
  routeSelectionExpression: string;
  /** Route keys with a route response configured: only their return value reaches the client. */
  routeResponses?: string[];
  /** A REQUEST authorizer on $connect. */
  authorizer?: { functionName: string; identitySource: string[] };
  stage: string;
  apiId: string;
  region: string;
  accountId?: string;
  clock: Clock;
  eventLog?: EventLog;
  /** Idle timeout (AWS: 10 minutes). */
  idleTimeoutMs?: number;
  /** Maximum connection duration (AWS: 2 hours). */
  maxDurationMs?: number;
  /** New connections per second (AWS: 500). */
  maxConnectionsPerSecond?: number;
  /** @connections throttle, off by default (AWS account default: 10,000 rps, burst 5,000). */
  managementThrottle?: ThrottleSettings;
  /** At most this many $disconnect invocations in flight when many connections end at once. */
  disconnectConcurrency?: number;
}

/** API Gateway's limits: a frame over 32 KB or a message over 128 KB closes the connection with 1009. */
export const MAX_FRAME_BYTES = 32 * 1024;
export const MAX_MESSAGE_BYTES = 128 * 1024;
/** The authorizer's context may not exceed 8 KB. */
const MAX_AUTHORIZER_CONTEXT_BYTES = 8 * 1024;

interface Connection {
  facts: ConnectionFacts;
  state: 'connecting' | 'open' | 'closed';
  socket: WebSocket | undefined;
  lastActiveAt: number;
  cancelIdle: () => void;
  cancelMaxDuration: () => void;
  /** Why the server closed it, if it did: decides disconnectStatusCode/Reason. */
  serverClose?: { code: number; reason: string };
  dropDisconnect: boolean;
  postFaults: number[];
}

type Refusal = { status: number; message: string };

export function createWebSocketApi(options: WebSocketApiOptions) {
  const { clock, invoke } = options;
  const api: ApiIdentity = { apiId: options.apiId, stage: options.stage, region: options.region };
  const accountId = options.accountId ?? '123456789012';
  const idleTimeoutMs = options.idleTimeoutMs ?? 10 * 60_000;
  const maxDurationMs = options.maxDurationMs ?? 2 * 60 * 60_000;
  const routeKeys = new Set(Object.keys(options.routes));
  // Messages can only select these: $connect and $disconnect are not message routes.
  const messageRouteKeys = new Set([...routeKeys].filter((k) => k !== '$connect' && k !== '$disconnect'));
  const routeResponses = new Set(options.routeResponses ?? []);
  const connections = new Map<string, Connection>();
  const disconnects = new Set<Promise<unknown>>();
  let disconnectSlots = options.disconnectConcurrency ?? 32;
  const disconnectQueue: Array<() => void> = [];

  const management = createManagementApi({
    stage: options.stage,
    clock,
    ...(options.eventLog ? { eventLog: options.eventLog } : {}),
    ...(options.managementThrottle ? { throttle: options.managementThrottle } : {}),
    connections: {
      state: (id) => {
        const c = connections.get(id);
        return c && c.state !== 'closed' ? c.state : undefined;
      },
      info: (id) => {
        const c = connections.get(id);
        return c && { connectedAt: c.facts.connectedAt, lastActiveAt: c.lastActiveAt, sourceIp: c.facts.sourceIp, userAgent: c.facts.userAgent };
      },
      send: (id, data) => deliver(connections.get(id)!, Buffer.from(data).toString('utf8')),
      close: (id) => serverClose(connections.get(id)!, observed.disconnect.deleteConnection, 1000, ''),
      takePostFault: (id) => connections.get(id)?.postFaults.shift(),
    },
  });

  // ——— new-connection rate (F11: 500/s) ———
  let connectTokens = options.maxConnectionsPerSecond ?? 500;
  let connectRefilledAt = clock.now();
  function connectRateExceeded(): boolean {
    const rate = options.maxConnectionsPerSecond ?? 500;
    const now = clock.now();
    connectTokens = Math.min(rate, connectTokens + ((now - connectRefilledAt) / 1000) * rate);
    connectRefilledAt = now;
    if (connectTokens < 1) return true;
    connectTokens -= 1;
    return false;
  }

  function deliver(connection: Connection, data: string): void {
    connection.socket?.send(data);
    options.eventLog?.record({ kind: 'delivered', connectionId: connection.facts.connectionId, data });
    if (observed.serverMessagesResetIdle) touch(connection);
  }

  function touch(connection: Connection): void {
    connection.lastActiveAt = clock.now();
    connection.cancelIdle();
    connection.cancelIdle = clock.at(connection.lastActiveAt + idleTimeoutMs, () =>
      serverClose(connection, observed.disconnect.idleTimeout, 1001, 'Going away'),
    );
  }

  /** The server ends the connection (DELETE, idle, max duration, shutdown); $disconnect follows the socket's close. */
  function serverClose(connection: Connection, cause: { code: number; reason: string }, clientCode: number, clientReason: string): void {
    if (connection.state === 'closed') return;
    connection.serverClose = cause;
    connection.socket?.close(clientCode, clientReason);
    // A peer that never answers the close handshake is cut after a grace period, as a proxy would.
    setTimeout(() => connection.socket?.terminate(), 2000).unref();
  }

  // ——— $disconnect, bounded ———
  function withDisconnectSlot(run: () => Promise<unknown>): Promise<unknown> {
    return new Promise((resolve) => {
      const start = () => {
        disconnectSlots--;
        void run()
          .catch(() => undefined)
          .finally(() => {
            disconnectSlots++;
            disconnectQueue.shift()?.();
            resolve(undefined);
          });
      };
      if (disconnectSlots > 0) start();
      else disconnectQueue.push(start);
    });
  }

  function ended(connection: Connection, code: number, reason: string): void {
    if (connection.state === 'closed') return;
    const wasOpen = connection.state === 'open';
    connection.state = 'closed';
    connection.cancelIdle();
    connection.cancelMaxDuration();
    connections.delete(connection.facts.connectionId);
    const cause = connection.serverClose ?? (code === 1005 ? observed.disconnect.clientWithoutStatus : code === 1006 ? observed.disconnect.abnormal : { code, reason });
    options.eventLog?.record({ kind: 'connection', connectionId: connection.facts.connectionId, state: 'closed', statusCode: cause.code, reason: cause.reason });
    if (!wasOpen || !routeKeys.has('$disconnect')) return;
    if (connection.dropDisconnect) {
      options.eventLog?.record({ kind: 'fault', description: `$disconnect for ${connection.facts.connectionId} dropped` });
      return;
    }
    const event = disconnectEvent(api, connection.facts, cause.code, cause.reason, clock.now());
    const running = withDisconnectSlot(() => invoke(options.routes.$disconnect, event, '$disconnect'));
    disconnects.add(running);
    void running.finally(() => disconnects.delete(running));
  }

  // ——— messages ———
  async function onMessage(connection: Connection, data: RawData, isBinary: boolean): Promise<void> {
    const socket = connection.socket!;
    if (isBinary) {
      socket.close(1003, 'Binary frames are not supported');
      return;
    }
    touch(connection);
    const body = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8');
    const route = selectRoute(options.routeSelectionExpression, body, messageRouteKeys);
    if (!route) {
      socket.send(observed.noRouteFrame(connection.facts.connectionId, newRequestId()));
      return;
    }
    const event = messageEvent(api, connection.facts, route, body, clock.now());
    const result = await invoke(options.routes[route], event, route);
    if (connection.state === 'closed') return;
    if (!result.ok) {
      socket.send(observed.integrationErrorFrame(connection.facts.connectionId, event.requestContext.requestId));
      return;
    }
    if (routeResponses.has(route) && result.value !== null && result.value !== undefined) {
      const value = result.value as { body?: unknown };
      const reply = typeof value === 'object' && 'body' in value ? value.body : value;
      if (reply !== undefined && reply !== null) deliver(connection, typeof reply === 'string' ? reply : JSON.stringify(reply));
    }
  }

  // ——— handshake ———
  function identitySourceValue(source: string, request: IncomingMessage, query: URLSearchParams): string | undefined {
    const header = /^route\.request\.header\.(.+)$/i.exec(source);
    if (header) return request.headers[header[1].toLowerCase()] as string | undefined;
    const qs = /^route\.request\.querystring\.(.+)$/i.exec(source);
    if (qs) return query.get(qs[1]) ?? undefined;
    return undefined;
  }

  async function authorize(facts: ConnectionFacts, request: IncomingMessage, handshake: HandshakeRequest): Promise<Refusal | undefined> {
    const authorizer = options.authorizer!;
    const query = new URLSearchParams(handshake.query);
    // A missing identity source is refused with 401 without calling the authorizer.
    if (authorizer.identitySource.some((source) => !identitySourceValue(source, request, query))) return { status: 401, message: 'Unauthorized' };
    const result = await invoke(authorizer.functionName, authorizerEvent(api, facts, handshake, clock.now(), accountId), '$connect authorizer');
    if (!result.ok) return result.error.message === 'Unauthorized' ? { status: 401, message: 'Unauthorized' } : { status: 500, message: 'Internal server error' };
    const policy = result.value as { principalId?: string; policyDocument?: { Statement?: Array<{ Effect?: string }> }; context?: Record<string, unknown> };
    const statements = policy?.policyDocument?.Statement ?? [];
    if (!statements.length || statements.some((s) => s.Effect !== 'Allow')) return { status: 403, message: 'Forbidden' };
    const context = { ...(policy.context ?? {}), principalId: policy.principalId };
    if (Buffer.byteLength(JSON.stringify(context)) > MAX_AUTHORIZER_CONTEXT_BYTES) return { status: 500, message: 'Internal server error' };
    facts.authorizer = context;
    return undefined;
  }

  function connectOutcome(result: InvocationResult): Refusal | { protocol?: string } {
    if (!result.ok) return { status: observed.connectIntegrationErrorStatus, message: 'Internal server error' };
    const value = result.value as { statusCode?: number; headers?: Record<string, string> } | null;
    const status = typeof value?.statusCode === 'number' ? value.statusCode : 200;
    if (status < 200 || status > 299) return { status, message: STATUS_CODES[status] ?? 'Error' };
    const header = Object.entries(value?.headers ?? {}).find(([name]) => name.toLowerCase() === 'sec-websocket-protocol');
    return header ? { protocol: header[1] } : {};
  }

  function refuse(socket: Duplex, facts: ConnectionFacts | undefined, refusal: Refusal): void {
    const body = JSON.stringify({ message: refusal.message, ...(facts ? { connectionId: facts.connectionId } : {}) });
    socket.end(
      `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    if (facts) options.eventLog?.record({ kind: 'connection', connectionId: facts.connectionId, state: 'refused', statusCode: refusal.status });
  }

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    // The subprotocol $connect returned, if any, is echoed; otherwise none is selected.
    handleProtocols: (_protocols, request) => (request as IncomingMessage & { selectedProtocol?: string }).selectedProtocol ?? false,
  });

  async function onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    if (connectRateExceeded()) return refuse(socket, undefined, { status: 429, message: 'Too Many Requests' });
    const url = new URL(request.url ?? '/', 'http://localhost');
    const handshake: HandshakeRequest = { rawHeaders: request.rawHeaders, query: url.search.slice(1) };
    const now = clock.now();
    const facts: ConnectionFacts = {
      connectionId: newConnectionId(),
      connectedAt: now,
      sourceIp: (request.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
      userAgent: request.headers['user-agent'],
      authorizer: undefined,
    };
    const connection: Connection = {
      facts,
      state: 'connecting',
      socket: undefined,
      lastActiveAt: now,
      cancelIdle: () => undefined,
      cancelMaxDuration: () => undefined,
      dropDisconnect: false,
      postFaults: [],
    };
    try {
      if (options.authorizer) {
        const refusal = await authorize(facts, request, handshake);
        if (refusal) return refuse(socket, facts, refusal);
      }
      connections.set(facts.connectionId, connection);
      let protocol: string | undefined;
      if (routeKeys.has('$connect')) {
        const outcome = connectOutcome(await invoke(options.routes.$connect, connectEvent(api, facts, handshake, clock.now()), '$connect'));
        if ('status' in outcome) {
          connections.delete(facts.connectionId);
          return refuse(socket, facts, outcome);
        }
        protocol = outcome.protocol;
      }
      if (socket.destroyed) {
        // The client gave up during $connect: on AWS the connection never opens, so no $disconnect either.
        connections.delete(facts.connectionId);
        return;
      }
      (request as IncomingMessage & { selectedProtocol?: string }).selectedProtocol = protocol;
      wss.handleUpgrade(request, socket, head, (ws) => open(connection, ws));
    } catch (error) {
      connections.delete(facts.connectionId);
      refuse(socket, facts, { status: 500, message: (error as Error).message });
    }
  }

  function open(connection: Connection, ws: WebSocket): void {
    connection.socket = ws;
    connection.state = 'open';
    limitFrameSize(ws);
    options.eventLog?.record({ kind: 'connection', connectionId: connection.facts.connectionId, state: 'open' });
    touch(connection);
    connection.cancelMaxDuration = clock.at(connection.facts.connectedAt + maxDurationMs, () =>
      serverClose(connection, observed.disconnect.maxDuration, 1001, 'Going away'),
    );
    ws.on('message', (data, isBinary) => void onMessage(connection, data, isBinary));
    ws.on('close', (code, reason) => ended(connection, code, reason.toString()));
    ws.on('error', () => undefined); // 'close' follows with the code (1009, 1006…)
  }

  /**
   * ws enforces one limit (maxPayload) on whole messages; API Gateway also limits single frames to 32 KB. ws has no
   * option for that, so the receiver's length check is wrapped. ws's Receiver is internal API: the F6 conformance
   * test fails if a ws upgrade changes it.
   */
  function limitFrameSize(ws: WebSocket): void {
    const receiver = (ws as unknown as { _receiver?: { haveLength?: (cb: (error?: Error) => void) => void; _payloadLength: number; _opcode: number; createError: (...args: unknown[]) => Error } })._receiver;
    const original = receiver?.haveLength;
    if (!receiver || !original) return;
    receiver.haveLength = function haveLengthWithFrameLimit(cb) {
      if (this._opcode < 0x08 && this._payloadLength > MAX_FRAME_BYTES) {
        return cb(this.createError(RangeError, 'Frame size exceeded', false, 1009, 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'));
      }
      return original.call(this, cb);
    };
  }

  // ——— the port: WebSocket upgrades and @connections ———
  let server: Server | undefined;
  async function listen(port: number, host = '127.0.0.1'): Promise<{ port: number }> {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(request.headers)) if (typeof value === 'string') headers[name] = value;
        void management
          .handle({ method: request.method ?? 'GET', path: request.url ?? '/', headers, body: Buffer.concat(chunks) })
          .then((answer) => {
            response.writeHead(answer.statusCode, answer.headers);
            response.end(Buffer.from(answer.body));
          });
      });
    });
    server.on('upgrade', (request, socket, head) => void onUpgrade(request, socket, head));
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(port, host, () => resolve());
    });
    return { port: (server.address() as AddressInfo).port };
  }

  function mustGet(connectionId: string): Connection {
    const connection = connections.get(connectionId);
    if (!connection) throw new Error(`No open connection ${connectionId}`);
    return connection;
  }

  return {
    listen,
    management,
    connections: {
      list: () => [...connections.values()].filter((c) => c.state === 'open').map((c) => ({ ...c.facts, lastActiveAt: c.lastActiveAt })),
      count: () => [...connections.values()].filter((c) => c.state === 'open').length,
      /** The first open connection whose facts match, without copying the registry (load scenarios have thousands). */
      find: (predicate: (facts: ConnectionFacts) => boolean): string | undefined => {
        for (const c of connections.values()) if (c.state === 'open' && predicate(c.facts)) return c.facts.connectionId;
        return undefined;
      },
      get: (id: string) => {
        const c = connections.get(id);
        return c && c.state === 'open' ? { ...c.facts, lastActiveAt: c.lastActiveAt } : undefined;
      },
    },
    faults: {
      /** The next `count` posts to the connection answer `status` (410, 429, 500…) instead of delivering. */
      failNextPosts(connectionId: string, status: number, count = 1): void {
        mustGet(connectionId).postFaults.push(...Array<number>(count).fill(status));
        options.eventLog?.record({ kind: 'fault', description: `next ${count} post(s) to ${connectionId} answer ${status}` });
      },
      /** This connection's $disconnect will not run (best effort on AWS), so cleanup paths get tested. */
      dropDisconnect(connectionId: string): void {
        mustGet(connectionId).dropDisconnect = true;
        options.eventLog?.record({ kind: 'fault', description: `$disconnect for ${connectionId} will fail` });
      },
      /** The socket dies without a close frame (network loss). */
      killSocket(connectionId: string): void {
        mustGet(connectionId).socket?.terminate();
      },
    },
    /** Settles when every $disconnect already started has finished. */
    async settled(): Promise<void> {
      while (disconnects.size) await Promise.all([...disconnects]);
    },
    /** Shutdown: every client is closed with 1001 and every $disconnect runs, at most disconnectConcurrency at a time. */
    async closeAll(): Promise<void> {
      for (const connection of [...connections.values()]) serverClose(connection, observed.disconnect.shutdown, 1001, 'Going away');
      const deadline = Date.now() + 10_000;
      while ([...connections.values()].some((c) => c.state !== 'closed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      while (disconnects.size) await Promise.all([...disconnects]);
    },
    async close(): Promise<void> {
      for (const connection of connections.values()) connection.socket?.terminate();
      wss.close();
      if (server) {
        server.closeAllConnections();
        await new Promise((resolve) => server!.close(resolve));
      }
    },
  };
}

export type WebSocketApi = ReturnType<typeof createWebSocketApi>;
