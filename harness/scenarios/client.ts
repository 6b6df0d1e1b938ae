/**
 * A scenario's WebSocket client. It queues every frame from the moment the socket opens (graphql-ws's test-client
 * habit), so an expectation finds a frame that arrived before the step started; `waitFor` consumes the first
 * unconsumed frame matching a pattern, now or later; `expectNone` waits out its whole window.
 */
import WebSocket from 'ws';
import { randomUUID } from 'node:crypto';
import { distance, matches } from './matchers.js';

export interface Frame {
  text: string;
  json: unknown;
  /** ms since the client connected */
  at: number;
  /** epoch ms when it arrived */
  receivedAt: number;
  consumed: boolean;
}

export class ExpectationFailure extends Error {
  override name = 'ExpectationFailure';
  constructor(
    message: string,
    readonly detail: { pattern?: unknown; nearest?: unknown; received?: Frame[] } = {},
  ) {
    super(message);
  }
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

export class ScenarioClient {
  /** A unique User-Agent lets an in-process target find this client's connection id. */
  readonly userAgent = `emulator-scenario/${randomUUID()}`;
  connectionId: string | undefined;
  readonly frames: Frame[] = [];
  private socket: WebSocket | undefined;
  private openedAt = 0;
  private listeners = new Set<(frame: Frame) => void>();
  private closeInfo: { code: number; reason: string } | undefined;
  private closeListeners = new Set<(info: { code: number; reason: string }) => void>();

  /**
   * `tokenParameter`: the query parameter that carries `token` at the handshake (`?token=…` by default); undefined
   * sends it as `Authorization: Bearer …` instead.
   */
  constructor(
    readonly name: string,
    readonly token: string | undefined,
    private readonly tokenParameter: string | undefined = 'token',
  ) {}

  /** Opens the socket; resolves with the handshake's refusal status when API Gateway refuses it. */
  async connect(
    wsUrl: string,
    options: { query?: Record<string, string>; headers?: Record<string, string>; protocols?: string[] } = {},
  ): Promise<{ ok: true } | { ok: false; status: number }> {
    const url = new URL(wsUrl);
    const tokenHeader: Record<string, string> = {};
    if (this.token !== undefined && this.tokenParameter !== undefined) url.searchParams.set(this.tokenParameter, this.token);
    else if (this.token !== undefined) tokenHeader.authorization = `Bearer ${this.token}`;
    for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.append(key, value);
    const socket = new WebSocket(url, options.protocols ?? [], {
      headers: { 'user-agent': this.userAgent, ...tokenHeader, ...options.headers },
    });
    this.socket = socket;
    return new Promise((resolve, reject) => {
      socket.once('open', () => {
        this.openedAt = Date.now();
        resolve({ ok: true });
      });
      socket.once('unexpected-response', (_request, response) => {
        resolve({ ok: false, status: response.statusCode ?? 0 });
        response.resume();
        socket.terminate();
      });
      socket.once('error', (error) => {
        if (socket.readyState !== WebSocket.OPEN) reject(error);
      });
      socket.on('message', (data) => {
        const text = data.toString();
        const now = Date.now();
        const frame: Frame = { text, json: parse(text), at: now - this.openedAt, receivedAt: now, consumed: false };
        this.frames.push(frame);
        for (const listener of this.listeners) listener(frame);
      });
      socket.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const listener of this.closeListeners) listener(this.closeInfo);
      });
    });
  }

  /** The underlying socket, for tests that need frames the scenario format does not offer (binary, fragments, pings). */
  get raw(): WebSocket {
    if (!this.socket) throw new Error(`client ${this.name} has not connected`);
    return this.socket;
  }

  get isOpen(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  send(text: string): void {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) throw new ExpectationFailure(`client ${this.name} is not connected`);
    this.socket.send(text);
  }

  /** The first unconsumed frame matching `pattern`, from the queue or arriving within `withinMs`; consumed. */
  waitFor(pattern: unknown, withinMs: number): Promise<Frame> {
    const since = Date.now() - this.openedAt;
    const take = (frame: Frame): boolean => {
      if (frame.consumed || !matches(pattern, frame.json)) return false;
      frame.consumed = true;
      return true;
    };
    const queued = this.frames.find(take);
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const listener = (frame: Frame): void => {
        if (!take(frame)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(frame);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        const candidates = this.frames.filter((f) => !f.consumed);
        const nearest = candidates.sort((a, b) => distance(pattern, a.json) - distance(pattern, b.json))[0];
        reject(
          new ExpectationFailure(`${this.name}: no message matching the pattern within ${withinMs} ms`, {
            pattern,
            ...(nearest ? { nearest: nearest.json } : {}),
            received: this.frames.filter((f) => f.at >= since - 1 || !f.consumed),
          }),
        );
      }, withinMs);
      this.listeners.add(listener);
    });
  }

  /**
   * Fails if a frame matching `pattern` was queued unconsumed when the window opened or arrives during it — even if
   * another expectation consumed it meanwhile: a broader positive pattern must not hide a forbidden frame. With
   * `after`, the window lasts until `duringMs` after it settles.
   */
  async expectNone(pattern: unknown, duringMs: number, after?: Promise<unknown>): Promise<void> {
    const since = Date.now() - this.openedAt;
    const watched = new Set(this.frames.filter((f) => !f.consumed));
    const firstNew = this.frames.length;
    if (after) await after;
    await new Promise((resolve) => setTimeout(resolve, duringMs));
    const frame = [...watched, ...this.frames.slice(firstNew)].find((f) => matches(pattern, f.json));
    if (frame) {
      throw new ExpectationFailure(`${this.name}: received a message it must not receive (at ${frame.at} ms)`, {
        pattern,
        nearest: frame.json,
        received: this.frames.filter((f) => f.at >= since - 1 || !f.consumed),
      });
    }
  }

  /** Resolves with the close code and reason once the socket is closed (by either side). */
  closed(withinMs: number): Promise<{ code: number; reason: string }> {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.closeListeners.delete(listener);
        reject(new ExpectationFailure(`${this.name}: the connection was still open after ${withinMs} ms`));
      }, withinMs);
      const listener = (info: { code: number; reason: string }): void => {
        clearTimeout(timer);
        resolve(info);
      };
      this.closeListeners.add(listener);
    });
  }

  /** Clean close (close frame, optional code) or abrupt (TCP dropped without a close frame). */
  async disconnect(options: { code?: number; abrupt?: boolean } = {}): Promise<void> {
    if (!this.socket || this.socket.readyState === WebSocket.CLOSED) return;
    const done = new Promise((resolve) => this.socket!.once('close', resolve));
    if (options.abrupt) this.socket.terminate();
    else this.socket.close(options.code);
    await done;
  }
}
