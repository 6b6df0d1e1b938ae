import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadServerlessConfig } from '../harness/config/serverless.js';

const perkupFile = fileURLToPath(new URL('../serverless.yml', import.meta.url));

describe('serverless.yml, as the emulator reads it', () => {
  it("resolves PerkUp's variables and intrinsics into each function's environment", () => {
    const app = loadServerlessConfig(perkupFile, {
      stage: 'ci',
      env: { JWT_JWKS_URL: 'https://id.example/jwks' },
      refs: (id) => (id === 'WebsocketsApi' ? 'ws123' : undefined),
    });
    expect(app).toMatchObject({
      service: 'perkup',
      stage: 'ci',
      region: 'eu-west-3',
      runtime: 'nodejs22.x',
      websocketRouteSelectionExpression: '$request.body.action',
    });
    const graphql = app.functions.find((f) => f.name === 'graphql')!;
    expect(graphql).toMatchObject({
      deployedName: 'perkup-ci-graphql',
      handlerExport: 'handler',
      timeoutSeconds: 15,
      memorySize: 512,
      httpApiEvents: [{ method: 'POST', path: '/graphql' }],
    });
    expect(graphql.handlerFile).toMatch(/src\/handlers\/graphql\.ts$/);
    expect(graphql.environment).toMatchObject({
      PARTNERS_TABLE: 'perkup-ci-partners',
      WEBSOCKET_CONNECTIONS_TABLE: 'perkup-ci-connections',
      JWT_JWKS_URL: 'https://id.example/jwks',
      WEBSOCKET_API_ENDPOINT: 'https://ws123.execute-api.eu-west-3.amazonaws.com/ci',
    });
    expect(app.functions.find((f) => f.name === 'websocket')!.websocketEvents.map((e) => e.route)).toEqual([
      '$connect',
      '$disconnect',
      '$default',
    ]);
    expect(app.tables.map((t) => t.TableName)).toEqual([
      'perkup-ci-partners',
      'perkup-ci-connections',
      'perkup-ci-cache',
      'perkup-ci-idempotency',
    ]);
    expect(app.tables.find((t) => t.logicalId === 'PartnersTable')!.StreamSpecification).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(app.tables.find((t) => t.logicalId === 'ConnectionsTable')!.TimeToLiveSpecification).toEqual({
      AttributeName: 'ttl',
      Enabled: true,
    });
  });

  it("reads the notifier's stream event, the fanout's sqs event and the queues with their redrive policy", () => {
    const app = loadServerlessConfig(perkupFile, { stage: 'ci', env: {}, refs: (id) => (id === 'WebsocketsApi' ? 'ws123' : undefined) });
    const notifier = app.functions.find((f) => f.name === 'notifier')!;
    expect(notifier.streamEvents).toEqual([
      {
        arn: 'arn:aws:dynamodb:eu-west-3:123456789012:table/perkup-ci-partners/stream/1970-01-01T00:00:00.000',
        batchSize: 100,
        maximumBatchingWindowSeconds: 1,
        bisectBatchOnFunctionError: true,
        reportBatchItemFailures: true,
        maximumRetryAttempts: 3,
        startingPosition: 'LATEST',
        onFailureArn: 'arn:aws:sqs:eu-west-3:123456789012:perkup-ci-notifier-failures',
        enabled: true,
      },
    ]);
    expect(notifier.environment.FANOUT_QUEUE_URL).toBe('https://sqs.eu-west-3.amazonaws.com/123456789012/perkup-ci-fanout');
    expect(app.functions.find((f) => f.name === 'fanout')!.sqsEvents).toEqual([
      {
        arn: 'arn:aws:sqs:eu-west-3:123456789012:perkup-ci-fanout',
        batchSize: 1,
        maximumBatchingWindowSeconds: 0,
        reportBatchItemFailures: true,
        enabled: true,
      },
    ]);
    expect(app.queues.find((q) => q.logicalId === 'FanoutQueue')).toMatchObject({
      QueueName: 'perkup-ci-fanout',
      VisibilityTimeout: 180,
      redrive: { deadLetterTargetArn: 'arn:aws:sqs:eu-west-3:123456789012:perkup-ci-fanout-dlq', maxReceiveCount: 5 },
    });
  });

  it('uses defaults when variables have none to resolve', () => {
    const app = loadServerlessConfig(perkupFile, { env: {}, refs: () => 'x' });
    expect(app.stage).toBe('dev');
    expect(app.functions[0].environment.JWT_SECRET).toBe('perkup-dev-secret-change-me');
  });

  it('a variable with no value and no default is a clear error naming it', () => {
    const file = fileURLToPath(new URL('./fixtures/bad-config/unresolvable.yml', import.meta.url));
    expect(() => loadServerlessConfig(file, { env: {} })).toThrow(
      'cannot resolve ${env:SURELY_NOT_SET_ANYWHERE} (no value and no default)',
    );
  });

  it("refuses an environment that sets Lambda's reserved variables, as Lambda refuses the function's configuration", () => {
    const file = fileURLToPath(new URL('./fixtures/bad-config/reserved-environment.yml', import.meta.url));
    expect(() => loadServerlessConfig(file, { env: {} })).toThrow(
      'functions.hello: Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: AWS_REGION, LAMBDA_TASK_ROOT',
    );
  });

  it("refuses an environment over Lambda's 4 KB (measured as JSON), naming its largest variables rather than their values", () => {
    const file = fileURLToPath(new URL('./fixtures/bad-config/environment-too-large.yml', import.meta.url));
    expect(() => loadServerlessConfig(file, { env: {} })).toThrow(
      'functions.hello: Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: 4133 bytes of JSON (largest: CERTIFICATE (4100 bytes), SMALL (4 bytes))',
    );
    // PerkUp's own, with its references resolved, is far under it.
    const perkup = loadServerlessConfig(perkupFile, { env: {}, refs: () => 'x' });
    for (const fn of perkup.functions) expect(Buffer.byteLength(JSON.stringify(fn.environment))).toBeLessThan(1024);
  });

  it("refuses a timeout or memorySize outside Lambda's bounds (1–900 s, 128–10,240 MB), as Lambda refuses the configuration", () => {
    const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/bad-config/${name}`, import.meta.url));
    expect(() => loadServerlessConfig(fixture('timeout-too-long.yml'), { env: {} })).toThrow(
      "functions.hello: 1 validation error detected: Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900",
    );
    expect(() => loadServerlessConfig(fixture('memory-too-small.yml'), { env: {} })).toThrow(
      "functions.hello: 1 validation error detected: Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128",
    );
  });

  it("refuses a WebSocket authorizer that is not one of the service's functions (given by ARN), saying what runs here", () => {
    const file = fileURLToPath(new URL('./fixtures/bad-config/authorizer-by-arn.yml', import.meta.url));
    expect(() => loadServerlessConfig(file, { env: {} })).toThrow(
      'functions.socket: the $connect route\'s authorizer "arn:aws:lambda:eu-west-1:123456789012:function:shared-auth" is not a function of this service (have: socket); the emulator runs an authorizer given by name, not one given by ARN',
    );
  });

  it('an unresolvable Ref is a clear error', () => {
    expect(() => loadServerlessConfig(perkupFile, { env: {} })).toThrow(/cannot resolve Ref WebsocketsApi/);
  });
});
