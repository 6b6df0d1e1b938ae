/**
 * postToConnection throughput through the real AWS SDK v3 client: served in-process by the emulator (the SDK
 * interceptor) versus the same management API over HTTP on loopback, measured in the same run.
 */
import WebSocket from 'ws';
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import { createWebSocketApi } from '../harness/apiGateway/websocket/api.js';
import { createClock } from '../harness/clock.js';
import { fileURLToPath } from 'node:url';
import { installManagementApiFastPath, installSdkInterceptor } from '../harness/lambda/sdkInterceptor.js';
import { startEmulator } from '../harness/emulator.js';

const CALLS = Number(process.env.BENCH_POSTS ?? 20_000);
const CONCURRENCY = 64;

async function drive(client: ApiGatewayManagementApiClient, connectionId: string, calls: number): Promise<number> {
  const data = Buffer.from('{"type":"bench"}');
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < calls) await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
    }),
  );
  return calls / ((performance.now() - started) / 1000);
}

export async function benchPostToConnection(): Promise<{ fast: number; wire: number; http: number }> {
  const api = createWebSocketApi({
    invoke: async () => ({ ok: true, value: null, requestId: 'r', coldStart: false, durationMs: 0 }),
    routes: {},
    routeSelectionExpression: '$request.body.action',
    stage: 'bench',
    apiId: 'bench12345',
    region: 'eu-west-1',
    clock: createClock(),
  });
  const { port } = await api.listen(0);
  const socket = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((resolve) => socket.once('open', resolve));
  let received = 0;
  socket.on('message', () => received++);
  const connectionId = api.connections.list()[0].connectionId;
  const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };

  const host = 'bench12345.execute-api.eu-west-1.amazonaws.com';
  const inProcessClient = new ApiGatewayManagementApiClient({
    endpoint: `https://${host}/bench`,
    region: 'eu-west-1',
    credentials,
    maxAttempts: 1,
  });
  const uninstallFast = installManagementApiFastPath((h) => h === host, api.management.handle);
  await drive(inProcessClient, connectionId, 2000); // warm-up
  const fast = await drive(inProcessClient, connectionId, CALLS);
  uninstallFast();
  const uninstallWire = installSdkInterceptor((h) => h === host, api.management.handle);
  await drive(inProcessClient, connectionId, 2000);
  const wire = await drive(inProcessClient, connectionId, Math.min(CALLS, 10_000));
  uninstallWire();

  const httpClient = new ApiGatewayManagementApiClient({
    endpoint: `http://127.0.0.1:${port}/bench`,
    region: 'eu-west-1',
    credentials,
    maxAttempts: 1,
  });
  await drive(httpClient, connectionId, 1000);
  const http = await drive(httpClient, connectionId, Math.min(CALLS, 10_000));

  socket.terminate();
  await api.close();
  if (received === 0) throw new Error('no post reached the socket: the benchmark measured nothing');
  return { fast, wire, http };
}

/** The production path: a handler in a Lambda container posting through its own SDK client, across the thread hop. */
export async function benchPostFromLambda(): Promise<number> {
  const emulator = await startEmulator({ projectRoot: fileURLToPath(new URL('./fixtures/blast-app', import.meta.url)) });
  try {
    const socket = new WebSocket(emulator.wsUrl);
    await new Promise((resolve) => socket.once('open', resolve));
    let received = 0;
    socket.on('message', () => received++);
    const connectionId = emulator.websocketApi.connections.list()[0].connectionId;
    await emulator.invoker.invoke('blast', { connectionId, calls: 2000 }, 'bench warm-up');
    const result = await emulator.invoker.invoke('blast', { connectionId, calls: CALLS }, 'bench');
    socket.terminate();
    if (!result.ok) throw new Error(`blast failed: ${result.error.message}`);
    if (received === 0) throw new Error('no post reached the socket');
    return (result.value as { perSecond: number }).perSecond;
  } finally {
    await emulator.close();
  }
}
