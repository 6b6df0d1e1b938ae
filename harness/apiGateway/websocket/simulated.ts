/**
 * A simulated client end of a WebSocket connection: no socket, no file descriptor, a few hundred bytes. The API
 * treats it as it treats a `ws` socket (same quota, authorizer, `$connect`, route selection, `$disconnect`, same
 * registry and management API); frames the API sends land in `onFrame`. Load runs use it to hold tens of thousands
 * of connections in one process, which real sockets cannot (one process holds ~20,000 descriptors here).
 */
import { CloseCode } from './closeCodes.js';
import type { ConnectionSocket } from './connections.js';

/** The client side of a simulated connection: what the load driver sees. */
export interface SimulatedClientEvents {
  /** A frame the API sent (a management-API post, a route response, an error frame). */
  onFrame(text: string): void;
  /** The connection ended: the close code the client saw. */
  onClose?(code: number, reason: string): void;
}

const OPEN = 1;
const CLOSED = 3;

/**
 * The server-facing socket. `closed(code, reason)` is how the API learns the connection ended — called on the next
 * turn of the event loop, as a socket's 'close' event would be, never inside the call that caused it.
 */
export function createSimulatedSocket(client: SimulatedClientEvents, closed: (code: number, reason: string) => void) {
  let readyState = OPEN;
  const end = (clientCode: number, serverCode: number, reason: string): void => {
    if (readyState === CLOSED) return;
    readyState = CLOSED;
    setImmediate(() => {
      client.onClose?.(clientCode, reason);
      closed(serverCode, reason);
    });
  };
  const socket: ConnectionSocket & { clientClose(code?: number, reason?: string): void; clientDrop(): void } = {
    get readyState() {
      return readyState;
    },
    // Frames are handed over synchronously: nothing is ever buffered, so a simulated client is never a slow consumer.
    bufferedAmount: 0,
    send(data) {
      if (readyState === OPEN) client.onFrame(data);
    },
    // The server closes: the simulated client answers the close handshake at once with the same code.
    close(code = CloseCode.noStatus, reason = '') {
      end(code, code, reason);
    },
    terminate() {
      end(CloseCode.abnormal, CloseCode.abnormal, '');
    },
    /** The client closes (its code, or none: 1005). */
    clientClose(code, reason = '') {
      end(code ?? CloseCode.noStatus, code ?? CloseCode.noStatus, reason);
    },
    /** The client's network drops (1006). */
    clientDrop() {
      end(CloseCode.abnormal, CloseCode.abnormal, '');
    },
  };
  return socket;
}

export type SimulatedSocket = ReturnType<typeof createSimulatedSocket>;
