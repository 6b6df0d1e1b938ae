import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface EmulateProcess {
  child: ChildProcess;
  graphqlUrl: string;
  httpUrl: string;
  wsUrl: string;
  output: () => string;
  /** Sends SIGINT (Ctrl-C) and resolves with the exit code. */
  stop: () => Promise<number | null>;
}

/** Starts `npm run emulate`'s entry point on free ports and waits for its endpoints. */
export async function startEmulateProcess(
  extraArgs: string[] = [],
  env: NodeJS.ProcessEnv = {},
  options: { cwd?: string; watch?: boolean } = {},
): Promise<EmulateProcess> {
  const fixed = ['--http-port', '0', '--ws-port', '0', '--memory', ...(options.watch ? [] : ['--no-watch'])];
  const cwd = options.cwd ?? root;
  const child = spawn(process.execPath, ['--import', 'tsx', `${root}/harness/cli/emulate.ts`, ...fixed, ...extraArgs], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`emulate did not start:\n${out}`)), 20_000);
    const check = (): void => {
      if (/Ctrl-C to stop/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`emulate exited with ${code}:\n${out}`)));
  });
  const httpUrl = /HTTP API\s+(\S+)/.exec(out)![1];
  // The first HTTP route the banner lists (PerkUp's is POST /graphql).
  const graphqlUrl = /^\s+\w+\s+(http:\/\/\S+)\s+→ λ/m.exec(out)?.[1] ?? httpUrl;
  const wsUrl = /WebSocket\s+(ws:\/\/[^?\s]+)/.exec(out)![1];
  return {
    child,
    graphqlUrl,
    httpUrl,
    wsUrl,
    output: () => out,
    stop: async () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}
