/**
 * `npm run emulate` as users run it: a separate process on free ports. The same functional scenario files pass
 * against it (steps that need the emulator's insides are skipped with a reason) and in-process; Ctrl-C stops it
 * cleanly, running $disconnect for every open connection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandPaths } from '../harness/scenarios/paths.js';
import { runScenarios } from '../harness/scenarios/runner.js';
import { inProcessTargets, remoteTarget } from '../harness/scenarios/target.js';
import { consoleLine } from '../harness/scenarios/reporters.js';
import { startEmulateProcess, type EmulateProcess } from './helpers/emulateProcess.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const JWT_SECRET = 'cli-test-secret';
let emulate: EmulateProcess;

beforeAll(async () => {
  // Functional scenarios are about behaviour, not network time: the same 'none' profile the in-process runs use.
  emulate = await startEmulateProcess(['--latency', 'none'], { JWT_SECRET });
});
afterAll(async () => {
  if (emulate.child.exitCode === null) await emulate.stop();
});

describe('npm run emulate', () => {
  it('prints every route, its endpoints, the secret source and the token command serverless.yml configures', () => {
    expect(emulate.output()).toMatch(/perkup emulator ready in \d+ ms/);
    expect(emulate.output()).toMatch(/POST\s+http:\/\/127\.0\.0\.1:\d+\/graphql\s+→ λ graphql/);
    expect(emulate.graphqlUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/);
    expect(emulate.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(emulate.output()).toMatch(/WebSocket\s+ws:\/\/127\.0\.0\.1:\d+\?token=<JWT>\n\s+routes: \$connect, \$disconnect, \$default/);
    expect(emulate.output()).toMatch(/Management\s+http:\/\/127\.0\.0\.1:\d+\/dev\/@connections\/\{connectionId\}/);
    expect(emulate.output()).toMatch(/Health\s+http:\/\/127\.0\.0\.1:\d+\/_emulator\/health/);
    expect(emulate.output()).toContain('Tokens      HS256 with JWT_SECRET from the environment');
    expect(emulate.output()).toContain('npm run -s token -- --sub alice --role admin');
  });

  it("defaults to the 'aws' latency profile and says so in its banner; --latency none switches it off", async () => {
    expect(emulate.output()).toMatch(/Latency\s+none \(AWS calls answer at once, indexes immediately consistent\)/);
    const byDefault = await startEmulateProcess(['--check'], { JWT_SECRET });
    // --check stops on its own once it has printed.
    const code = byDefault.child.exitCode ?? (await new Promise<number | null>((resolve) => byDefault.child.once('exit', resolve)));
    expect(code).toBe(0);
    expect(byDefault.output()).toMatch(
      /Latency\s+aws \(execute-api 20–40 ms, dynamodb 4–10 ms, other services 10–20 ms, index lag 100–1000 ms\)/,
    );
  });

  it("starts the first Lambda container's init before loading what only later steps need (the DynamoDB SDK, ws), and never loads what nothing used", async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'packages-loaded-')), 'packages.json');
    // As `npm run emulate` runs it (start.mjs, the precompiled bundle), with a recorder preloaded in its main thread.
    const child = spawn(
      process.execPath,
      [
        '-r',
        './test/fixtures/preload/packagesLoaded.cjs',
        'harness/cli/start.mjs',
        '--memory',
        '--no-watch',
        '--http-port',
        '0',
        '--ws-port',
        '0',
      ],
      { cwd: root, env: { ...process.env, JWT_SECRET, PACKAGES_LOADED_FILE: file }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      // Ready, and the graphql container pre-warmed (its line comes after the banner).
      for (let waited = 0; waited < 300 && !/graphql: one container warmed/.test(out); waited++)
        await new Promise((r) => setTimeout(r, 100));
      expect(out).toMatch(/graphql: one container warmed at start-up/);
      // The functions behind the APIs only: stream and queue consumers start cold on their first batch, as on AWS.
      expect(out).toMatch(/behind the APIs is being initialized now, one after another \(graphql, websocket\)/);
    } finally {
      // Stopped whatever happened above: a failed expectation must not leave an emulator running after the test.
      child.kill('SIGINT');
      await exited;
    }
    const { atFirstWorker, atExit } = JSON.parse(readFileSync(file, 'utf8')) as { atFirstWorker: string[] | null; atExit: string[] };
    // The recorder sees packages: dynalite serves DynamoDB's endpoint, which the containers' environment names.
    expect(atFirstWorker).toContain('dynalite');
    expect(atFirstWorker).not.toContain('@aws-sdk/client-dynamodb');
    expect(atFirstWorker).not.toContain('ws');
    // Loaded after, while the container's init runs.
    expect(atExit).toEqual(expect.arrayContaining(['@aws-sdk/client-dynamodb', 'ws']));
    // Only for a Prometheus scrape, an external DynamoDB's stream, a --package run.
    for (const unused of ['prom-client', '@aws-sdk/client-dynamodb-streams', 'fflate']) expect(atExit).not.toContain(unused);
  });

  it('refuses an unknown latency profile (listing the known ones) and a bad container count or connection quota, with exit code 2', async () => {
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'harness/cli/emulate.ts', '--latency', 'fast', '--check'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--latency: Unknown latency profile "fast" (known: none, aws)');
    const badPool = spawnSync(process.execPath, ['--import', 'tsx', 'harness/cli/emulate.ts', '--max-containers', '0', '--check'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(badPool.status).toBe(2);
    expect(badPool.stderr).toContain('--max-containers must be a whole number 1–256, got "0"');
    const badQuota = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'harness/cli/emulate.ts', '--max-connections-per-second', '0', '--check'],
      { cwd: root, encoding: 'utf8' },
    );
    expect(badQuota.status).toBe(2);
    expect(badQuota.stderr).toContain('--max-connections-per-second must be a whole number 1–1000000, got "0"');
  });

  it('the same functional scenario files pass against it and in-process', async () => {
    const files = await expandPaths(['scenarios/functional'], root);
    const remote = await runScenarios(files, {
      targets: remoteTarget({ httpUrl: emulate.httpUrl, wsUrl: emulate.wsUrl, projectRoot: root, jwtSecret: JWT_SECRET }),
      concurrency: 1,
    });
    expect(remote.results.filter((r) => r.status === 'failed').map(consoleLine)).toEqual([]);
    // A scenario that could not run every step remotely is reported as skipped, never as passed.
    for (const result of remote.results) {
      const skipped = result.steps.filter((s) => s.status === 'skipped');
      expect(result.status, result.name).toBe(skipped.length ? 'skipped' : 'passed');
      for (const step of skipped) expect(step.reason).toMatch(/needs the emulator's insides .* not available on remote|depends on skipped/);
    }
    expect(remote.skipped).toBeGreaterThan(0);
    expect(remote.passed).toBeGreaterThan(0);

    const inProcess = inProcessTargets({ projectRoot: root, size: 2, jwtSecret: JWT_SECRET });
    try {
      const local = await runScenarios(files, { targets: inProcess, concurrency: 2 });
      expect(local.results.filter((r) => r.status !== 'passed').map(consoleLine)).toEqual([]);
      expect(local.results.flatMap((r) => r.steps.filter((s) => s.status === 'skipped'))).toEqual([]);
    } finally {
      await inProcess.close();
    }
  }, 300_000); // the whole functional suite twice; minutes when the machine is busy

  it('Ctrl-C disconnects open clients ($disconnect runs, 1001 Going away) and exits 0', async () => {
    const token = await signDevelopmentToken({ sub: 'late', role: 'user' }, JWT_SECRET);
    const socket = new WebSocket(`${emulate.wsUrl}?token=${token}`);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    expect(await emulate.stop()).toBe(0);
    expect(await closed).toBe(1001);
    expect(emulate.output()).toMatch(/SIGINT: disconnecting clients and stopping/);
    expect(emulate.output()).toMatch(/λ websocket \$disconnect ok/);
  });
});
