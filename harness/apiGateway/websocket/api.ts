/**
 * An API Gateway WebSocket API: the handshake's checks and `$connect` (with an optional REQUEST authorizer), route
 * selection for messages, `$disconnect` for every way a connection ends, AWS's frame and message limits, idle and
 * maximum-duration timeouts, the new-connection quota, and the `@connections` management API on the same port.
 * The rules live in the modules beside this one; this file wires them to a connection's life.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import type { Clock } from '../../clock.js';
import type { EventLog } from '../../eventLog.js';
import type { Invoke } from '../../lambda/types.js';
import { ACCOUNT_ID, emulatorDefaults, websocketApiLimits } from '../../common/awsDefaults.js';
import { sourceIpOf } from '../../common/net.js';
import { createTokenBucket } from '../../common/tokenBucket.js';
import { createManagementApi, type ThrottleSettings } from '../management.js';
import { observed } from '../observed.js';
import { authorize, type AuthorizerSettings } from './authorizer.js';
import { CloseCode } from './closeCodes.js';
import { createConnectionRegistry, newConnection, type Connection, type ConnectionSocket } from './connections.js';
import {
  connectEvent,
  disconnectEvent,
  messageEvent,
  newConnectionId,
  newRequestId,
  type ApiIdentity,
  type HandshakeRequest,
} from './events.js';
import { limitFrameSize } from './frameLimit.js';
import { connectOutcome, malformedUpgrade, refuseUpgrade, type Refusal } from './handshake.js';
import { selectRoute } from './routeSelection.js';
import { createWebSocketPort } from './server.js';
import { SimulatedSocket, type SimulatedClientEvents } from './simulated.js';

/** A simulated connection's handshake: what a client would put in its upgrade request. */
export interface SimulatedHandshake {
  /** The query string without "?" (e.g. `token=…`). */
  query?: string;
  headers?: Record<string, string>;
  sourceIp?: string;
}

/** The client's end of an open simulated connection. */
export interface SimulatedClient {
  connectionId: string;
  /** A text frame from the client; resolves once its route's invocation has finished. */
  send(text: string): Promise<void>;
  /** The client closes (default 1000), or drops the connection without a close frame. */
  close(code?: number, reason?: string): void;
  drop(): void;
}

export interface WebSocketApiOptions {
  invoke: Invoke;
  /** routeKey → function name. */
  routes: Record<string, string>;
  routeSelectionExpression: string;
  /** Route keys with a route response configured: only their return value reaches the client. */
  routeResponses?: string[];
  /** A REQUEST authorizer on $connect. */
  authorizer?: AuthorizerSettings;
  stage: string;
  apiId: string;
  region: string;
  accountId?: string;
  clock: Clock;
  eventLog?: EventLog;
  /** Defaults: `websocketApiLimits` (AWS's quotas). */
  idleTimeoutMs?: number;
  maxDurationMs?: number;
  maxConnectionsPerSecond?: number;
  /** @connections throttle, off by default (AWS account default: `accountThrottle`). */
  managementThrottle?: ThrottleSettings;
  /** At most this many $disconnect invocations in flight when many connections end at once. */
  disconnectConcurrency?: number;
}

/** Kept for callers that name the limits directly; the values live in `websocketApiLimits`. */
export const MAX_FRAME_BYTES = websocketApiLimits.maxFrameBytes;
export const MAX_MESSAGE_BYTES = websocketApiLimits.maxMessageBytes;

export function createWebSocketApi(options: WebSocketApiOptions) {
  const { clock, invoke } = options;
  const api: ApiIdentity = { apiId: options.apiId, stage: options.stage, region: options.region };
  const accountId = options.accountId ?? ACCOUNT_ID;
  const idleTimeoutMs = options.idleTimeoutMs ?? websocketApiLimits.idleTimeoutMs;
  const maxDurationMs = options.maxDurationMs ?? websocketApiLimits.maxDurationMs;
  const connectionsPerSecond = options.maxConnectionsPerSecond ?? websocketApiLimits.newConnectionsPerSecond;
  const quotaBucket = (rate: number) => createTokenBucket({ rate, burst: rate }, clock.now);
  let newConnections = quotaBucket(connectionsPerSecond);
  const routeKeys = new Set(Object.keys(options.routes));
  // Messages can only select these: $connect and $disconnect are not message routes.
  const messageRouteKeys = new Set([...routeKeys].filter((k) => k !== '$connect' && k !== '$disconnect'));
  const routeResponses = new Set(options.routeResponses ?? []);
  const registry = createConnectionRegistry();
  const disconnects = new Set<Promise<unknown>>();
  const disconnectSlots = createSlots(options.disconnectConcurrency ?? emulatorDefaults.disconnectConcurrency);
  const log = options.eventLog;

  const management = createManagementApi({
    stage: options.stage,
    clock,
    ...(log ? { eventLog: log } : {}),
    ...(options.managementThrottle ? { throttle: options.managementThrottle } : {}),
    connections: {
      state: (id) => {
        const c = registry.get(id);
        if (!c) return undefined;
        if (c.state === 'connecting') return 'connecting';
        // A connection that is closing is gone for the management API: a post would never reach the client.
        return c.state === 'open' && c.socket?.readyState === 1 ? 'open' : undefined;
      },
      info: (id) => {
        const c = registry.get(id);
        return (
          c && { connectedAt: c.facts.connectedAt, lastActiveAt: c.lastActiveAt, sourceIp: c.facts.sourceIp, userAgent: c.facts.userAgent }
        );
      },
      send: (id, data) => deliver(registry.get(id)!, Buffer.from(data).toString('utf8')),
      close: (id) => serverClose(registry.get(id)!, observed.disconnect.deleteConnection, CloseCode.normal, ''),
      takePostFault: (id) => registry.get(id)?.postFaults.shift(),
    },
  });

  /** Sends to the client; false (the post answers 410) when the client stopped reading and was dropped. */
  function deliver(connection: Connection, data: string): boolean {
    const socket = connection.socket;
    if (!socket || connection.state !== 'open') return false;
    if (socket.bufferedAmount + Buffer.byteLength(data) > observed.slowConsumer.maxBufferedBytes) {
      log?.record({
        kind: 'fault',
        description: `${connection.facts.connectionId} stopped reading (${socket.bufferedAmount} bytes buffered): dropped`,
      });
      connection.state = 'closing';
      socket.terminate();
      return false;
    }
    socket.send(data);
    log?.record({ kind: 'delivered', connectionId: connection.facts.connectionId, data });
    if (observed.serverMessagesResetIdle) touch(connection);
    return true;
  }

  // Idle timeouts: open connections in the order they were last active (a touch moves one to the end), so the first
  // is the next to time out, and one clock timer serves them all — rather than a timer per connection, re-armed on
  // every message, which a load run's tens of thousands of connections paid ~500 bytes each for.
  const idleOrder = new Set<Connection>();
  let idleTimerArmed = false;

  function touch(connection: Connection): void {
    connection.lastActiveAt = clock.now();
    idleOrder.delete(connection);
    idleOrder.add(connection);
    if (!idleTimerArmed) armIdleTimer();
  }

  function armIdleTimer(): void {
    const first = idleOrder.values().next();
    idleTimerArmed = !first.done;
    // Early when the first connection has since been touched or closed: the sweep then finds nothing due and re-arms.
    if (!first.done) clock.at(first.value.lastActiveAt + idleTimeoutMs, sweepIdle);
  }

  function sweepIdle(): void {
    const now = clock.now();
    for (const connection of idleOrder) {
      const idleAt = connection.lastActiveAt + idleTimeoutMs;
      if (idleAt > now) break;
      idleOrder.delete(connection);
      serverClose(connection, observed.disconnect.idleTimeout, CloseCode.goingAway, 'Going away');
    }
    armIdleTimer();
  }

  /** The server ends the connection (DELETE, idle, max duration, shutdown); $disconnect follows the socket's close. */
  function serverClose(connection: Connection, cause: { code: number; reason: string }, clientCode: number, clientReason: string): void {
    if (connection.state === 'closed') return;
    connection.serverClose ??= cause;
    if (connection.state === 'open') connection.state = 'closing';
    connection.socket?.close(clientCode, clientReason);
    // A peer that never answers the close handshake is cut after a grace period, as a proxy would.
    setTimeout(() => connection.socket?.terminate(), emulatorDefaults.closeHandshakeGraceMs).unref();
  }

  function ended(connection: Connection, code: number, reason: string): void {
    if (connection.state === 'closed') return;
    const hadOpened = connection.socket !== undefined;
    connection.state = 'closed';
    idleOrder.delete(connection);
    connection.cancelMaxDuration();
    registry.remove(connection.facts.connectionId);
    const cause =
      connection.serverClose ??
      (code === CloseCode.noStatus
        ? observed.disconnect.clientWithoutStatus
        : code === CloseCode.abnormal
          ? observed.disconnect.abnormal
          : { code, reason });
    log?.record({
      kind: 'connection',
      connectionId: connection.facts.connectionId,
      state: 'closed',
      statusCode: cause.code,
      reason: cause.reason,
    });
    if (!hadOpened || !routeKeys.has('$disconnect')) return;
    if (connection.dropDisconnect) {
      log?.record({ kind: 'fault', description: `$disconnect for ${connection.facts.connectionId} dropped` });
      return;
    }
    const event = disconnectEvent(api, connection.facts, cause.code, cause.reason, clock.now());
    const running = disconnectSlots.run(() => invoke(options.routes.$disconnect, event, '$disconnect'));
    disconnects.add(running);
    void running.finally(() => disconnects.delete(running));
  }

  async function onMessage(connection: Connection, data: RawData, isBinary: boolean): Promise<void> {
    if (isBinary) {
      connection.socket!.close(CloseCode.unsupportedData, 'Binary frames are not supported');
      return;
    }
    const body = Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8');
    await onText(connection, body);
  }

  /** A text message from the client, whatever carried it (a socket or a simulated connection). */
  async function onText(connection: Connection, body: string): Promise<void> {
    const socket = connection.socket!;
    touch(connection);
    const route = selectRoute(options.routeSelectionExpression, body, messageRouteKeys);
    if (!route) {
      socket.send(observed.noRouteFrame(connection.facts.connectionId, newRequestId()));
      return;
    }
    const event = messageEvent(api, connection.facts, route, body, clock.now());
    const result = await invoke(options.routes[route], event, route);
    if (connection.state !== 'open') return;
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

  function refuse(socket: Duplex, refusal: Refusal, connection?: Connection): void {
    refuseUpgrade(socket, refusal, connection?.facts.connectionId);
    if (connection) {
      registry.remove(connection.facts.connectionId);
      log?.record({ kind: 'connection', connectionId: connection.facts.connectionId, state: 'refused', statusCode: refusal.status });
    }
  }

  /**
   * The handshake's fate once it is well formed, whatever carries it: the new-connection quota, the authorizer and
   * `$connect`. A refusal leaves nothing in the registry; an acceptance leaves the connection `connecting`.
   */
  async function admit(
    connection: Connection,
    handshake: HandshakeRequest,
    headers: IncomingMessage['headers'],
  ): Promise<{ refusal: Refusal } | { protocol: string | undefined }> {
    if (options.authorizer) {
      const refusal = await authorize(options.authorizer, invoke, {
        api,
        facts: connection.facts,
        request: { headers },
        handshake,
        now: clock.now(),
        accountId,
      });
      if (refusal) return { refusal };
    }
    registry.add(connection);
    if (!routeKeys.has('$connect')) return { protocol: undefined };
    const outcome = connectOutcome(
      await invoke(options.routes.$connect, connectEvent(api, connection.facts, handshake, clock.now()), '$connect'),
    );
    return 'status' in outcome ? { refusal: outcome } : { protocol: outcome.protocol };
  }

  async function onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    // A malformed handshake never reaches $connect and leaves nothing behind, as on AWS.
    const malformed = malformedUpgrade(request);
    if (malformed) return refuse(socket, malformed);
    if (!newConnections.take()) return refuse(socket, { status: 429, message: 'Too Many Requests' });
    const url = new URL(request.url ?? '/', 'http://localhost');
    const handshake: HandshakeRequest = { rawHeaders: request.rawHeaders, query: url.search.slice(1) };
    const connection = newConnection({
      connectionId: newConnectionId(),
      connectedAt: clock.now(),
      sourceIp: sourceIpOf(request.socket),
      userAgent: request.headers['user-agent'],
      authorizer: undefined,
    });
    try {
      const admitted = await admit(connection, handshake, request.headers);
      if ('refusal' in admitted) return refuse(socket, admitted.refusal, connection);
      if (socket.destroyed) {
        // The client gave up during $connect: on AWS the connection never opens, so no $disconnect either.
        registry.remove(connection.facts.connectionId);
        return;
      }
      port.accept(request, socket, head, admitted.protocol, (ws) => openSocket(connection, ws));
    } catch (error) {
      refuse(socket, { status: 500, message: (error as Error).message }, connection);
    }
  }

  function open(connection: Connection, socket: ConnectionSocket): void {
    connection.socket = socket;
    connection.state = 'open';
    log?.record({ kind: 'connection', connectionId: connection.facts.connectionId, state: 'open' });
    touch(connection);
    connection.cancelMaxDuration = clock.at(connection.facts.connectedAt + maxDurationMs, () =>
      serverClose(connection, observed.disconnect.maxDuration, CloseCode.goingAway, 'Going away'),
    );
  }

  function openSocket(connection: Connection, ws: WebSocket): void {
    limitFrameSize(ws);
    open(connection, ws);
    ws.on('message', (data, isBinary) => void onMessage(connection, data, isBinary));
    ws.on('close', (code, reason) => ended(connection, code, reason.toString()));
    ws.on('error', () => undefined); // 'close' follows with the code (1009, 1006…)
  }

  /**
   * A connection without a socket (load runs): the same quota, authorizer, `$connect`, routes and `$disconnect` as
   * an upgrade request's, the same registry and management API; frames go to `client.onFrame`. Answers the
   * handshake's refusal status as a socket client would see it.
   */
  async function connectSimulated(
    handshake: SimulatedHandshake,
    client: SimulatedClientEvents,
  ): Promise<{ ok: true; client: SimulatedClient } | { ok: false; status: number }> {
    if (!newConnections.take()) return { ok: false, status: 429 };
    const headers = Object.fromEntries(Object.entries(handshake.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    const connection = newConnection({
      connectionId: newConnectionId(),
      connectedAt: clock.now(),
      sourceIp: handshake.sourceIp ?? '127.0.0.1',
      userAgent: headers['user-agent'],
      authorizer: undefined,
    });
    const rawHeaders = Object.entries(handshake.headers ?? {}).flat();
    let admitted: Awaited<ReturnType<typeof admit>>;
    try {
      admitted = await admit(connection, { rawHeaders, query: handshake.query ?? '' }, headers);
    } catch (error) {
      admitted = { refusal: { status: 500, message: (error as Error).message } };
    }
    if ('refusal' in admitted) {
      registry.remove(connection.facts.connectionId);
      log?.record({
        kind: 'connection',
        connectionId: connection.facts.connectionId,
        state: 'refused',
        statusCode: admitted.refusal.status,
      });
      return { ok: false, status: admitted.refusal.status };
    }
    const socket = new SimulatedSocket(client, ended, connection);
    open(connection, socket);
    return { ok: true, client: new SimulatedClientEnd(connection, socket) };
  }

  /** A class rather than an object of closures: load runs hold tens of thousands (see SimulatedSocket). */
  class SimulatedClientEnd implements SimulatedClient {
    readonly connectionId: string;
    readonly #connection: Connection;
    readonly #socket: SimulatedSocket<Connection>;

    constructor(connection: Connection, socket: SimulatedSocket<Connection>) {
      this.connectionId = connection.facts.connectionId;
      this.#connection = connection;
      this.#socket = socket;
    }

    send(text: string): Promise<void> {
      return this.#connection.state === 'open' ? onText(this.#connection, text) : Promise.resolve();
    }

    close(code?: number, reason?: string): void {
      this.#socket.clientClose(code, reason);
    }

    drop(): void {
      this.#socket.clientDrop();
    }
  }

  const port = createWebSocketPort({
    onUpgrade: (request, socket, head) => void onUpgrade(request, socket, head),
    management: management.handle,
  });

  function mustGet(connectionId: string): Connection {
    const connection = registry.get(connectionId);
    if (connection?.state !== 'open') throw new Error(`No open connection ${connectionId}`);
    return connection;
  }

  return {
    listen: port.listen,
    management,
    connections: registry.open,
    /** In-process connections without sockets, for load runs (see `connectSimulated`). */
    simulated: { connect: connectSimulated },
    /** The new-connections-per-second quota (and burst) from now on: AWS's 500 by default; load runs relax it. */
    setMaxConnectionsPerSecond(rate: number): void {
      if (!Number.isFinite(rate) || rate <= 0) throw new RangeError(`max connections per second must be above 0, got ${rate}`);
      newConnections = quotaBucket(rate);
    },
    /** The quota the API started with. */
    defaultMaxConnectionsPerSecond: connectionsPerSecond,
    faults: {
      /** The next `count` posts to the connection answer `status` (410, 429, 500…) instead of delivering. */
      failNextPosts(connectionId: string, status: number, count = 1): void {
        mustGet(connectionId).postFaults.push(...Array<number>(count).fill(status));
        log?.record({ kind: 'fault', description: `next ${count} post(s) to ${connectionId} answer ${status}` });
      },
      /** This connection's $disconnect will not run (best effort on AWS), so cleanup paths get tested. */
      dropDisconnect(connectionId: string): void {
        mustGet(connectionId).dropDisconnect = true;
        log?.record({ kind: 'fault', description: `$disconnect for ${connectionId} will fail` });
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
      for (const connection of registry.all()) serverClose(connection, observed.disconnect.shutdown, CloseCode.goingAway, 'Going away');
      const deadline = Date.now() + 10_000;
      while (registry.all().some((c) => c.state !== 'closed') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      while (disconnects.size) await Promise.all([...disconnects]);
    },
    async close(): Promise<void> {
      for (const connection of registry.all()) connection.socket?.terminate();
      await port.close();
    },
  };
}

/** At most `limit` tasks at once; the rest wait in FIFO order. Errors are swallowed: the caller only waits. */
function createSlots(limit: number) {
  let free = limit;
  const waiting: Array<() => void> = [];
  return {
    run(task: () => Promise<unknown>): Promise<unknown> {
      return new Promise((resolve) => {
        const start = () => {
          free--;
          void task()
            .catch(() => undefined)
            .finally(() => {
              free++;
              waiting.shift()?.();
              resolve(undefined);
            });
        };
        if (free > 0) start();
        else waiting.push(start);
      });
    },
  };
}

export type WebSocketApi = ReturnType<typeof createWebSocketApi>;
