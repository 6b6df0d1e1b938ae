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
 * The server-facing socket. `closed(owner, code, reason)` is how the API learns the connection ended — called on the
 * next turn of the event loop, as a socket's 'close' event would be, never inside the call that caused it.
 *
 * A class, its methods shared by every instance: tens of thousands of these stay open in a load run, and an object
 * literal of closures cost each one a closure and a context per method (and, under tsx's keep-names transform, a
 * property dictionary per named arrow function).
 */
export class SimulatedSocket<Owner = unknown> implements ConnectionSocket {
  #readyState = OPEN;
  readonly #client: SimulatedClientEvents;
  readonly #closed: (owner: Owner, code: number, reason: string) => void;
  readonly #owner: Owner;

  constructor(client: SimulatedClientEvents, closed: (owner: Owner, code: number, reason: string) => void, owner: Owner) {
    this.#client = client;
    this.#closed = closed;
    this.#owner = owner;
  }

  get readyState(): number {
    return this.#readyState;
  }

  /** Frames are handed over synchronously: nothing is ever buffered, so a simulated client is never a slow consumer. */
  get bufferedAmount(): number {
    return 0;
  }

  send(data: string): void {
    if (this.#readyState === OPEN) this.#client.onFrame(data);
  }

  /** The server closes: the simulated client answers the close handshake at once with the same code. */
  close(code: number = CloseCode.noStatus, reason = ''): void {
    this.#end(code, code, reason);
  }

  terminate(): void {
    this.#end(CloseCode.abnormal, CloseCode.abnormal, '');
  }

  /** The client closes (its code, or none: 1005). */
  clientClose(code?: number, reason = ''): void {
    this.#end(code ?? CloseCode.noStatus, code ?? CloseCode.noStatus, reason);
  }

  /** The client's network drops (1006). */
  clientDrop(): void {
    this.#end(CloseCode.abnormal, CloseCode.abnormal, '');
  }

  #end(clientCode: number, serverCode: number, reason: string): void {
    if (this.#readyState === CLOSED) return;
    this.#readyState = CLOSED;
    setImmediate(() => {
      this.#client.onClose?.(clientCode, reason);
      this.#closed(this.#owner, serverCode, reason);
    });
  }
}
