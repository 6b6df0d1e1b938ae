/**
 * The WebSocket API's connection registry: each connection's facts (what events carry), its state, its socket and
 * its timers. `connecting` means `$connect` is still running (posts answer 410); `closing` means the server or the
 * client started closing (posts answer 410 too, nothing more is delivered); `closed` connections leave the registry.
 */
import type { ConnectionFacts } from './events.js';

/**
 * What the API needs of a connection's client end: a `ws` socket satisfies it, and so does a simulated in-process
 * one (`simulated.ts`), which lets load runs hold tens of thousands of connections without sockets.
 */
export interface ConnectionSocket {
  /** 1 while open, as `ws` says it. */
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

export type ConnectionState = 'connecting' | 'open' | 'closing' | 'closed';

export interface Connection {
  facts: ConnectionFacts;
  state: ConnectionState;
  socket: ConnectionSocket | undefined;
  lastActiveAt: number;
  cancelMaxDuration: () => void;
  /** Why the server closed it, if it did: decides disconnectStatusCode/Reason. */
  serverClose?: { code: number; reason: string };
  /** Fault: this connection's $disconnect is dropped. */
  dropDisconnect: boolean;
  /** Fault: statuses the next posts answer instead of delivering. */
  postFaults: number[];
}

/** What the outside sees of a connection: its facts and when it was last active. */
export type ConnectionView = ConnectionFacts & { lastActiveAt: number };

export function newConnection(facts: ConnectionFacts): Connection {
  return {
    facts,
    state: 'connecting',
    socket: undefined,
    lastActiveAt: facts.connectedAt,
    cancelMaxDuration: () => undefined,
    dropDisconnect: false,
    postFaults: [],
  };
}

export function createConnectionRegistry() {
  const connections = new Map<string, Connection>();
  const view = (c: Connection): ConnectionView => ({ ...c.facts, lastActiveAt: c.lastActiveAt });
  return {
    add: (connection: Connection): void => void connections.set(connection.facts.connectionId, connection),
    remove: (connectionId: string): void => void connections.delete(connectionId),
    /** Any connection still known (connecting, open or closing). */
    get: (connectionId: string): Connection | undefined => connections.get(connectionId),
    /** Every known connection, for shutdown. */
    all: (): Connection[] => [...connections.values()],
    /** The outside view: open connections only. */
    open: {
      list: (): ConnectionView[] => [...connections.values()].filter((c) => c.state === 'open').map(view),
      count: (): number => {
        let n = 0;
        for (const c of connections.values()) if (c.state === 'open') n++;
        return n;
      },
      /** The first open connection whose facts match, without copying the registry (load scenarios have thousands). */
      find: (predicate: (facts: ConnectionFacts) => boolean): string | undefined => {
        for (const c of connections.values()) if (c.state === 'open' && predicate(c.facts)) return c.facts.connectionId;
        return undefined;
      },
      get: (connectionId: string): ConnectionView | undefined => {
        const c = connections.get(connectionId);
        return c && c.state === 'open' ? view(c) : undefined;
      },
    },
  };
}

export type ConnectionRegistry = ReturnType<typeof createConnectionRegistry>;
