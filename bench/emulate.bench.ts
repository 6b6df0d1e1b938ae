/**
 * `npm run emulate` as a user runs it, a separate process: how long from its start to the first answered GraphQL
 * request (against a minimal `ws` + node:http server started the same way), and its resident memory (the whole
 * process tree) holding N subscribed sockets and right after they all drop at once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { signDevelopmentToken } from '../src/auth/tokens.js';
import { BENCH_SECRET } from './fanout.bench.js';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface EmulateProcess {
  child: ChildProcess;
  graphqlUrl: string;
  wsUrl: string;
  healthUrl: string;
  /** GET /_emulator/events: the emulator's event log. */
  eventsUrl: string;
  /** performance.now() when the process was spawned. */
  spawnedAt: number;
  stop(): Promise<void>;
}

/** Spawns a node process and resolves once its stdout matches `ready` (with the match). */
function spawnUntil(
  args: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; match: RegExpExecArray; spawnedAt: number; output: () => string }> {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const match = ready.exec(out);
      if (match) {
        child.stdout!.off('data', onData);
        // Keep draining: a full pipe would block the child.
        child.stdout!.resume();
        resolve({ child, match, spawnedAt, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code} before it was ready:\n${out}`)));
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGINT');
    });
}

/** The node options package.json's `emulate` script starts node with (`node <options> harness/cli/start.mjs`). */
export function emulateScriptNodeOptions(): string[] {
  const script = (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts.emulate;
  const words = script.split(/\s+/);
  if (words[0] !== 'node' || words.at(-1) !== 'harness/cli/start.mjs')
    throw new Error(`package.json's emulate script is no longer "node [options] harness/cli/start.mjs": ${script}`);
  return words.slice(1, -1);
}

/** `extra`: emulate's own flags; `nodeArgs`: node's, before the script (e.g. --cpu-prof). */
export async function startEmulate(extra: string[] = [], nodeArgs: string[] = []): Promise<EmulateProcess> {
  const args = [
    // As `npm run emulate` starts it (package.json), its node options included.
    ...emulateScriptNodeOptions(),
    ...nodeArgs,
    'harness/cli/start.mjs',
    '--memory',
    '--no-watch',
    '--quiet',
    '--http-port',
    '0',
    '--ws-port',
    '0',
    '--latency',
    'none',
    ...extra,
  ];
  const { child, spawnedAt, output } = await spawnUntil(args, /Ctrl-C to stop/, { JWT_SECRET: BENCH_SECRET });
  const out = output();
  return {
    child,
    spawnedAt,
    graphqlUrl: /^\s+POST\s+(http:\/\/\S+\/graphql)\s/m.exec(out)![1],
    wsUrl: /WebSocket\s+(ws:\/\/[^?\s]+)/.exec(out)![1],
    healthUrl: /Health\s+(\S+)/.exec(out)![1],
    eventsUrl: /Events\s+(\S+)/.exec(out)![1],
    stop: stopper(child),
  };
}

/** One authenticated read through the GraphQL Lambda; resolves when answered (throws on anything but 200). */
export async function graphqlQuery(graphqlUrl: string, token: string): Promise<void> {
  const response = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ partners(city: "Paris") { __typename } }' }),
  });
  const text = await response.text();
  if (response.status !== 200 || text.includes('"errors"')) throw new Error(`GraphQL answered ${response.status}: ${text.slice(0, 200)}`);
}

/**
 * Milliseconds from spawning `emulate` to its first answered GraphQL request: the graphql function's cold start is
 * in it (pre-warmed during start-up, or paid by the request with --no-prewarm in `extra`).
 */
export async function emulateStartToFirstAnswer(extra: string[] = []): Promise<number> {
  const token = await signDevelopmentToken({ sub: 'start', role: 'user' }, BENCH_SECRET);
  const emulate = await startEmulate(extra);
  try {
    await graphqlQuery(emulate.graphqlUrl, token);
    return performance.now() - emulate.spawnedAt;
  } finally {
    await emulate.stop();
  }
}

/** The baseline: a minimal ws + node:http server (bench/fixtures/minimal-server.mjs), spawn to first answer. */
export async function minimalServerStartToFirstAnswer(): Promise<number> {
  const { child, match, spawnedAt } = await spawnUntil(
    [fileURLToPath(new URL('./fixtures/minimal-server.mjs', import.meta.url))],
    /listening on (\d+)/,
  );
  try {
    const response = await fetch(`http://127.0.0.1:${match[1]}/graphql`, {
      method: 'POST',
      body: '{"query":"{ partners { __typename } }"}',
    });
    await response.text();
    if (response.status !== 200) throw new Error(`minimal server answered ${response.status}`);
    return performance.now() - spawnedAt;
  } finally {
    await stopper(child)();
  }
}

/** Resident memory of a process and all its descendants, in MB (Linux /proc). */
export function treeRssMb(pid: number): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the command's closing parenthesis: state, ppid, …
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // The process ended while we looked.
    }
  }
  let kb = 0;
  const pending = [pid];
  while (pending.length) {
    const next = pending.pop()!;
    try {
      kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${next}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      continue;
    }
    pending.push(...(children.get(next) ?? []));
  }
  return kb / 1024;
}
