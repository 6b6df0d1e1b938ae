/**
 * A fleet of WebSocket clients in a child process of the bench. Why a separate process: one process may hold 20,000
 * file descriptors here, and 10,000 clients plus the 10,000 server-side sockets they connect to would not fit in
 * one; it also keeps the clients' CPU apart from the server being measured, as on a real network.
 *
 * The parent drives it over IPC (`startFleet`). Times that span both processes are absolute
 * (`performance.timeOrigin + performance.now()`), so the parent can subtract its own start from the fleet's end.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export type FleetRequest =
  | { op: 'open'; urls: string[]; inFlight: number }
  | { op: 'sendAll'; text: string; until: string }
  | { op: 'arm'; until: string }
  | { op: 'closeAll' };

export interface OpenResult {
  opened: number;
  refused: Record<string, number>;
  seconds: number;
}

const now = (): number => performance.timeOrigin + performance.now();

// ---- child side -----------------------------------------------------------------------------------------------

const sockets: WebSocket[] = [];

function openOne(url: string): Promise<WebSocket | string> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_request, response) => {
      resolve(String(response.statusCode));
      response.resume();
      socket.terminate();
    });
    socket.once('error', (error) => {
      if (socket.readyState !== WebSocket.OPEN) resolve(error.message);
    });
  });
}

/** Opens one socket per URL with at most `inFlight` handshakes at once (a load generator's concurrency). */
async function open(urls: string[], inFlight: number): Promise<OpenResult> {
  const count = urls.length;
  const refused: Record<string, number> = {};
  let next = 0;
  let opened = 0;
  const started = now();
  await Promise.all(
    Array.from({ length: Math.min(inFlight, count) }, async () => {
      while (next++ < count) {
        const outcome = await openOne(urls[next - 1]);
        if (typeof outcome === 'string') refused[outcome] = (refused[outcome] ?? 0) + 1;
        else {
          sockets.push(outcome);
          opened++;
        }
      }
    }),
  );
  return { opened, refused, seconds: (now() - started) / 1000 };
}

/** Resolves with the absolute time the last socket received a message containing `until`. */
function allReceive(until: string): Promise<number> {
  let remaining = sockets.length;
  if (remaining === 0) return Promise.resolve(now());
  return new Promise((resolve) => {
    for (const socket of sockets) {
      const onMessage = (data: WebSocket.RawData): void => {
        if (!data.toString().includes(until)) return;
        socket.off('message', onMessage);
        if (--remaining === 0) resolve(now());
      };
      socket.on('message', onMessage);
    }
  });
}

async function serve(request: FleetRequest, reply: (value: unknown) => void): Promise<void> {
  switch (request.op) {
    case 'open':
      return reply(await open(request.urls, request.inFlight));
    case 'sendAll': {
      const done = allReceive(request.until);
      const started = now();
      for (const socket of sockets) socket.send(request.text);
      return reply({ seconds: ((await done) - started) / 1000 });
    }
    case 'arm': {
      // Listening before the parent acts: the reply to `arm` says so, the later `received` message ends it.
      const done = allReceive(request.until);
      reply({ armed: true });
      process.send!({ event: 'received', at: await done });
      return;
    }
    case 'closeAll':
      for (const socket of sockets.splice(0)) socket.terminate();
      return reply({ closed: true });
  }
}

if (process.argv[2] === '--fleet-child') {
  process.on('message', (message: { id: number; request: FleetRequest }) => {
    void serve(message.request, (value) => process.send!({ id: message.id, value }));
  });
  process.on('disconnect', () => process.exit(0));
}

// ---- parent side ----------------------------------------------------------------------------------------------

export interface Fleet {
  /** One socket per URL (each client its own token, as each user is). */
  open(urls: string[], inFlight?: number): Promise<OpenResult>;
  /** Sends `text` from every socket; seconds from the first send until every socket has a reply containing `until`. */
  sendAll(text: string, until: string): Promise<{ seconds: number }>;
  /** Absolute time the last socket got a message containing `until`, once `act` (started after arming) has run. */
  timeUntilAll(until: string, act: () => Promise<unknown>): Promise<{ startedAt: number; lastAt: number }>;
  closeAll(): Promise<void>;
  /** The child's resident memory is not the server's: the parent measures the server's tree without this pid. */
  readonly pid: number;
  stop(): Promise<void>;
}

export async function startFleet(): Promise<Fleet> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--fleet-child'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let nextId = 0;
  const pending = new Map<number, (value: unknown) => void>();
  let onReceived: ((at: number) => void) | undefined;
  child.on('message', (message: { id?: number; value?: unknown; event?: string; at?: number }) => {
    if (message.event === 'received') return onReceived?.(message.at!);
    pending.get(message.id!)?.(message.value);
    pending.delete(message.id!);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    for (const resolve of pending.values()) resolve(Promise.reject(new Error('the client fleet exited')));
  });
  const call = <T>(request: FleetRequest): Promise<T> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve as (value: unknown) => void);
      child.send({ id, request });
    });
  return {
    pid: child.pid!,
    open: (urls, inFlight = 64) => call<OpenResult>({ op: 'open', urls, inFlight }),
    sendAll: (text, until) => call<{ seconds: number }>({ op: 'sendAll', text, until }),
    async timeUntilAll(until, act) {
      const received = new Promise<number>((resolve) => (onReceived = resolve));
      await call({ op: 'arm', until });
      const startedAt = now();
      await act();
      return { startedAt, lastAt: await received };
    },
    closeAll: () => call<unknown>({ op: 'closeAll' }).then(() => undefined),
    async stop() {
      child.disconnect();
      await exited;
    },
  };
}
