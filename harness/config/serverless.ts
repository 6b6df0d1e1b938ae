/**
 * Reads serverless.yml — the file that deploys — into the model the emulator runs: functions with their handler
 * files, environment, timeouts and events; the WebSocket route selection expression; the DynamoDB tables.
 * Resolves the Serverless variables (`${self:…}`, `${sls:stage}`, `${opt:…}`, `${env:…}`, `${aws:…}`) and the
 * CloudFormation intrinsics environment values use (Ref, Fn::Join, Fn::Sub, Fn::GetAtt), so one file is the truth.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import { ACCOUNT_ID, serverlessDefaults } from '../common/awsDefaults.js';
import { localSsmParameters } from './ssmParameters.js';
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
  redrive?: { deadLetterTargetArn: string; maxReceiveCount: number };
}

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

export class ServerlessConfigError extends Error {
  override name = 'ServerlessConfigError';
}

export interface LoadOptions {
  stage?: string;
  region?: string;
  env?: NodeJS.ProcessEnv;
  /** Resolves `Ref` to resources the emulator provides (e.g. WebsocketsApi → its API id). */
  refs?: (logicalId: string) => string | undefined;
}

/** A stream ARN ends with the stream's label, its creation time; the emulator's streams are created with the tables. */
export const STREAM_LABEL = '1970-01-01T00:00:00.000';

type Json = unknown;

function get(root: Json, path: string): Json {
  let value: Json = root;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, Json>)[part];
  }
  return value;
}

/** Parses a default such as `'dev'`, `"dev"` or `10`. */
function literal(text: string): string | undefined {
  const trimmed = text.trim();
  const quoted = /^'(.*)'$|^"(.*)"$/s.exec(trimmed);
  if (quoted) return quoted[1] ?? quoted[2];
  if (/^-?\d+(\.\d+)?$/.test(trimmed) || trimmed === 'true' || trimmed === 'false') return trimmed;
  return undefined;
}

export function loadServerlessConfig(file: string, options: LoadOptions = {}): ServerlessApp {
  if (!existsSync(file)) throw new ServerlessConfigError(`${file} not found`);
  const root = dirname(resolve(file));
  let doc: Record<string, Json>;
  try {
    doc = parse(readFileSync(file, 'utf8')) as Record<string, Json>;
  } catch (error) {
    throw new ServerlessConfigError(`${file}: ${(error as Error).message}`);
  }
  const env = options.env ?? process.env;
  const opt: Record<string, string | undefined> = { stage: options.stage, region: options.region };
  const ssm = localSsmParameters(root, get(doc, 'custom.emulator.ssmParameters'));

  // Resolves one `${…}` expression's content (already free of nested `${…}`).
  function lookup(expression: string, depth: number): Json {
    const [reference, ...fallbackParts] = splitTopLevel(expression);
    const fallback = fallbackParts.length ? literal(fallbackParts.join(',')) : undefined;
    const match = /^(\w+):(.*)$/.exec(reference.trim());
    let value: Json;
    if (!match) value = undefined;
    else {
      const [, source, path] = match;
      switch (source) {
        case 'self':
          value = resolveValue(get(doc, path), depth + 1);
          break;
        case 'opt':
          value = opt[path];
          break;
        case 'env':
          value = env[path];
          break;
        case 'sls':
          value = path === 'stage' ? stage() : path === 'instanceId' ? 'emulator' : undefined;
          break;
        case 'ssm':
          value = ssm.get(path, fallback !== undefined);
          break;
        case 'aws':
          value = path === 'region' ? region() : path === 'accountId' ? ACCOUNT_ID : undefined;
          break;
        default:
          throw new ServerlessConfigError(`${file}: unsupported variable source "${source}" in \${${expression}}`);
      }
    }
    if (value === undefined || value === null || value === '') {
      if (fallback !== undefined) return fallback;
      throw new ServerlessConfigError(`${file}: cannot resolve \${${expression}} (no value and no default)`);
    }
    return value;
  }

  function resolveString(text: string, depth: number): Json {
    if (depth > 20) throw new ServerlessConfigError(`${file}: variables nest too deeply (a cycle?) near "${text}"`);
    let current = text;
    // Innermost first, so defaults may themselves be variables.
    for (;;) {
      const inner = /\$\{([^${}]*)\}/.exec(current);
      if (!inner) return current;
      const value = lookup(inner[1], depth);
      if (inner[0] === current) return value; // the whole string was one variable: keep its type
      current = current.slice(0, inner.index) + String(value) + current.slice(inner.index + inner[0].length);
    }
  }

  function resolveValue(value: Json, depth = 0): Json {
    if (typeof value === 'string') return resolveString(value, depth);
    if (Array.isArray(value)) return value.map((v) => resolveValue(v, depth));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveValue(v, depth)]));
    }
    return value;
  }

  const stage = (): string => opt.stage ?? String(resolveValue(get(doc, 'provider.stage') ?? serverlessDefaults.stage));
  const region = (): string => opt.region ?? String(resolveValue(get(doc, 'provider.region') ?? serverlessDefaults.region));
  opt.stage = stage();
  opt.region = region();

  const service = String(resolveValue(doc.service));
  const resources = (resolveValue(get(doc, 'resources.Resources') ?? {}) ?? {}) as Record<string, { Type?: string; Properties?: Record<string, Json> }>;
  const tables: TableDefinition[] = Object.entries(resources)
    .filter(([, r]) => r.Type === 'AWS::DynamoDB::Table')
    .map(([logicalId, r]) => ({ logicalId, ...(r.Properties as object) }) as TableDefinition);
  const queueArn = (name: string): string => `arn:aws:sqs:${opt.region}:${ACCOUNT_ID}:${name}`;
  const queueEntries = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::SQS::Queue');
  const queueNameOf = (logicalId: string, props: Record<string, Json>): string => String(props.QueueName ?? `${service}-${opt.stage}-${logicalId}`);

  // CloudFormation intrinsics, as far as environment values use them.
  function intrinsic(value: Json, where: string): string {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const [key, arg] = Object.entries(value)[0] ?? [];
      if (key === 'Ref') return ref(String(arg), where);
      if (key === 'Fn::Join') {
        const [separator, parts] = arg as [string, Json[]];
        return parts.map((p) => intrinsic(p, where)).join(separator);
      }
      if (key === 'Fn::Sub') {
        const template = Array.isArray(arg) ? String(arg[0]) : String(arg);
        const vars = (Array.isArray(arg) ? arg[1] : {}) as Record<string, Json>;
        return template.replace(/\$\{([^}]+)\}/g, (_m, name: string) =>
          name in vars ? intrinsic(vars[name], where) : name.includes('.') ? getAtt(name.split('.'), where) : ref(name, where),
        );
      }
      if (key === 'Fn::GetAtt') return getAtt(Array.isArray(arg) ? (arg as string[]) : String(arg).split('.'), where);
    }
    throw new ServerlessConfigError(`${file}: ${where}: unsupported value ${JSON.stringify(value)}`);
  }
  function ref(logicalId: string, where: string): string {
    if (logicalId === 'AWS::Region') return opt.region!;
    if (logicalId === 'AWS::AccountId') return ACCOUNT_ID;
    if (logicalId === 'AWS::StackName') return `${service}-${opt.stage}`;
    const table = tables.find((t) => t.logicalId === logicalId);
    if (table) return table.TableName;
    const queue = queueEntries.find(([id]) => id === logicalId);
    if (queue) return `https://sqs.${opt.region}.amazonaws.com/${ACCOUNT_ID}/${queueNameOf(logicalId, queue[1].Properties ?? {})}`;
    const provided = options.refs?.(logicalId);
    if (provided !== undefined) return provided;
    throw new ServerlessConfigError(`${file}: ${where}: cannot resolve Ref ${logicalId}`);
  }
  function getAtt([logicalId, attribute]: string[], where: string): string {
    const table = tables.find((t) => t.logicalId === logicalId);
    if (table && attribute === 'Arn') return `arn:aws:dynamodb:${opt.region}:${ACCOUNT_ID}:table/${table.TableName}`;
    if (table && attribute === 'StreamArn') return `arn:aws:dynamodb:${opt.region}:${ACCOUNT_ID}:table/${table.TableName}/stream/${STREAM_LABEL}`;
    const queue = queueEntries.find(([id]) => id === logicalId);
    if (queue && attribute === 'Arn') return queueArn(queueNameOf(logicalId, queue[1].Properties ?? {}));
    if (queue && attribute === 'QueueName') return queueNameOf(logicalId, queue[1].Properties ?? {});
    throw new ServerlessConfigError(`${file}: ${where}: cannot resolve Fn::GetAtt ${logicalId}.${attribute}`);
  }

  const provider = (resolveValue(doc.provider ?? {}) ?? {}) as Record<string, Json>;
  const providerEnv = (provider.environment ?? {}) as Record<string, Json>;
  const functions = Object.entries((doc.functions ?? {}) as Record<string, Json>).map(([name, raw]): FunctionDefinition => {
    const fn = resolveValue(raw) as Record<string, Json>;
    const handler = String(fn.handler ?? '');
    const dot = handler.lastIndexOf('.');
    if (dot <= 0) throw new ServerlessConfigError(`${file}: functions.${name}.handler must look like "path/to/file.export", got "${handler}"`);
    const base = resolve(root, handler.slice(0, dot));
    const handlerFile = ['.ts', '.mts', '.js', '.mjs', '.cjs'].map((ext) => base + ext).find(existsSync);
    if (!handlerFile) throw new ServerlessConfigError(`${file}: functions.${name}: no handler file ${base}.{ts,mts,js,mjs,cjs}`);
    const merged = { ...providerEnv, ...((fn.environment ?? {}) as Record<string, Json>) };
    const environment = Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, intrinsic(v, `functions.${name}.environment.${k}`)]));
    const events = (fn.events ?? []) as Array<Record<string, Json>>;
    const httpApiEvents = events
      .filter((e) => e.httpApi)
      .map((e) => {
        const h = e.httpApi;
        if (typeof h === 'string') {
          const [method, path] = h === '*' ? ['*', '/{proxy+}'] : h.split(/\s+/);
          return { method: method.toUpperCase(), path };
        }
        const o = h as Record<string, Json>;
        return { method: String(o.method ?? '*').toUpperCase(), path: String(o.path ?? '/') };
      });
    const websocketEvents = events
      .filter((e) => e.websocket)
      .map((e) => {
        const w = e.websocket;
        if (typeof w === 'string') return { route: w };
        const o = w as Record<string, Json>;
        const def: WebSocketEventDefinition = { route: String(o.route) };
        if (o.routeResponseSelectionExpression) def.routeResponseSelectionExpression = String(o.routeResponseSelectionExpression);
        if (o.authorizer) {
          const a = o.authorizer as string | Record<string, Json>;
          const authName = typeof a === 'string' ? a : String(a.name);
          const identitySource = typeof a === 'string' ? ['route.request.header.Auth'] : ((a.identitySource as string[] | undefined) ?? ['route.request.header.Auth']);
          def.authorizer = { name: authName, identitySource: [identitySource].flat() };
        }
        return def;
      });
    const numberOr = (value: Json, fallback: number): number => (value === undefined || value === null ? fallback : Number(value));
    const streamEvents = events
      .filter((e) => e.stream)
      .map((e): StreamEventDefinition => {
        const o = (typeof e.stream === 'string' ? { arn: e.stream } : e.stream) as Record<string, Json>;
        const where = `functions.${name}.events.stream`;
        if (o.type !== undefined && o.type !== 'dynamodb') throw new ServerlessConfigError(`${file}: ${where}: only type: dynamodb is emulated, got ${JSON.stringify(o.type)}`);
        const onFailure = (o.destinations as Record<string, Json> | undefined)?.onFailure;
        const onFailureArn = onFailure === undefined ? undefined : intrinsic(typeof onFailure === 'object' && onFailure && 'arn' in onFailure ? (onFailure as Record<string, Json>).arn : onFailure, `${where}.destinations.onFailure`);
        // The Serverless Framework names a stream's batching window `batchWindow` (`maximumBatchingWindow` is the sqs
        // event's); the deploy refuses the other spelling, so the emulator does too.
        if (o.maximumBatchingWindow !== undefined) throw new ServerlessConfigError(`${file}: ${where}: unknown property maximumBatchingWindow (a stream event's batching window is batchWindow)`);
        return {
          arn: intrinsic(o.arn, `${where}.arn`),
          batchSize: numberOr(o.batchSize, 100),
          maximumBatchingWindowSeconds: numberOr(o.batchWindow, 0),
          bisectBatchOnFunctionError: o.bisectBatchOnFunctionError === true,
          reportBatchItemFailures: o.functionResponseType === 'ReportBatchItemFailures',
          maximumRetryAttempts: numberOr(o.maximumRetryAttempts, -1),
          startingPosition: String(o.startingPosition ?? 'TRIM_HORIZON'),
          ...(onFailureArn ? { onFailureArn } : {}),
          enabled: o.enabled !== false,
        };
      });
    const sqsEvents = events
      .filter((e) => e.sqs)
      .map((e): SqsEventDefinition => {
        const o = (typeof e.sqs === 'string' ? { arn: e.sqs } : e.sqs) as Record<string, Json>;
        return {
          arn: intrinsic(o.arn, `functions.${name}.events.sqs.arn`),
          batchSize: numberOr(o.batchSize, 10),
          maximumBatchingWindowSeconds: numberOr(o.maximumBatchingWindow, 0),
          reportBatchItemFailures: o.functionResponseType === 'ReportBatchItemFailures',
          enabled: o.enabled !== false,
        };
      });
    return {
      name,
      deployedName: `${service}-${opt.stage}-${name}`,
      handlerFile,
      handlerExport: handler.slice(dot + 1),
      timeoutSeconds: Number(fn.timeout ?? provider.timeout ?? serverlessDefaults.timeoutSeconds),
      memorySize: Number(fn.memorySize ?? provider.memorySize ?? serverlessDefaults.memorySize),
      environment,
      httpApiEvents,
      websocketEvents,
      streamEvents,
      sqsEvents,
    };
  });

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
      ...(redrive
        ? { redrive: { deadLetterTargetArn: intrinsic(redrive.deadLetterTargetArn, `resources.${logicalId}.RedrivePolicy`), maxReceiveCount: Number(redrive.maxReceiveCount) } }
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
    websocketRouteSelectionExpression: String(provider.websocketsApiRouteSelectionExpression ?? serverlessDefaults.websocketRouteSelectionExpression),
    httpApiCors: (provider.httpApi as Record<string, Json> | undefined)?.cors,
    functions,
    tables,
    queues,
    emulator: emulatorSettings(resolveValue(get(doc, 'custom.emulator')), file),
    serverlessOffline: (resolveValue(get(doc, 'custom.serverless-offline')) ?? {}) as Record<string, unknown>,
  };
}

/** Splits `a, 'b, c'` on top-level commas (not inside quotes). */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let quote: string | undefined;
  let current = '';
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') quote = char;
    else if (char === ',') {
      parts.push(current);
      current = '';
      continue;
    }
    current += char;
  }
  parts.push(current);
  return parts;
}
