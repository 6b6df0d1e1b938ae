/**
 * The ws-app fixture on a live emulator, with helpers to read the events its handlers recorded and to open
 * queued clients (the scenario engine's client, which queues every frame from the moment the socket opens).
 */
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { startEmulator, type Emulator } from '../../harness/emulator.js';
import { ScenarioClient } from '../../harness/scenarios/client.js';

export const wsAppRoot = fileURLToPath(new URL('../fixtures/ws-app', import.meta.url));

export async function startWsApp(options: Partial<Parameters<typeof startEmulator>[0]> = {}) {
  const emulator: Emulator = await startEmulator({ projectRoot: wsAppRoot, ...options });
  const db = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: emulator.dynamodb.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    }),
  );
  const clients: ScenarioClient[] = [];
  return {
    emulator,
    /** Every event recorded for a route (and connection), oldest first. */
    async events(routeKey: string, connectionId?: string): Promise<Array<Record<string, any>>> {
      const { Items = [] } = await db.send(new ScanCommand({ TableName: 'wsfixture-events' }));
      return Items.filter((i) => i.routeKey === routeKey && (!connectionId || i.connectionId === connectionId))
        .map(
          (i): Record<string, any> => ({
            ...(JSON.parse(i.event as string) as Record<string, any>),
            _postDuringConnect: i.postDuringConnect,
          }),
        )
        .sort((a, b) => a.requestContext.requestTimeEpoch - b.requestContext.requestTimeEpoch);
    },
    /**
     * Polls until `probe` returns something (handlers record asynchronously to the test). The bound is generous
     * because a busy machine can be slow; `awaited` says in the failure what never happened.
     */
    async eventually<T>(probe: () => Promise<T | undefined>, awaited: string, withinMs = 15_000): Promise<T> {
      const deadline = Date.now() + withinMs;
      for (;;) {
        const value = await probe();
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error(`still waiting after ${withinMs} ms for: ${awaited}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    /** The events recorded for a route and connection, once at least one is there. */
    async eventsOnceRecorded(routeKey: string, connectionId: string): Promise<Array<Record<string, any>>> {
      return this.eventually(async () => {
        const events = await this.events(routeKey, connectionId);
        return events.length ? events : undefined;
      }, `a ${routeKey} event of connection ${connectionId}`);
    },
    /**
     * The connection id the emulator gave a client, found from its recorded $connect event by the client's unique
     * user agent: this works for refused handshakes too, which leave no open connection to look up.
     */
    async connectionIdFromConnectEvent(client: ScenarioClient): Promise<string> {
      return this.eventually(async () => {
        const { Items = [] } = await db.send(new ScanCommand({ TableName: 'wsfixture-events' }));
        const match = Items.map((i) => JSON.parse(i.event as string) as Record<string, any>).find(
          (e) => e.requestContext.routeKey === '$connect' && e.requestContext.identity?.userAgent === client.userAgent,
        );
        return match?.requestContext.connectionId as string | undefined;
      }, `the $connect event of client ${client.userAgent}`);
    },
    async client(options: Parameters<ScenarioClient['connect']>[1] = {}) {
      const client = new ScenarioClient('client', undefined);
      clients.push(client);
      const outcome = await client.connect(emulator.wsUrl, options);
      client.connectionId = emulator.websocketApi.connections.find((c) => c.userAgent === client.userAgent);
      return { client, outcome };
    },
    management(endpoint = emulator.managementUrl) {
      return new ApiGatewayManagementApiClient({
        endpoint,
        region: 'eu-west-1',
        maxAttempts: 1,
        credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      });
    },
    async close() {
      await Promise.all(clients.map((c) => c.disconnect({ abrupt: true }).catch(() => undefined)));
      await emulator.close();
    },
  };
}

export type WsApp = Awaited<ReturnType<typeof startWsApp>>;
