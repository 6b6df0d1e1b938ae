/**
 * Reads serverless.yml — the file that deploys — into the model the emulator runs: functions with their handler
 * files, environment, timeouts and events; the WebSocket route selection expression; the DynamoDB tables.
 * Resolves the Serverless variables (`${self:…}`, `${sls:stage}`, `${opt:…}`, `${env:…}`, `${aws:…}`) and the
 * CloudFormation intrinsics environment values use (Ref, Fn::Join, Fn::Sub, Fn::GetAtt), so one file is the truth.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ACCOUNT_ID, serverlessDefaults } from '../common/awsDefaults.js';
import { localSsmParameters } from './ssmParameters.js';
import { ServerlessConfigError } from './errors.js';
import { createVariableResolver, get, type Json } from './variables.js';
import { parseYamlCached } from './parsedYaml.js';
import { createIntrinsics } from './intrinsics.js';
import { functionEvents } from './events.js';
import { emulatorSettings, type EmulatorSettings } from './emulatorSettings.js';

export interface WebSocketEventDefinition {
  route: string;
  routeResponseSelectionExpression?: string;
  authorizer?: { name: string; identitySource: string[] };
}

export interface HttpApiEventDefinition {
  method: string;
  path: string;
}

/** `events: - stream: {type: dynamodb, arn, …}` (Serverless Framework's names; defaults are AWS's). */
export interface StreamEventDefinition {
  arn: string;
  batchSize: number;
  maximumBatchingWindowSeconds: number;
  bisectBatchOnFunctionError: boolean;
  reportBatchItemFailures: boolean;
  /** -1 = until the record expires (AWS's default). */
  maximumRetryAttempts: number;
  startingPosition: string;
  onFailureArn?: string;
  enabled: boolean;
}

/** `events: - sqs: {arn, batchSize, …}`. */
export interface SqsEventDefinition {
  arn: string;
  batchSize: number;
  maximumBatchingWindowSeconds: number;
  reportBatchItemFailures: boolean;
  enabled: boolean;
}

/** An `AWS::SQS::Queue` resource: what the emulated queue needs of it. */
export interface QueueDefinition {
  logicalId: string;
  QueueName: string;
  arn: string;
  url: string;
  VisibilityTimeout: number;
  MessageRetentionPeriod: number;
  DelaySeconds: number;
  /** Bytes; a message, and a SendMessageBatch's messages together, must not exceed it (AWS default 1 MiB). */
  MaximumMessageSize: number;
  redrive?: { deadLetterTargetArn: string; maxReceiveCount: number };
}

/**
 * The variables Lambda's runtime defines and a function's configuration may not set (Lambda developer guide,
 * "Defined runtime environment variables", reserved). TZ, listed there too, is left out: Lambda accepts it in practice.
 */
export const LAMBDA_RESERVED_VARIABLES = new Set([
  '_HANDLER',
  '_X_AMZN_TRACE_ID',
  'AWS_DEFAULT_REGION',
  'AWS_REGION',
  'AWS_EXECUTION_ENV',
  'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
  'AWS_LAMBDA_FUNCTION_VERSION',
  'AWS_LAMBDA_INITIALIZATION_TYPE',
  'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME',
  'AWS_ACCESS_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_LAMBDA_RUNTIME_API',
  'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR',
]);

/** Lambda's limit on a function's environment variables, measured as one JSON object (4 KB, not adjustable). */
export const LAMBDA_ENVIRONMENT_BYTES = 4096;

export interface FunctionDefinition {
  /** The key under `functions:` (e.g. "graphql"). */
  name: string;
  /** As AWS names it: `<service>-<stage>-<name>`. */
  deployedName: string;
  handlerFile: string;
  handlerExport: string;
  timeoutSeconds: number;
  memorySize: number;
  environment: Record<string, string>;
  httpApiEvents: HttpApiEventDefinition[];
  websocketEvents: WebSocketEventDefinition[];
  streamEvents: StreamEventDefinition[];
  sqsEvents: SqsEventDefinition[];
}

export interface TableDefinition {
  logicalId: string;
  TableName: string;
  AttributeDefinitions: Array<{ AttributeName: string; AttributeType: string }>;
  KeySchema: Array<{ AttributeName: string; KeyType: string }>;
  GlobalSecondaryIndexes?: Array<Record<string, unknown>>;
  LocalSecondaryIndexes?: Array<Record<string, unknown>>;
  TimeToLiveSpecification?: { AttributeName: string; Enabled: boolean };
  StreamSpecification?: { StreamViewType: 'KEYS_ONLY' | 'NEW_IMAGE' | 'OLD_IMAGE' | 'NEW_AND_OLD_IMAGES'; StreamEnabled?: boolean };
  BillingMode?: string;
}

export interface ServerlessApp {
  file: string;
  service: string;
  stage: string;
  region: string;
  accountId: string;
  runtime: string;
  websocketRouteSelectionExpression: string;
  /** `provider.httpApi.cors` as written (true, an object, or undefined); the HTTP API interprets it. */
  httpApiCors: unknown;
  functions: FunctionDefinition[];
  tables: TableDefinition[];
  queues: QueueDefinition[];
  /** `custom.emulator`: what the harness needs to know of the app, validated. */
  emulator: EmulatorSettings;
  /** `custom.serverless-offline`: serverless-offline's settings, read as aliases of the emulator's own flags. */
  serverlessOffline: Record<string, unknown>;
}

export { ServerlessConfigError };

export interface LoadOptions {
  stage?: string;
  region?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolves `Ref` to resources the emulator provides (e.g. WebsocketsApi → its API id). */
  refs?: (logicalId: string) => string | undefined;
}

export { STREAM_LABEL } from './intrinsics.js';

/**
 * The YAML of the last file text parsed, as a copy: `emulate` reads serverless.yml twice at start-up (its listen
 * settings, then the emulator), and parsing it was ~5% of the start-up.
 */
let lastParsed: { text: string; doc: Record<string, Json> } | undefined;
function parsedYaml(text: string): Record<string, Json> {
  if (lastParsed?.text !== text) lastParsed = { text, doc: parseYamlCached(text) };
  return structuredClone(lastParsed.doc);
}

/**
 * A function's timeout (s) or memorySize (MB) within Lambda's bounds (1–900 s, 128–10,240 MB, whole numbers): outside
 * them Lambda refuses the configuration (the deploy fails), so the emulator refuses to start, with Lambda's words.
 */
function lambdaSetting(file: string, name: string, setting: 'timeout' | 'memorySize', raw: Json, min: number, max: number): number {
  const value = Number(raw);
  const refuse = (constraint: string): never => {
    throw new ServerlessConfigError(
      `${file}: functions.${name}: 1 validation error detected: Value '${String(raw)}' at '${setting}' failed to satisfy constraint: ${constraint}`,
    );
  };
  if (!Number.isInteger(value)) refuse('Member must be a whole number');
  if (value < min) refuse(`Member must have value greater than or equal to ${min}`);
  if (value > max) refuse(`Member must have value less than or equal to ${max}`);
  return value;
}

export function loadServerlessConfig(file: string, options: LoadOptions = {}): ServerlessApp {
  if (!existsSync(file)) throw new ServerlessConfigError(`${file} not found`);
  const root = dirname(resolve(file));
  let doc: Record<string, Json>;
  try {
    doc = parsedYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ServerlessConfigError(`${file}: ${(error as Error).message}`);
  }
  const env = options.env ?? process.env;
  const opt: Record<string, string | undefined> = { stage: options.stage, region: options.region };
  const ssm = localSsmParameters(root, get(doc, 'custom.emulator.ssmParameters'));

  const { resolveValue, stage, region } = createVariableResolver({ file, doc, env, opt, ssm });
  opt.stage = stage();
  opt.region = region();

  const service = String(resolveValue(doc.service));
  const resources = (resolveValue(get(doc, 'resources.Resources') ?? {}) ?? {}) as Record<
    string,
    { Type?: string; Properties?: Record<string, Json> }
  >;
  const tables: TableDefinition[] = Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::DynamoDB::Table')
    .map(([logicalId, r]) => ({ logicalId, ...(r.Properties as object) }) as TableDefinition);
  const queueEntries = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::SQS::Queue');
  const { intrinsic, ref, queueArn, queueNameOf } = createIntrinsics({ file, service, opt, tables, queueEntries, refs: options.refs });

  const provider = (resolveValue(doc.provider ?? {}) ?? {}) as Record<string, Json>;
  const providerEnv = (provider.environment ?? {}) as Record<string, Json>;
  const functions = Object.entries((doc.functions ?? {}) as Record<string, Json>).map(([name, raw]): FunctionDefinition => {
    const fn = resolveValue(raw) as Record<string, Json>;
    const handler = String(fn.handler ?? '');
    const dot = handler.lastIndexOf('.');
    if (dot <= 0)
      throw new ServerlessConfigError(`${file}: functions.${name}.handler must look like "path/to/file.export", got "${handler}"`);
    const base = resolve(root, handler.slice(0, dot));
    const handlerFile = ['.ts', '.mts', '.js', '.mjs', '.cjs'].map((ext) => base + ext).find(existsSync);
    if (!handlerFile) throw new ServerlessConfigError(`${file}: functions.${name}: no handler file ${base}.{ts,mts,js,mjs,cjs}`);
    const merged = { ...providerEnv, ...((fn.environment ?? {}) as Record<string, Json>) };
    const environment = Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, intrinsic(v, `functions.${name}.environment.${k}`)]));
    // Lambda measures the variables as one JSON object; past 4 KB it refuses the configuration. Its message quotes the
    // whole string, secrets included: here, its size and the largest variables instead.
    const measured = Buffer.byteLength(JSON.stringify(environment));
    if (measured > LAMBDA_ENVIRONMENT_BYTES) {
      const largest = Object.entries(environment)
        .sort(([, a], [, b]) => Buffer.byteLength(b) - Buffer.byteLength(a))
        .slice(0, 3)
        .map(([key, value]) => `${key} (${Buffer.byteLength(value)} bytes)`);
      throw new ServerlessConfigError(
        `${file}: functions.${name}: Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: ${measured} bytes of JSON (largest: ${largest.join(', ')})`,
      );
    }
    const reserved = Object.keys(environment).filter((key) => LAMBDA_RESERVED_VARIABLES.has(key));
    // Lambda refuses the function's configuration (the deploy fails): so does the emulator, with Lambda's words.
    if (reserved.length)
      throw new ServerlessConfigError(
        `${file}: functions.${name}: Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: ${reserved.join(', ')}`,
      );
    const events = (fn.events ?? []) as Array<Record<string, Json>>;
    const { httpApiEvents, websocketEvents, streamEvents, sqsEvents } = functionEvents(events, name, file, intrinsic);
    return {
      name,
      deployedName: `${service}-${opt.stage}-${name}`,
      handlerFile,
      handlerExport: handler.slice(dot + 1),
      timeoutSeconds: lambdaSetting(file, name, 'timeout', fn.timeout ?? provider.timeout ?? serverlessDefaults.timeoutSeconds, 1, 900),
      memorySize: lambdaSetting(
        file,
        name,
        'memorySize',
        fn.memorySize ?? provider.memorySize ?? serverlessDefaults.memorySize,
        128,
        10_240,
      ),
      environment,
      httpApiEvents,
      websocketEvents,
      streamEvents,
      sqsEvents,
    };
  });

  // A WebSocket authorizer runs as one of this service's functions; one named by ARN (another service's) cannot run
  // here, and a misspelt name would fail every handshake with a confusing invocation error.
  const own = new Set(functions.map((f) => f.name));
  for (const fn of functions)
    for (const ws of fn.websocketEvents)
      if (ws.authorizer && !own.has(ws.authorizer.name))
        throw new ServerlessConfigError(
          `${file}: functions.${fn.name}: the ${ws.route} route's authorizer "${ws.authorizer.name}" is not a function of this service (have: ${[...own].join(', ')}); the emulator runs an authorizer given by name, not one given by ARN`,
        );

  const queues = queueEntries.map(([logicalId, r]): QueueDefinition => {
    const props = (r.Properties ?? {}) as Record<string, Json>;
    const QueueName = queueNameOf(logicalId, props);
    const redrive = props.RedrivePolicy as Record<string, Json> | undefined;
    return {
      logicalId,
      QueueName,
      arn: queueArn(QueueName),
      url: ref(logicalId, `resources.${logicalId}`),
      VisibilityTimeout: Number(props.VisibilityTimeout ?? 30),
      MessageRetentionPeriod: Number(props.MessageRetentionPeriod ?? 345_600),
      DelaySeconds: Number(props.DelaySeconds ?? 0),
      MaximumMessageSize: Number(props.MaximumMessageSize ?? 1_048_576),
      ...(redrive
        ? {
            redrive: {
              deadLetterTargetArn: intrinsic(redrive.deadLetterTargetArn, `resources.${logicalId}.RedrivePolicy`),
              maxReceiveCount: Number(redrive.maxReceiveCount),
            },
          }
        : {}),
    };
  });

  return {
    file,
    service,
    stage: opt.stage!,
    region: opt.region!,
    accountId: ACCOUNT_ID,
    runtime: String(provider.runtime ?? serverlessDefaults.runtime),
    websocketRouteSelectionExpression: String(
      provider.websocketsApiRouteSelectionExpression ?? serverlessDefaults.websocketRouteSelectionExpression,
    ),
    httpApiCors: (provider.httpApi as Record<string, Json> | undefined)?.cors,
    functions,
    tables,
    queues,
    emulator: emulatorSettings(resolveValue(get(doc, 'custom.emulator')), file),
    serverlessOffline: (resolveValue(get(doc, 'custom.serverless-offline')) ?? {}) as Record<string, unknown>,
  };
}
