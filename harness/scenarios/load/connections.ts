/**
 * The two ways a load run holds its connections, behind one interface:
 * - `simulated`: in-process connections without sockets, entering the emulated WebSocket API's registry directly
 *   (harness/apiGateway/websocket/simulated.ts) — the same quota, `$connect`, `$default`, `$disconnect` and
 *   management API, frames received into memory. Tens of thousands fit in one process. Needs the in-process emulator.
 * - `ws`: real `ws` sockets to the target's WebSocket URL (an in-process emulator or `npm run emulate`) — a few
 *   thousand, bounded by file descriptors (each costs one here and one on the server).
 */
import WebSocket from 'ws';
import type { ScenarioTarget } from '../target.js';

export type ConnectionMode = 'simulated' | 'ws';

export interface LoadConnection {
  send(text: string): void;
  close(): void;
}

export type OpenOutcome = { ok: true; connection: LoadConnection } | { ok: false; reason: string };

export interface Connector {
  mode: ConnectionMode;
  /**
   * Opens one connection with `token`; frames go to `onFrame` from the moment it is open, and `onClose` hears of an
   * end the runner did not ask for (the API's idle timeout or maximum duration, a DELETE, a dropped socket).
   */
  open(
    token: string | undefined,
    userAgent: string,
    onFrame: (text: string) => void,
    onClose?: (code: number) => void,
  ): Promise<OpenOutcome>;
}

/** Tells the runner's own close of a connection from an end it did not ask for, which alone reaches `onClose`. */
function endsWatch(onClose: ((code: number) => void) | undefined) {
  let closing = false;
  return {
    ended: (code: number): void => {
      if (!closing) onClose?.(code);
    },
    ownClose: (close: () => void) => (): void => {
      closing = true;
      close();
    },
  };
}

export function createConnector(mode: ConnectionMode, target: ScenarioTarget): Connector {
  const parameter = target.tokenQueryParameter;
  const handshake = (token: string | undefined, userAgent: string) => ({
    query: token !== undefined && parameter ? `${encodeURIComponent(parameter)}=${encodeURIComponent(token)}` : '',
    headers: { 'user-agent': userAgent, ...(token !== undefined && !parameter ? { authorization: `Bearer ${token}` } : {}) },
  });

  if (mode === 'simulated') {
    const simulated = target.insides?.simulatedConnections;
    if (!simulated)
      throw new Error(
        `simulated connections enter the in-process emulator's registry: not available on ${target.name} (use --connections ws)`,
      );
    return {
      mode,
      async open(token, userAgent, onFrame, onClose) {
        const ends = endsWatch(onClose);
        const outcome = await simulated.connect(handshake(token, userAgent), { onFrame, onClose: ends.ended });
        if (!outcome.ok) return { ok: false, reason: String(outcome.status) };
        const client = outcome.client;
        return { ok: true, connection: { send: (text) => void client.send(text), close: ends.ownClose(() => client.close(1000)) } };
      },
    };
  }

  return {
    mode,
    open(token, userAgent, onFrame, onClose) {
      const { query, headers } = handshake(token, userAgent);
      const url = new URL(target.wsUrl);
      if (query) url.search = query;
      const socket = new WebSocket(url, { headers });
      return new Promise((resolve) => {
        socket.once('open', () => {
          const ends = endsWatch(onClose);
          socket.on('message', (data) => onFrame(data.toString()));
          socket.once('close', ends.ended);
          resolve({ ok: true, connection: { send: (text) => socket.send(text), close: ends.ownClose(() => socket.close(1000)) } });
        });
        socket.once('unexpected-response', (_request, response) => {
          resolve({ ok: false, reason: String(response.statusCode) });
          response.resume();
          socket.terminate();
        });
        socket.on('error', (error: NodeJS.ErrnoException) => {
          if (socket.readyState !== WebSocket.OPEN) resolve({ ok: false, reason: error.code ?? 'error' });
        });
      });
    },
  };
}
