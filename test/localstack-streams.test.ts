/**
 * The stream-fed notification end to end on LocalStack's own DynamoDB Streams (free in the community image the
 * compose file pins): the emulator creates serverless.yml's tables there with their StreamSpecification, polls
 * LocalStack's stream, and its notifier delivers. The compose file's LocalStack loads the services that needs (checked
 * without Docker); the rest runs where a Docker engine answers (testcontainers) or LOCALSTACK_ENDPOINT names a running
 * LocalStack, and skips with one line otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { DescribeTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { LocalstackContainer } from '@testcontainers/localstack';
import { startEmulator, type Emulator } from '../harness/emulator.js';
import type { LoggedEvent } from '../harness/eventLog.js';
import { loadScenario } from '../harness/scenarios/loader.js';
import { runScenario } from '../harness/scenarios/runner.js';
import { inProcessTargets, type TargetFactory } from '../harness/scenarios/target.js';
import { consoleLine } from '../harness/scenarios/reporters.js';
import { until as waitUntil } from './helpers/until.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const compose = parse(readFileSync(`${root}docker-compose.localstack.yml`, 'utf8')) as {
  services: Record<string, { image: string; environment?: Record<string, string> }>;
};
const localstack = compose.services.localstack;

describe('docker-compose.localstack.yml for streams', () => {
  it('loads DynamoDB Streams (and Kinesis, where LocalStack keeps them) beside DynamoDB', () => {
    expect(localstack.environment?.SERVICES?.split(',')).toEqual(expect.arrayContaining(['dynamodb', 'dynamodbstreams', 'kinesis']));
  });
});

const docker = await getContainerRuntimeClient().then(
  () => ({ available: true, reason: '' }),
  (error: Error) => ({ available: false, reason: `no Docker engine answers here (${error.message})` }),
);
const running = process.env.LOCALSTACK_ENDPOINT?.trim() || undefined;

const until = <T>(probe: () => T | undefined | false, what: string, ms = 30_000) => waitUntil(probe, what, ms, 50);

describe.skipIf(!docker.available && !running)(
  `stream-fed notifications on LocalStack's DynamoDB Streams${docker.available || running ? '' : ` — skipped: ${docker.reason}, and LOCALSTACK_ENDPOINT is not set`}`,
  () => {
    let container: StartedTestContainer | undefined;
    let endpoint: string;
    beforeAll(async () => {
      endpoint = running ?? '';
      if (!running) {
        const started = await new LocalstackContainer(localstack.image).withEnvironment(localstack.environment ?? {}).start();
        container = started;
        endpoint = started.getConnectionUri();
      }
    }, 180_000);
    afterAll(async () => {
      await container?.stop();
    }, 60_000);

    describe('the stream fixture', () => {
      let emulator: Emulator;
      let db: DynamoDBClient;
      beforeAll(async () => {
        emulator = await startEmulator({
          projectRoot: fileURLToPath(new URL('./fixtures/stream-app', import.meta.url)),
          storage: { endpoint },
          streamRetryDelayMs: 1,
        });
        db = new DynamoDBClient({ endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
      }, 60_000);
      afterAll(async () => {
        db?.destroy();
        await emulator?.close();
      });

      it("reads LocalStack's stream of the table: each write reaches the consumer once, in order", async () => {
        const { Table } = await db.send(new DescribeTableCommand({ TableName: 'streamfix-items' }));
        expect(emulator.streamsPoller?.streamArns.get('streamfix-items')).toBe(Table?.LatestStreamArn);
        const id = `ls-${Date.now()}`;
        for (let n = 1; n <= 3; n++)
          await db.send(new PutItemCommand({ TableName: 'streamfix-items', Item: { id: { S: id }, n: { N: String(n) } } }));
        const batches = () =>
          emulator.eventLog
            .all()
            .filter(
              (e): e is Extract<LoggedEvent, { kind: 'log' }> => e.kind === 'log' && e.functionName === 'consumer' && e.message === 'batch',
            )
            .flatMap((e) => e.data!.keys as string[])
            .filter((k) => k === id);
        await until(() => batches().length >= 3, 'three records at the consumer');
        await emulator.mappingsIdle();
        expect(batches()).toHaveLength(3);
        const records = emulator.dynamodb.streams.streams.get('streamfix-items')!.records.filter((r) => r.dynamodb.Keys.id.S === id);
        expect(records.map((r) => r.eventName)).toEqual(['INSERT', 'MODIFY', 'MODIFY']);
        expect(records.map((r) => r.dynamodb.NewImage?.n?.N)).toEqual(['1', '2', '3']);
      });
    });

    describe('the notifier', () => {
      let targets: TargetFactory | undefined;
      beforeAll(() => {
        targets = inProcessTargets({ projectRoot: root, size: 1, dynamodbEndpoint: endpoint, jwtSecret: 'localstack-streams-test-secret' });
      });
      afterAll(async () => {
        await targets?.close();
      });
      for (const name of ['shape-created', 'shape-updated', 'shape-deleted', 'batch-subscriber']) {
        it(`${name}: the notification comes from LocalStack's stream`, async () => {
          const target = await targets!.acquire();
          try {
            const result = await runScenario(loadScenario(`${root}scenarios/functional/${name}.yaml`), target);
            expect(result.status, consoleLine(result)).toBe('passed');
          } finally {
            await target.release();
          }
        }, 120_000);
      }
    });
  },
);
