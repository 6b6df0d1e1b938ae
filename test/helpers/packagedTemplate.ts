/**
 * Reading what `npm run package` produced: the CloudFormation template (with the intrinsics it uses evaluated
 * against stand-in ids), the zipped bundles, and the parts needed to run a bundle as Lambda would — a dynalite
 * whose tables are created from the template (not from serverless.yml) and records every request, and a management
 * API answering postToConnection as API Gateway does (200, empty body).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unzipSync } from 'fflate';
import dynalite from 'dynalite';
import { CreateTableCommand, DynamoDBClient, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

export interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
  DependsOn?: string[];
}
export interface Template {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown }>;
}

export interface KeyElement {
  AttributeName: string;
  KeyType: 'HASH' | 'RANGE';
}
export interface TemplateTable {
  logicalId: string;
  name: string;
  keys: string[];
  indexes: Map<string, string[]>;
  properties: Record<string, unknown>;
}

/** Stand-ins for what only CloudFormation knows (the API id, the account). */
export interface Stand {
  region: string;
  accountId: string;
  refs: Record<string, string>;
}

export function readTemplate(file: string): Template {
  return JSON.parse(readFileSync(file, 'utf8')) as Template;
}

export function tablesOf(template: Template): TemplateTable[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::DynamoDB::Table')
    .map(([logicalId, r]) => {
      const p = r.Properties as {
        TableName: string;
        KeySchema: KeyElement[];
        GlobalSecondaryIndexes?: Array<{ IndexName: string; KeySchema: KeyElement[] }>;
      };
      return {
        logicalId,
        name: p.TableName,
        keys: p.KeySchema.map((k) => k.AttributeName),
        indexes: new Map((p.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, i.KeySchema.map((k) => k.AttributeName)])),
        properties: r.Properties,
      };
    });
}

/** Evaluates the intrinsics the template uses in environments and policies; anything else is an error. */
export function evaluate(value: unknown, template: Template, stand: Stand): string {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  const [key, arg] = Object.entries((value ?? {}) as Record<string, unknown>)[0] ?? [];
  const ref = (id: string): string => {
    const pseudo: Record<string, string> = {
      'AWS::Region': stand.region,
      'AWS::AccountId': stand.accountId,
      'AWS::Partition': 'aws',
      'AWS::URLSuffix': 'amazonaws.com',
    };
    const resource = template.Resources[id];
    const resolved =
      pseudo[id] ??
      stand.refs[id] ??
      (resource?.Type === 'AWS::DynamoDB::Table' ? String(resource.Properties.TableName) : undefined) ??
      // A queue's Ref is its URL.
      (resource?.Type === 'AWS::SQS::Queue'
        ? `https://sqs.${stand.region}.amazonaws.com/${stand.accountId}/${String(resource.Properties.QueueName)}`
        : undefined);
    if (resolved === undefined) throw new Error(`no stand-in for Ref ${id}`);
    return resolved;
  };
  const getAtt = (id: string, attribute: string): string => {
    const resource = template.Resources[id];
    if (resource?.Type === 'AWS::DynamoDB::Table' && attribute === 'Arn')
      return `arn:aws:dynamodb:${stand.region}:${stand.accountId}:table/${String(resource.Properties.TableName)}`;
    if (resource?.Type === 'AWS::DynamoDB::Table' && attribute === 'StreamArn')
      return `arn:aws:dynamodb:${stand.region}:${stand.accountId}:table/${String(resource.Properties.TableName)}/stream/stand-in`;
    if (resource?.Type === 'AWS::SQS::Queue' && attribute === 'Arn')
      return `arn:aws:sqs:${stand.region}:${stand.accountId}:${String(resource.Properties.QueueName)}`;
    if (resource?.Type === 'AWS::IAM::Role' && attribute === 'Arn') return `arn:aws:iam::${stand.accountId}:role/${id}`;
    throw new Error(`no stand-in for Fn::GetAtt ${id}.${attribute}`);
  };
  switch (key) {
    case 'Ref':
      return ref(String(arg));
    case 'Fn::Join': {
      const [separator, parts] = arg as [string, unknown[]];
      return parts.map((p) => evaluate(p, template, stand)).join(separator);
    }
    case 'Fn::GetAtt': {
      const [id, attribute] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
      return getAtt(id, attribute);
    }
    case 'Fn::Sub':
      return String(arg).replace(/\$\{([^}]+)\}/g, (_m, name: string) =>
        name.includes('.') ? getAtt(...(name.split('.') as [string, string])) : ref(name),
      );
    default:
      throw new Error(`unsupported template value ${JSON.stringify(value)}`);
  }
}

/** Unzips a package as Lambda does into /var/task; returns the folder and each file's size. */
export function unzipTo(zip: string, dir: string): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const [name, bytes] of Object.entries(unzipSync(readFileSync(zip)))) {
    if (name.endsWith('/')) continue;
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
    sizes.set(name, bytes.length);
  }
  return sizes;
}

export interface DynamoRequest {
  operation: string;
  statusCode: number;
  body: Record<string, unknown>;
  response: string;
}

/** dynalite with the template's tables, recording each request and its answer. */
export async function startTemplateDynamo(tables: TemplateTable[], region: string) {
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const handle = server.listeners('request')[0] as (req: IncomingMessage, res: ServerResponse) => void;
  server.removeAllListeners('request');
  const requests: DynamoRequest[] = [];
  let recording = false;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    const answer: Buffer[] = [];
    // Passive listeners: dynalite reads the same stream, and the answer is copied as it is written.
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    const write = res.write.bind(res);
    res.write = ((chunk: unknown, ...rest: never[]) => {
      if (typeof chunk === 'string' || chunk instanceof Buffer) answer.push(Buffer.from(chunk));
      return write(chunk as string, ...rest);
    }) as typeof res.write;
    const end = res.end.bind(res);
    res.end = ((chunk?: unknown, ...rest: never[]) => {
      if (typeof chunk === 'string' || chunk instanceof Buffer) answer.push(Buffer.from(chunk));
      return end(chunk as string, ...rest);
    }) as typeof res.end;
    res.on('finish', () => {
      if (!recording) return;
      requests.push({
        operation: String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? 'Unknown',
        statusCode: res.statusCode,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>,
        response: Buffer.concat(answer).toString('utf8'),
      });
    });
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ endpoint, region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  for (const table of tables) {
    const { TimeToLiveSpecification: _ttl, ...input } = table.properties;
    await client.send(new CreateTableCommand(input as unknown as CreateTableCommandInput));
  }
  client.destroy();
  recording = true; // the tables' creation is the test's, not the code's
  return { endpoint, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** postToConnection answered as API Gateway does for an open connection: 200, empty body. */
export async function startManagementApi(stage: string) {
  const posts: Array<{ connectionId: string; data: unknown }> = [];
  const server = createServer((req, res) => {
    const match = new RegExp(`^/${stage}/@connections/([^/]+)$`).exec(req.url ?? '');
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || !match) {
        res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'ForbiddenException' }).end('{"message":"Forbidden"}');
        return;
      }
      posts.push({ connectionId: decodeURIComponent(match[1]), data: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/${stage}`,
    posts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type ProbeMessage =
  | { type: 'loaded'; exportType: string; exports: string[] }
  | { type: 'loadError'; message: string }
  | { type: 'result'; result: unknown }
  | { type: 'error'; message: string };

/** A packaged handler loaded in its own Node process (test/helpers/lambdaProbe.mjs), invoked one event at a time. */
export async function loadBundle(options: {
  file: string;
  exportName: string;
  functionName: string;
  cwd: string;
  env: Record<string, string>;
  timeoutMs?: number;
}) {
  const probe = fileURLToPath(new URL('./lambdaProbe.mjs', import.meta.url));
  // execArgv [] and a bare environment: nothing of vitest's process (loaders, NODE_OPTIONS) reaches the bundle.
  const child: ChildProcess = fork(
    probe,
    [options.file, options.exportName, options.functionName, ...(options.timeoutMs ? [String(options.timeoutMs)] : [])],
    {
      cwd: options.cwd,
      env: options.env,
      execPath: process.execPath,
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const next = () =>
    new Promise<ProbeMessage>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`bundle process exited (${code}):\n${output}`));
      child.once('exit', onExit);
      child.once('message', (message) => {
        child.off('exit', onExit);
        resolve(message as ProbeMessage);
      });
    });
  const loaded = await next();
  return {
    loaded,
    output: () => output,
    async invoke(event: unknown): Promise<unknown> {
      const answer = next();
      child.send(event as object);
      const message = await answer;
      if (message.type === 'result') return message.result;
      throw new Error(`${options.functionName} failed: ${'message' in message ? message.message : JSON.stringify(message)}\n${output}`);
    },
    close: () => {
      child.kill();
    },
  };
}
