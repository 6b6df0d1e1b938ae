/**
 * The emulator runs any serverless.yml, not only PerkUp's: a minimal plain-JavaScript service, run from its own
 * folder through `npm run emulate -- --config …`, whose WebSocket handler answers through its own copy of the AWS
 * SDK (endpoint built the AWS way from the event) or through a raw HTTPS request, as a bundle would. Also what
 * serverless-offline users expect: the banner lists every route, /_emulator/health, Lambda's Invoke API, .env,
 * custom.serverless-offline and its camelCase flags, and a restart when serverless.yml changes.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { InvokeCommand, LambdaClient, ResourceNotFoundException } from '@aws-sdk/client-lambda';
import { MAX_SYNC_REQUEST_BYTES, MAX_ASYNC_REQUEST_BYTES } from '../harness/lambda/invokeApi.js';
import { ScenarioClient } from '../harness/scenarios/client.js';
import { listenSettings, parseFlags } from '../harness/cli/options.js';
import { startEmulateProcess, type EmulateProcess } from './helpers/emulateProcess.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const sdkPackage = '@aws-sdk/client-apigatewaymanagementapi';

/** A copy of the fixture service with its own copy of the management SDK in its own node_modules. */
function makeService(): string {
  const dir = join(root, 'test/.tmp', `plain-${randomUUID().slice(0, 8)}`);
  mkdirSync(dir, { recursive: true });
  cpSync(join(root, 'test/fixtures/plain-service'), dir, { recursive: true });
  cpSync(join(root, 'node_modules', sdkPackage), join(dir, 'node_modules', sdkPackage), { recursive: true });
  writeFileSync(join(dir, '.env'), 'GREETING=bonjour\n');
  return dir;
}

const lambdaClient = (endpoint: string) =>
  new LambdaClient({ endpoint, region: 'eu-central-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 });

let dir: string;
let emulate: EmulateProcess;
beforeAll(async () => {
  dir = makeService();
  emulate = await startEmulateProcess(['--config', join(dir, 'serverless.yml')], { GREETING: undefined }, { cwd: dir });
}, 60_000);
afterAll(async () => {
  await emulate?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('any serverless.yml through the CLI', () => {
  it("the handler resolves its own copy of the SDK, not the harness's", () => {
    const own = createRequire(join(dir, 'handlers/socket.js')).resolve(sdkPackage);
    expect(own.startsWith(dir)).toBe(true);
    expect(own).not.toBe(createRequire(import.meta.url).resolve(sdkPackage));
  });

  it('the banner lists every route and the emulator endpoints, and nothing of PerkUp', () => {
    const out = emulate.output();
    expect(out).toMatch(/plainsvc emulator ready in \d+ ms \(stage local/);
    expect(out).toMatch(/GET\s+http:\/\/127\.0\.0\.1:\d+\/health\s+→ λ health/);
    expect(out).toMatch(/routes: \$default/);
    expect(out).toMatch(/Health\s+http:\/\/127\.0\.0\.1:\d+\/_emulator\/health/);
    expect(out).not.toMatch(/token|JWT|graphql/i);
    expect(out).toMatch(/\.env: GREETING/);
  });

  it('GET /_emulator/health answers; the app route sees the .env variable', async () => {
    const health = await (await fetch(`${emulate.httpUrl}/_emulator/health`)).json();
    expect(health).toMatchObject({ status: 'ok', service: 'plainsvc', stage: 'local', functions: ['socket', 'health'] });
    const app = await fetch(`${emulate.httpUrl}/health`);
    expect(app.status).toBe(200);
    expect(await app.json()).toEqual({ ok: true, greeting: 'bonjour' });
  });

  it.each(['sdk', 'https'])('a real ws client gets the answer the handler posts via %s to https://{domainName}/{stage}', async (via) => {
    const client = new ScenarioClient('c', undefined);
    expect(await client.connect(emulate.wsUrl)).toEqual({ ok: true });
    client.send(JSON.stringify({ text: `hi ${via}`, via }));
    const frame = await client.waitFor({ echo: `hi ${via}` }, 15_000);
    expect(frame.json).toEqual({ echo: `hi ${via}`, greeting: 'bonjour', via });
    await client.disconnect();
  });

  it("Lambda's Invoke API answers the real SDK's LambdaClient (what aws lambda invoke --endpoint-url does)", async () => {
    const lambda = lambdaClient(emulate.httpUrl);
    const ok = await lambda.send(new InvokeCommand({ FunctionName: 'health', Payload: Buffer.from('{}') }));
    expect(ok.StatusCode).toBe(200);
    expect(ok.FunctionError).toBeUndefined();
    expect(JSON.parse(Buffer.from(ok.Payload!).toString())).toMatchObject({ statusCode: 200 });
    const byDeployedName = await lambda.send(new InvokeCommand({ FunctionName: 'plainsvc-local-health' }));
    expect(byDeployedName.StatusCode).toBe(200);
    // The socket handler without a WebSocket event fails: Lambda answers 200 with X-Amz-Function-Error.
    const failed = await lambda.send(new InvokeCommand({ FunctionName: 'socket', Payload: Buffer.from('{}') }));
    expect(failed.FunctionError).toBe('Unhandled');
    expect(JSON.parse(Buffer.from(failed.Payload!).toString())).toMatchObject({ errorType: 'TypeError', errorMessage: expect.any(String) });
    await expect(lambda.send(new InvokeCommand({ FunctionName: 'nope' }))).rejects.toBeInstanceOf(ResourceNotFoundException);
    const event = await lambda.send(new InvokeCommand({ FunctionName: 'health', InvocationType: 'Event' }));
    expect(event.StatusCode).toBe(202);
    // A synchronous request body over Lambda's 6 MB quota (6,291,456 bytes) is refused before anything runs.
    const tooLarge = Buffer.from(JSON.stringify({ padding: 'x'.repeat(MAX_SYNC_REQUEST_BYTES - 13) }));
    expect(tooLarge.byteLength).toBe(MAX_SYNC_REQUEST_BYTES + 1);
    await expect(lambda.send(new InvokeCommand({ FunctionName: 'health', Payload: tooLarge }))).rejects.toMatchObject({
      name: 'RequestTooLargeException',
      message: 'Request must be smaller than 6291456 bytes for the InvokeFunction operation',
      $metadata: { httpStatusCode: 413 },
    });
    const largest = Buffer.from(JSON.stringify({ padding: 'x'.repeat(MAX_SYNC_REQUEST_BYTES - 14) }));
    expect(largest.byteLength).toBe(MAX_SYNC_REQUEST_BYTES);
    expect((await lambda.send(new InvokeCommand({ FunctionName: 'health', Payload: largest }))).StatusCode).toBe(200);
    // An asynchronous one's quota is 1 MB (1,048,576 bytes).
    const padded = (bytes: number) => Buffer.from(JSON.stringify({ padding: 'x'.repeat(bytes - 14) }));
    expect(padded(MAX_ASYNC_REQUEST_BYTES).byteLength).toBe(MAX_ASYNC_REQUEST_BYTES);
    const async = (bytes: number) =>
      lambda.send(new InvokeCommand({ FunctionName: 'health', InvocationType: 'Event', Payload: padded(bytes) }));
    await expect(async(MAX_ASYNC_REQUEST_BYTES + 1)).rejects.toMatchObject({
      name: 'RequestTooLargeException',
      message: 'Request must be smaller than 1048576 bytes for the InvokeFunction operation',
      $metadata: { httpStatusCode: 413 },
    });
    expect((await async(MAX_ASYNC_REQUEST_BYTES)).StatusCode).toBe(202);
  });
});

describe('serverless-offline conventions', () => {
  it('custom.serverless-offline sets the ports unless a flag does; camelCase flags are aliases', () => {
    const offline = { httpPort: 3999, websocketPort: 4001, host: '0.0.0.0' };
    expect(listenSettings(parseFlags([]), offline)).toEqual({ httpPort: 3999, wsPort: 4001, host: '0.0.0.0' });
    expect(listenSettings(parseFlags(['--httpPort', '4100', '--websocketPort', '4101']), offline)).toEqual({
      httpPort: 4100,
      wsPort: 4101,
      host: '0.0.0.0',
    });
    expect(listenSettings(parseFlags(['--http-port', '0']), {})).toEqual({ httpPort: 0, wsPort: 3001, host: '127.0.0.1' });
    expect(() => listenSettings(parseFlags([]), { httpPort: 'x' })).toThrow(
      'custom.serverless-offline.httpPort must be a port number 0–65535, got "x"',
    );
  });

  it('a change to serverless.yml restarts the emulator on the same ports, with the new route', async () => {
    const watched = makeService();
    const process = await startEmulateProcess(['--config', join(watched, 'serverless.yml')], {}, { cwd: watched, watch: true });
    try {
      const file = join(watched, 'serverless.yml');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace(
          '      - httpApi: { method: GET, path: /health }',
          '      - httpApi: { method: GET, path: /health }\n      - httpApi: { method: GET, path: /ready }',
        ),
      );
      await vi.waitFor(() => expect(process.output()).toMatch(/restarting[\s\S]*GET\s+http:\/\/127\.0\.0\.1:\d+\/ready\s+→ λ health/), {
        timeout: 30_000,
        interval: 100,
      });
      const ready = await fetch(`${process.httpUrl}/ready`);
      expect(ready.status).toBe(200);
    } finally {
      await process.stop();
      rmSync(watched, { recursive: true, force: true });
    }
  }, 60_000);
});
