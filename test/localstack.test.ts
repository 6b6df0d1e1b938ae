/**
 * LocalStack and Floci: docker-compose.localstack.yml is valid (parsed and schema-checked here: `docker compose
 * config` needs an engine), the emulator's --dynamodb / DYNAMODB_ENDPOINT switch puts serverless.yml's tables on the
 * endpoint it names, and — where a Docker engine answers — the functional scenario suite runs with its tables in a
 * LocalStack and in a Floci container started by testcontainers, from the images the compose file pins.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Ajv } from 'ajv';
import dynalite from 'dynalite';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { GenericContainer, Wait, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { LocalstackContainer } from '@testcontainers/localstack';
import { KNOWN_DYNAMODB_ENDPOINTS, chooseDynamoDBEndpoint } from '../harness/dynamodb/endpoint.js';
import { expandPaths } from '../harness/scenarios/paths.js';
import { loadScenario } from '../harness/scenarios/loader.js';
import { runScenario } from '../harness/scenarios/runner.js';
import { inProcessTargets, type TargetFactory } from '../harness/scenarios/target.js';
import { consoleLine } from '../harness/scenarios/reporters.js';
import { startEmulateProcess } from './helpers/emulateProcess.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const composeFile = fileURLToPath(new URL('../docker-compose.localstack.yml', import.meta.url));

interface ComposeService {
  image: string;
  ports?: string[];
  environment?: Record<string, string>;
  profiles?: string[];
  healthcheck?: { test: string[]; interval?: string; timeout?: string; retries?: number };
}
interface Compose {
  name?: string;
  services: Record<string, ComposeService>;
}

// The Compose keys this file uses, with the shapes Compose accepts for them; anything else is refused, so a typo
// (`enviroment`, a port without a host address) fails here rather than at `docker compose up`.
const duration = { type: 'string', pattern: '^\\d+(ms|s|m)$' };
const composeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['services'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' },
    services: {
      type: 'object',
      minProperties: 1,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['image'],
        properties: {
          // Pinned: a repository and an explicit tag other than latest.
          image: { type: 'string', pattern: '^[a-z0-9]+([._/-][a-z0-9]+)*:(?!latest$)[A-Za-z0-9._-]+$' },
          ports: { type: 'array', items: { type: 'string', pattern: '^127\\.0\\.0\\.1:\\d{1,5}:\\d{1,5}$' } },
          environment: { type: 'object', additionalProperties: { type: 'string' } },
          profiles: { type: 'array', items: { type: 'string' } },
          healthcheck: {
            type: 'object',
            additionalProperties: false,
            required: ['test'],
            properties: {
              test: { type: 'array', items: { type: 'string' }, minItems: 2 },
              interval: duration,
              timeout: duration,
              retries: { type: 'integer', minimum: 1 },
            },
          },
        },
      },
    },
  },
};

const compose = parse(readFileSync(composeFile, 'utf8')) as Compose;
const tagOf = (image: string): string => image.slice(image.lastIndexOf(':') + 1);
const hostPort = (service: ComposeService): number => Number(service.ports?.[0]?.split(':')[1]);
const versionAtMost = (version: string, limit: string): boolean => {
  const a = version.split('.').map(Number);
  const b = limit.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return true;
};

describe('docker-compose.localstack.yml', () => {
  it('uses only Compose keys it is checked for, in the shapes Compose accepts', () => {
    const ajv = new Ajv({ allErrors: true });
    const valid = ajv.validate(composeSchema, compose);
    expect(ajv.errorsText(ajv.errors, { dataVar: 'compose' }), 'schema errors').toBe(valid ? 'No errors' : '');
    expect(valid).toBe(true);
  });

  it('pins LocalStack community at or below 4.14.0 (later tags need an auth token) with DynamoDB', () => {
    const localstack = compose.services.localstack;
    expect(localstack.image).toMatch(/^localstack\/localstack:\d+\.\d+\.\d+$/);
    expect(versionAtMost(tagOf(localstack.image), '4.14.0'), localstack.image).toBe(true);
    expect(localstack.environment?.SERVICES?.split(',')).toContain('dynamodb');
    expect(localstack.profiles, 'starts by default').toBeUndefined();
  });

  it('offers LocalStack Pro only as an option, with the token taken from the environment', () => {
    const pro = compose.services['localstack-pro'];
    expect(pro.profiles).toEqual(['pro']);
    expect(pro.image).toMatch(/^localstack\/localstack-pro:/);
    expect(pro.environment?.LOCALSTACK_AUTH_TOKEN).toMatch(/^\$\{LOCALSTACK_AUTH_TOKEN(:\?[^}]*)?\}$/);
    expect(pro.environment?.SERVICES?.split(',')).toEqual(expect.arrayContaining(['dynamodb', 'apigateway']));
  });

  it('runs Floci beside LocalStack on the ports the emulator knows', () => {
    expect(compose.services.floci.image).toMatch(/^floci\/floci:\d+\.\d+\.\d+$/);
    expect(hostPort(compose.services.localstack)).toBe(Number(new URL(KNOWN_DYNAMODB_ENDPOINTS.localstack.url).port));
    expect(hostPort(compose.services.floci)).toBe(Number(new URL(KNOWN_DYNAMODB_ENDPOINTS.floci.url).port));
    const defaults = Object.values(compose.services).filter((s) => !s.profiles);
    expect(new Set(defaults.map(hostPort)).size, 'services started together need distinct host ports').toBe(defaults.length);
  });
});

describe('choosing the DynamoDB endpoint (emulate --dynamodb, scenarios --dynamodb)', () => {
  it('names, URLs and DYNAMODB_ENDPOINT resolve in a fixed order', () => {
    expect(chooseDynamoDBEndpoint({}, {})).toBeUndefined();
    expect(chooseDynamoDBEndpoint({ dynamodb: 'dynalite' }, { DYNAMODB_ENDPOINT: 'http://x:1' })).toBeUndefined();
    expect(chooseDynamoDBEndpoint({ dynamodb: 'localstack' }, {})).toBe('http://127.0.0.1:4566');
    expect(chooseDynamoDBEndpoint({ dynamodb: 'floci' }, {})).toBe('http://127.0.0.1:4567');
    expect(chooseDynamoDBEndpoint({ dynamodb: 'floci' }, { FLOCI_ENDPOINT: 'http://floci:4566' })).toBe('http://floci:4566');
    expect(chooseDynamoDBEndpoint({ dynamodb: 'http://db:8000' }, {})).toBe('http://db:8000');
    expect(chooseDynamoDBEndpoint({ endpoint: 'http://db:8000' }, { DYNAMODB_ENDPOINT: 'http://other:1' })).toBe('http://db:8000');
    expect(chooseDynamoDBEndpoint({}, { DYNAMODB_ENDPOINT: 'http://localhost:4566' })).toBe('http://localhost:4566');
  });

  it('refuses an unknown name, a bad URL, or both flags at once', () => {
    expect(() => chooseDynamoDBEndpoint({ dynamodb: 'localstak' }, {})).toThrow(
      '--dynamodb must be dynalite, localstack, floci or a URL, got "localstak"',
    );
    expect(() => chooseDynamoDBEndpoint({ endpoint: 'localhost:4566' }, {})).toThrow('--dynamodb-endpoint must be an http(s) URL');
    expect(() => chooseDynamoDBEndpoint({}, { DYNAMODB_ENDPOINT: 'nope' })).toThrow('DYNAMODB_ENDPOINT must be an http(s) URL');
    expect(() => chooseDynamoDBEndpoint({ dynamodb: 'floci', endpoint: 'http://a:1' }, {})).toThrow('not both');
  });
});

describe('emulate with an external DynamoDB', () => {
  let server: Server;
  let endpoint: string;
  beforeAll(async () => {
    // A DynamoDB of its own on a port of its own, standing where LocalStack or Floci would.
    server = dynalite({ createTableMs: 0 });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function tablesAt(url: string): Promise<string[]> {
    const client = new DynamoDBClient({ endpoint: url, region: 'eu-west-3', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    try {
      return (await client.send(new ListTablesCommand({}))).TableNames ?? [];
    } finally {
      client.destroy();
    }
  }

  it("--dynamodb <url> creates serverless.yml's tables there; DYNAMODB_ENDPOINT does the same", async () => {
    const byFlag = await startEmulateProcess(['--dynamodb', endpoint, '--stage', 'flag']);
    try {
      expect(byFlag.output()).toContain(`DynamoDB ${endpoint}`);
      expect(await tablesAt(endpoint)).toEqual(
        expect.arrayContaining(['perkup-flag-cache', 'perkup-flag-connections', 'perkup-flag-partners']),
      );
    } finally {
      expect(await byFlag.stop()).toBe(0);
    }
    const byEnv = await startEmulateProcess(['--stage', 'env'], { DYNAMODB_ENDPOINT: endpoint });
    try {
      expect(await tablesAt(endpoint)).toEqual(
        expect.arrayContaining(['perkup-env-cache', 'perkup-env-connections', 'perkup-env-partners']),
      );
    } finally {
      expect(await byEnv.stop()).toBe(0);
    }
  });

  it('--dynamodb with an unknown name exits 2 with the choices, before starting anything', async () => {
    const error = await startEmulateProcess(['--dynamodb', 'localstak']).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/exited with 2[\s\S]*--dynamodb must be dynalite, localstack, floci or a URL/);
  });
});

// Docker-gated: testcontainers asks its own runtime strategies (socket, DOCKER_HOST, Podman…) whether an engine answers.
const docker = await getContainerRuntimeClient().then(
  () => ({ available: true, reason: '' }),
  (error: Error) => ({ available: false, reason: `no Docker engine answers here (${error.message})` }),
);

interface AwsLocal {
  name: string;
  image: string;
  start(): Promise<{ endpoint: string; container: StartedTestContainer }>;
}
const awsLocals: AwsLocal[] = [
  {
    name: 'LocalStack',
    image: compose.services.localstack.image,
    async start() {
      const container = await new LocalstackContainer(compose.services.localstack.image)
        .withEnvironment(compose.services.localstack.environment ?? {})
        .start();
      return { endpoint: container.getConnectionUri(), container };
    },
  },
  {
    name: 'Floci',
    image: compose.services.floci.image,
    async start() {
      // Floci answers LocalStack's health endpoint too.
      const container = await new GenericContainer(compose.services.floci.image)
        .withEnvironment(compose.services.floci.environment ?? {})
        .withExposedPorts(4566)
        .withWaitStrategy(Wait.forHttp('/_localstack/health', 4566))
        .start();
      return { endpoint: `http://${container.getHost()}:${container.getMappedPort(4566)}`, container };
    },
  },
];

const functional = await expandPaths(['scenarios/functional'], root);
// A LocalStack or Floci already running (docker compose up) is used as it is, without Docker access from here.
const running = (local: AwsLocal): string | undefined =>
  process.env[local.name === 'LocalStack' ? 'LOCALSTACK_ENDPOINT' : 'FLOCI_ENDPOINT']?.trim() || undefined;
const runnable = awsLocals.filter((local) => docker.available || running(local));

// One line when nothing can run here; otherwise one test per functional scenario per container.
describe.skipIf(runnable.length === 0)(
  `functional scenarios with DynamoDB on LocalStack and Floci${runnable.length ? '' : ` — skipped: ${docker.reason}, and neither LOCALSTACK_ENDPOINT nor FLOCI_ENDPOINT is set`}`,
  () => {
    if (runnable.length === 0) it('needs a Docker engine or a running LocalStack/Floci', () => expect(runnable.length).toBeGreaterThan(0));
    for (const local of runnable) {
      describe(`${local.name} (${running(local) ?? local.image})`, () => {
        let container: StartedTestContainer | undefined;
        let targets: TargetFactory | undefined;
        beforeAll(async () => {
          let endpoint = running(local);
          if (!endpoint) ({ endpoint, container } = await local.start());
          // Tables from serverless.yml, created by each emulator (a stage each) on the container's DynamoDB.
          targets = inProcessTargets({ projectRoot: root, size: 2, dynamodbEndpoint: endpoint });
        }, 180_000);
        afterAll(async () => {
          await targets?.close();
          await container?.stop();
        }, 60_000);

        it('finds the functional suite', () => {
          expect(functional.length).toBeGreaterThanOrEqual(20);
        });
        for (const file of functional) {
          const scenario = loadScenario(file);
          it(`${scenario.name} (${file.slice(root.length)})`, async () => {
            const target = await targets!.acquire();
            try {
              const result = await runScenario(scenario, target);
              expect(result.status, consoleLine(result)).toBe('passed');
            } finally {
              await target.release();
            }
          });
        }
      });
    }
  },
);
