/**
 * The deployable package honours its contract with the code: `npm run package` (osls + serverless-esbuild,
 * offline) runs once, then the generated CloudFormation template and the zipped bundles are checked — each bundle
 * loads under Node 22 as Lambda loads it and exports its handler; run against tables created from the template,
 * the bundled code touches only tables and indexes the template declares, with their keys; the role grants
 * ManageConnections on this API's stage and DynamoDB on these tables only; the environment the code requires is
 * set; bundles stay under a size budget.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageService, type PackageResult } from '../deploy/packageService.js';
import { startOfflineAws } from '../deploy/offlineAws.js';
import { DynamoDBClient, GetItemCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { readConfig } from '../src/config/env.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';
import {
  connectEvent,
  disconnectEvent,
  messageEvent,
  type ApiIdentity,
  type ConnectionFacts,
} from '../harness/apiGateway/websocket/events.js';
import {
  evaluate,
  loadBundle,
  readTemplate,
  startManagementApi,
  startTemplateDynamo,
  tablesOf,
  unzipTo,
  type DynamoRequest,
  type Resource,
  type Stand,
  type Template,
} from './helpers/packagedTemplate.js';
import { looksLikeEmf, parseEmf } from '../harness/cloudwatch/emf.js';
import { METRIC_NAMES } from '../src/observability/metrics.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const STAGE = 'test';
const REGION = 'eu-west-3';
const stand: Stand = { region: REGION, accountId: '123456789012', refs: { WebsocketsApi: 'wsapi12345', HttpApi: 'httpapi123' } };
const MiB = 1024 * 1024;
// Lambda allows 50 MB zipped; these budgets are about cold starts: a bundle that doubles deserves a look.
const BUDGET = { zipBytes: 3 * MiB, handlerBytes: 5 * MiB };

interface Bundle {
  name: string;
  resource: Resource;
  dir: string;
  handlerFile: string;
  exportName: string;
  files: Map<string, number>;
  zipBytes: number;
}

let work: string;
let result: PackageResult;
let template: Template;
const bundles: Bundle[] = [];
/** DynamoDB operations the bundled code performed (filled by the tables test, read by the IAM test). */
let observed: DynamoRequest[] = [];
/** What the bundles printed while the tables test ran them (their EMF lines among it), read by the monitoring test. */
let printed = '';

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'perkup-package-'));
  result = await packageService({ root, stage: STAGE, outDir: join(work, 'package') });
  template = readTemplate(result.templateFile);
  for (const [logicalId, resource] of Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function')) {
    const key = String((resource.Properties.Code as { S3Key: string }).S3Key);
    const packaged = result.functions.find((f) => basename(f.zip) === basename(key));
    if (!packaged) throw new Error(`${logicalId}'s code ${key} is none of the packaged zips`);
    const dir = join(work, packaged.name);
    const files = unzipTo(packaged.zip, dir);
    // Lambda's Node runtime resolves "path/file.export" to path/file.js, .mjs or .cjs.
    const handler = String(resource.Properties.Handler);
    const base = handler.slice(0, handler.lastIndexOf('.'));
    const handlerFile = ['.js', '.mjs', '.cjs'].map((ext) => base + ext).find((f) => existsSync(join(dir, f))) ?? `${base}.{js,mjs,cjs}`;
    bundles.push({
      name: packaged.name,
      resource,
      dir,
      handlerFile,
      exportName: handler.slice(handler.lastIndexOf('.') + 1),
      files,
      zipBytes: packaged.zipBytes,
    });
  }
}, 300_000); // packaging takes seconds alone, minutes beside other suites on two cores

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The function's environment as Lambda sets it: the template's variables plus the runtime's own. */
function lambdaEnvironment(bundle: Bundle, overrides: Record<string, string> = {}): Record<string, string> {
  const variables = ((bundle.resource.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ??
    {}) as Record<string, unknown>;
  return {
    ...Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, evaluate(v, template, stand)])),
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_LAMBDA_FUNCTION_NAME: String(bundle.resource.Properties.FunctionName),
    AWS_ACCESS_KEY_ID: 'role-credentials',
    AWS_SECRET_ACCESS_KEY: 'role-credentials',
    LAMBDA_TASK_ROOT: bundle.dir,
    ...overrides,
  };
}

const bundleNamed = (name: string): Bundle => {
  const bundle = bundles.find((b) => b.name === name);
  if (!bundle) throw new Error(`no packaged function ${name}; packaged: ${bundles.map((b) => b.name).join(', ')}`);
  return bundle;
};

describe('package contract (npm run package, offline)', () => {
  it('packages every function of serverless.yml for nodejs22.x, one zip each', () => {
    expect(bundles.map((b) => b.name).sort()).toEqual(['fanout', 'graphql', 'notifier', 'websocket']);
    for (const bundle of bundles) expect(bundle.resource.Properties.Runtime, bundle.name).toBe('nodejs22.x');
  });

  it("each handler resolves to an exported function of its bundle, loaded by Node 22 with the function's environment", async () => {
    expect(process.versions.node.split('.')[0], 'the tests must run on Node 22, the nodejs22.x runtime (npm test does)').toBe('22');
    for (const bundle of bundles) {
      expect(existsSync(join(bundle.dir, bundle.handlerFile)), `${bundle.name}: ${bundle.handlerFile} in the zip`).toBe(true);
      // Loading runs the module's top level: the app is built there, so configuration errors surface now, as at a cold start.
      const loaded = await loadBundle({
        file: join(bundle.dir, bundle.handlerFile),
        exportName: bundle.exportName,
        functionName: bundle.name,
        cwd: bundle.dir,
        env: lambdaEnvironment(bundle),
      });
      try {
        expect(loaded.loaded, `${bundle.name}:\n${loaded.output()}`).toMatchObject({ type: 'loaded', exportType: 'function' });
      } finally {
        loaded.close();
      }
    }
  });

  it('each zip holds its handler bundle and source map only (no node_modules, no sources)', () => {
    for (const bundle of bundles)
      expect([...bundle.files.keys()].sort(), bundle.name).toEqual([bundle.handlerFile, `${bundle.handlerFile}.map`]);
  });

  it('sets every environment variable the code requires, with values the configuration accepts', () => {
    // The names src/config/env.ts requires, read from its source so a new required variable is checked too.
    const source = readFileSync(join(root, 'src/config/env.ts'), 'utf8');
    const required = [...source.matchAll(/required\(env, '([A-Z_]+)'\)/g)].map((m) => m[1]);
    expect(required.length).toBeGreaterThanOrEqual(3);
    for (const bundle of bundles) {
      const env = lambdaEnvironment(bundle);
      for (const name of required) expect(env[name], `${bundle.name}: ${name}`).toBeTruthy();
      const config = readConfig(env);
      expect(config.auth.kind === 'jwks' || config.auth.secret.length > 0, `${bundle.name}: JWT_SECRET or JWT_JWKS_URL`).toBe(true);
      // On AWS the SDK uses the regional endpoint; a DYNAMODB_ENDPOINT here would point Lambda at a local database.
      expect(env.DYNAMODB_ENDPOINT, `${bundle.name}: DYNAMODB_ENDPOINT must not deploy`).toBeUndefined();
    }
    // The GraphQL function posts to the WebSocket API's management endpoint, which it cannot derive from its event.
    expect(lambdaEnvironment(bundleNamed('graphql')).WEBSOCKET_API_ENDPOINT).toBe(
      `https://${stand.refs.WebsocketsApi}.execute-api.${REGION}.amazonaws.com/${STAGE}`,
    );
  });

  it("the bundled code uses only the template's tables and indexes, with their key schemas", async () => {
    const tables = tablesOf(template);
    const dynamo = await startTemplateDynamo(tables, REGION);
    const management = await startManagementApi(STAGE);
    const overrides = { DYNAMODB_ENDPOINT: dynamo.endpoint, WEBSOCKET_API_ENDPOINT: management.endpoint };
    /** A packaged function's bundle, loaded as Lambda would, its AWS clients pointed at the local stand-ins. */
    const loadNamed = (name: string, withTimeout = false) => {
      const bundle = bundleNamed(name);
      return loadBundle({
        file: join(bundle.dir, bundle.handlerFile),
        exportName: bundle.exportName,
        functionName: bundle.name,
        cwd: bundle.dir,
        env: lambdaEnvironment(bundle, overrides),
        ...(withTimeout ? { timeoutMs: Number(bundle.resource.Properties.Timeout) * 1000 } : {}),
      });
    };
    const gql = bundleNamed('graphql');
    const websocket = await loadNamed('websocket');
    const graphql = await loadNamed('graphql');
    // The notifier runs with its configured timeout, as on Lambda.
    const notifier = await loadNamed('notifier', true);
    try {
      const secret = lambdaEnvironment(gql).JWT_SECRET;
      const admin = await signDevelopmentToken({ sub: 'contract-admin', role: 'admin' }, secret);
      const member = await signDevelopmentToken({ sub: 'contract-member', role: 'user' }, secret);
      const api: ApiIdentity = { apiId: stand.refs.WebsocketsApi, stage: STAGE, region: REGION };
      const connection: ConnectionFacts = {
        connectionId: 'Q29udHJhY3RUZXN0=',
        connectedAt: Date.now(),
        sourceIp: '203.0.113.7',
        userAgent: 'package-contract',
        authorizer: undefined,
      };

      expect(await websocket.invoke(connectEvent(api, connection, { rawHeaders: [], query: `token=${member}` }, Date.now()))).toMatchObject(
        { statusCode: 200 },
      );
      const subscribe = { type: 'subscribe', data: { topics: ['partners'], city: 'Paris', categories: ['Bar'] } };
      expect(await websocket.invoke(messageEvent(api, connection, '$default', JSON.stringify(subscribe), Date.now()))).toMatchObject({
        statusCode: 200,
      });
      expect(management.posts).toEqual([{ connectionId: connection.connectionId, data: expect.objectContaining({ type: 'subscribed' }) }]);

      const call = async (query: string, variables: Record<string, unknown> = {}) => {
        const response = (await graphql.invoke(httpApiEvent(query, variables, admin))) as { statusCode: number; body: string };
        const body = JSON.parse(response.body) as { data?: Record<string, unknown>; errors?: unknown[] };
        expect(body.errors, `${query}\n${graphql.output()}`).toBeUndefined();
        return body.data!;
      };
      const input = {
        name: 'Le Syndicat',
        category: 'Bar',
        address: '51 rue du Faubourg Saint-Denis',
        city: 'Paris',
        zipCode: '75010',
        phone: '01 42 46 34 68',
        discount: 20,
        latitude: 48.8712,
        longitude: 2.3535,
      };
      // With an idempotency key, as a retrying client sends it: the idempotency table is used too.
      const created = (
        await call(
          'mutation ($input: PartnerInput!, $key: String) { createPartner(input: $input, clientMutationId: $key) { success partner { id } } }',
          { input, key: 'contract-create-1' },
        )
      ).createPartner as { success: boolean; partner: { id: string } };
      expect(created.success).toBe(true);
      const id = created.partner.id;
      // The mutation answers after its write; the notifier, fed by the table's stream, does the fanout. Its event is
      // the stream record of that write (AWS's shape), built here from the stored item.
      const partnersTable = tables.find((t) => t.name.endsWith('-partners'))!.name;
      const raw = new DynamoDBClient({
        endpoint: dynamo.endpoint,
        region: REGION,
        credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      });
      const { Item } = await raw.send(new GetItemCommand({ TableName: partnersTable, Key: { id: { S: id } } }));
      const record = {
        eventID: 'contract-1',
        eventName: 'INSERT',
        eventVersion: '1.1',
        eventSource: 'aws:dynamodb',
        awsRegion: REGION,
        dynamodb: {
          Keys: { id: { S: id } },
          NewImage: Item,
          SequenceNumber: '100',
          SizeBytes: 100,
          StreamViewType: 'NEW_AND_OLD_IMAGES',
          ApproximateCreationDateTime: Math.floor(Date.now() / 1000),
        },
        eventSourceARN: `arn:aws:dynamodb:${REGION}:${stand.accountId}:table/${partnersTable}/stream/stand-in`,
      };
      expect(await notifier.invoke({ Records: [record] }), notifier.output()).toMatchObject({ batchItemFailures: [] });
      expect(management.posts.map((p) => (p.data as { type: string }).type)).toContain('partner_updated');
      await call('query ($id: ID!) { partner(id: $id) { id } }', { id });
      await call(
        'query { byCity: partners(city: "Paris") { items { id } } byCategory: partners(category: "Bar") { items { id } } both: partners(city: "Paris", category: "Bar") { items { id } } all: partners { items { id } } }',
      );
      await call('query { partnersNear(latitude: 48.87, longitude: 2.35, radiusKm: 2) { distanceKm } }');
      expect(
        (
          (await call('mutation ($id: ID!) { updatePartner(id: $id, input: { discount: 25 }) { success } }', { id })).updatePartner as {
            success: boolean;
          }
        ).success,
      ).toBe(true);
      expect(
        ((await call('mutation ($id: ID!) { deletePartner(id: $id) { success } }', { id })).deletePartner as { success: boolean }).success,
      ).toBe(true);
      expect(await websocket.invoke(disconnectEvent(api, connection, 1000, 'Client closed', Date.now()))).toMatchObject({
        statusCode: 200,
      });
    } finally {
      observed = dynamo.requests;
      printed = [websocket.output(), graphql.output(), notifier.output()].join('\n');
      websocket.close();
      graphql.close();
      notifier.close();
      await management.close();
      await dynamo.close();
    }

    // Two refusals are the code's own control flow: a failed condition (ConditionalCheckFailedException) and the
    // first SET on a map that does not exist yet (src/realtime/userSlots.ts). Anything else — a missing table or
    // index, a key that does not match the schema — is the template and the code disagreeing.
    const expected = (r: DynamoRequest): boolean =>
      r.response.includes('ConditionalCheckFailedException') ||
      r.response.includes('The document path provided in the update expression is invalid for update');
    const failed = observed.filter((r) => r.statusCode !== 200 && !expected(r));
    expect(failed.map((r) => `${r.operation} ${JSON.stringify(r.body)} → ${r.statusCode} ${r.response}`)).toEqual([]);

    const used = new Set<string>();
    for (const request of observed) {
      const body = request.body as {
        TableName?: string;
        IndexName?: string;
        Key?: Record<string, unknown>;
        Item?: Record<string, unknown>;
        KeyConditionExpression?: string;
        ExpressionAttributeNames?: Record<string, string>;
        RequestItems?: Record<
          string,
          | Array<{ DeleteRequest?: { Key: Record<string, unknown> }; PutRequest?: { Item: Record<string, unknown> } }>
          | { Keys: Array<Record<string, unknown>> }
        >;
      };
      const where = `${request.operation} ${JSON.stringify(body)}`;
      for (const name of [body.TableName, ...Object.keys(body.RequestItems ?? {})].filter((n): n is string => Boolean(n))) {
        const table = tables.find((t) => t.name === name);
        expect(table, `${where}: table ${name} is not in the template`).toBeDefined();
        used.add(name);
        if (body.IndexName) {
          expect(table!.indexes.has(body.IndexName), `${where}: index ${body.IndexName} is not in the template`).toBe(true);
          used.add(`${name}/${body.IndexName}`);
        }
        const keys = body.IndexName ? table!.indexes.get(body.IndexName)! : table!.keys;
        if (body.Key) expect(Object.keys(body.Key).sort(), where).toEqual([...table!.keys].sort());
        if (body.Item) expect(Object.keys(body.Item), where).toEqual(expect.arrayContaining(table!.keys));
        const items = body.RequestItems?.[name];
        // BatchGetItem: { Keys: [...] }; BatchWriteItem: [{ PutRequest | DeleteRequest }].
        if (items && !Array.isArray(items))
          for (const key of items.Keys) expect(Object.keys(key).sort(), where).toEqual([...table!.keys].sort());
        for (const write of Array.isArray(items) ? items : []) {
          if (write.DeleteRequest) expect(Object.keys(write.DeleteRequest.Key).sort(), where).toEqual([...table!.keys].sort());
          if (write.PutRequest) expect(Object.keys(write.PutRequest.Item), where).toEqual(expect.arrayContaining(table!.keys));
        }
        if (body.KeyConditionExpression) {
          // Attribute names in the key condition (not :values), #placeholders resolved: each must be a key of the table or index.
          const names = [...body.KeyConditionExpression.matchAll(/(?<![:\w])#?[A-Za-z_][A-Za-z0-9_]*/g)]
            .map((m) => m[0])
            .filter((token) => !['AND', 'BETWEEN', 'begins_with'].includes(token))
            .map((token) => (token.startsWith('#') ? body.ExpressionAttributeNames![token] : token));
          for (const attribute of names)
            expect(keys, `${where}: ${attribute} is not a key of ${body.IndexName ?? name}`).toContain(attribute);
        }
      }
    }
    // Every declared table and index is used: an index the code never queries is cost without purpose.
    const declared = tables.flatMap((t) => [t.name, ...[...t.indexes.keys()].map((i) => `${t.name}/${i}`)]);
    expect([...used].sort()).toEqual(declared.sort());
  });

  it('the dashboard and alarms watch metrics the packaged code emits (namespace, name, dimensions) and functions of this stack', () => {
    expect(printed, 'runs after the tables test, which ran every function but fanout').not.toBe('');
    // What CloudWatch extracts from those log lines, read as the emulator reads them (AWS's EMF specification).
    const series = (namespace: string, name: string, dimensions: Record<string, string>): string =>
      JSON.stringify([namespace, name, Object.entries(dimensions).sort(([a], [b]) => (a < b ? -1 : 1))]);
    const emitted = new Set<string>();
    for (const line of printed.split('\n')) {
      let document: unknown;
      try {
        document = JSON.parse(line);
      } catch {
        continue;
      }
      if (!looksLikeEmf(document)) continue;
      const parsed = parseEmf(document);
      if (!parsed.ok) expect.fail(`an EMF line CloudWatch would refuse (${parsed.error}): ${line}`);
      for (const d of parsed.data) emitted.add(series(d.namespace, d.name, d.dimensions));
    }
    const names = new Set([...emitted].map((k) => (JSON.parse(k) as [string, string])[1]));
    expect([...names].sort(), 'the application metrics the bundles emitted').toEqual([...METRIC_NAMES].sort());

    interface Watched {
      where: string;
      namespace: string;
      name: string;
      dimensions: Record<string, string>;
    }
    const watched: Watched[] = [];
    const dimensionsOf = (list: Array<{ Name: string; Value: unknown }> = []) =>
      Object.fromEntries(list.map((d) => [d.Name, evaluate(d.Value, template, stand)]));
    const alarms = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
    const topics = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::SNS::Topic')
      .map(([id]) => id);
    for (const [id, alarm] of alarms) {
      const p = alarm.Properties as {
        Namespace?: string;
        MetricName?: string;
        Dimensions?: Array<{ Name: string; Value: unknown }>;
        Metrics?: Array<{
          Id: string;
          Expression?: string;
          MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: [] } };
        }>;
        AlarmActions?: Array<{ Ref: string }>;
      };
      if (p.MetricName)
        watched.push({ where: id, namespace: String(p.Namespace), name: p.MetricName, dimensions: dimensionsOf(p.Dimensions) });
      const ids = (p.Metrics ?? []).map((m) => m.Id);
      for (const m of p.Metrics ?? []) {
        const stat = m.MetricStat?.Metric;
        if (stat)
          watched.push({
            where: `${id}.${m.Id}`,
            namespace: stat.Namespace,
            name: stat.MetricName,
            dimensions: dimensionsOf(stat.Dimensions),
          });
        // Metric math names queries by id: each one it names must be declared beside it.
        for (const ref of m.Expression?.match(/\b[a-z][A-Za-z0-9_]*\b/g) ?? [])
          if (ref !== 'FILL') expect(ids, `${id}: ${m.Expression} names ${ref}`).toContain(ref);
      }
      expect(p.MetricName !== undefined || (p.Metrics ?? []).length > 0, `${id} watches something`).toBe(true);
      for (const action of p.AlarmActions ?? []) expect(topics, `${id} notifies a topic of this stack`).toContain(action.Ref);
      expect(p.AlarmActions?.length, `${id} notifies someone`).toBeGreaterThan(0);
    }
    const dashboards = Object.values(template.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const body = JSON.parse(evaluate(dashboards[0].Properties.DashboardBody, template, stand)) as {
      widgets: Array<{ properties: { title: string; region: string; metrics: unknown[][] } }>;
    };
    for (const widget of body.widgets) {
      expect(widget.properties.region, widget.properties.title).toBe(REGION);
      let previous: string[] = [];
      for (const row of widget.properties.metrics) {
        // [namespace, name, dimension, value, …, {options}]; "." repeats the previous row's entry.
        const parts = row.filter((x): x is string => typeof x === 'string').map((x, i) => (x === '.' ? previous[i] : x));
        previous = parts;
        const [namespace, name, ...pairs] = parts;
        const dimensions: Record<string, string> = {};
        for (let i = 0; i < pairs.length; i += 2) dimensions[pairs[i]] = pairs[i + 1];
        watched.push({ where: `dashboard "${widget.properties.title}"`, namespace, name, dimensions });
      }
    }

    const functionNames = bundles.map((b) => String(b.resource.Properties.FunctionName));
    for (const w of watched) {
      const what = `${w.where}: ${w.namespace}/${w.name} ${JSON.stringify(w.dimensions)}`;
      if (w.namespace === 'AWS/Lambda') {
        expect(['Errors', 'Invocations', 'Throttles', 'Duration', 'ConcurrentExecutions'], what).toContain(w.name);
        expect(Object.keys(w.dimensions), what).toEqual(['FunctionName']);
        expect(functionNames, what).toContain(w.dimensions.FunctionName);
      } else {
        // CloudWatch matches a metric on namespace, name and the exact set of dimensions: all three must agree.
        expect([...emitted], `${what} is not a metric the code emits`).toContain(series(w.namespace, w.name, w.dimensions));
      }
    }
    // Every application metric is on the dashboard, and the four alarms are there.
    const onDashboard = new Set(watched.filter((w) => w.where.startsWith('dashboard')).map((w) => w.name));
    for (const name of METRIC_NAMES) expect(onDashboard, `${name} on the dashboard`).toContain(name);
    const alarmed = new Set(watched.filter((w) => !w.where.startsWith('dashboard')).map((w) => w.name));
    for (const name of ['Errors', 'Invocations', 'NotificationsGone', 'FanoutDuration', 'Throttles'])
      expect(alarmed, `an alarm on ${name}`).toContain(name);
    const p99 = alarms.find(([, a]) => a.Properties.MetricName === 'FanoutDuration');
    expect(p99?.[1].Properties.ExtendedStatistic, 'the fanout alarm is on its p99').toBe('p99');
  });

  it('IAM grants ManageConnections on this API and stage, DynamoDB on these tables and streams, SQS on these queues, only', () => {
    expect(observed.length, 'runs after the tables test, which records the operations').toBeGreaterThan(0);
    const roles = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::IAM::Role');
    expect(
      Object.values(template.Resources).filter((r) => /^AWS::IAM::(Policy|ManagedPolicy|User|Group)$/.test(r.Type)),
      'no policies outside the role',
    ).toEqual([]);
    for (const bundle of bundles) {
      const role = bundle.resource.Properties.Role as { 'Fn::GetAtt'?: string[] };
      expect(
        roles.map(([id]) => id),
        `${bundle.name}'s role is defined in the template`,
      ).toContain(role['Fn::GetAtt']?.[0]);
    }
    const tables = tablesOf(template);
    const tableArns = tables.flatMap((t) => {
      const arn = `arn:aws:dynamodb:${REGION}:${stand.accountId}:table/${t.name}`;
      return t.indexes.size ? [arn, `${arn}/index/*`] : [arn];
    });
    // A statement may also name one index of a table, or a table's stream (the notifier's event source).
    const indexArns = tables.flatMap((t) =>
      [...t.indexes.keys()].map((i) => `arn:aws:dynamodb:${REGION}:${stand.accountId}:table/${t.name}/index/${i}`),
    );
    const streamArns = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::DynamoDB::Table' && r.Properties.StreamSpecification)
      .map(([id]) => evaluate({ 'Fn::GetAtt': [id, 'StreamArn'] }, template, stand));
    const queueArns = Object.entries(template.Resources)
      .filter(([, r]) => r.Type === 'AWS::SQS::Queue')
      .map(([id]) => evaluate({ 'Fn::GetAtt': [id, 'Arn'] }, template, stand));
    const streamActions = ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'];
    const connectionsArn = `arn:aws:execute-api:${REGION}:${stand.accountId}:${stand.refs.WebsocketsApi}/${STAGE}/POST/@connections/*`;
    const logsPrefix = `arn:aws:logs:${REGION}:${stand.accountId}:log-group:/aws/lambda/perkup-${STAGE}-`;
    const granted = { dynamodbActions: new Set<string>(), dynamodbResources: new Set<string>(), manageConnections: 0 };
    for (const [id, role] of roles) {
      expect(role.Properties.ManagedPolicyArns, `${id}: no managed policies`).toBeUndefined();
      const statements = (
        (role.Properties.Policies ?? []) as Array<{
          PolicyDocument: { Statement: Array<{ Effect: string; Action: string[] | string; Resource: unknown[] | unknown }> };
        }>
      ).flatMap((p) => p.PolicyDocument.Statement);
      for (const statement of statements) {
        const actions = [statement.Action].flat();
        const resources = [statement.Resource].flat().map((r) => evaluate(r, template, stand));
        const services = new Set(actions.map((a) => a.split(':')[0]));
        const what = `${id}: ${actions.join(',')} on ${resources.join(', ')}`;
        expect(statement.Effect, what).toBe('Allow');
        expect(services.size, `${what}: one service per statement`).toBe(1);
        const [service] = services;
        if (service === 'execute-api') {
          expect(actions, what).toEqual(['execute-api:ManageConnections']);
          expect(resources, what).toEqual([connectionsArn]);
          granted.manageConnections++;
        } else if (service === 'dynamodb' && resources.every((r) => streamArns.includes(r))) {
          for (const action of actions) expect(streamActions, what).toContain(action);
        } else if (service === 'dynamodb') {
          for (const resource of resources) expect([...tableArns, ...indexArns], what).toContain(resource);
          for (const a of actions) granted.dynamodbActions.add(a);
          for (const r of resources) granted.dynamodbResources.add(r.replace(/\/index\/[^*]+$/, '/index/*'));
        } else if (service === 'sqs') {
          for (const resource of resources) expect(queueArns, what).toContain(resource);
          expect(
            actions.every((a) =>
              [
                'sqs:SendMessage',
                'sqs:ReceiveMessage',
                'sqs:DeleteMessage',
                'sqs:GetQueueAttributes',
                'sqs:ChangeMessageVisibility',
              ].includes(a),
            ),
            what,
          ).toBe(true);
        } else if (service === 'logs') {
          for (const resource of resources) expect(resource.startsWith(logsPrefix), what).toBe(true);
          expect(
            actions.every((a) => ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:CreateLogGroup'].includes(a)),
            what,
          ).toBe(true);
        } else {
          expect.fail(`${what}: the functions need no ${service} permission`);
        }
      }
    }
    expect(granted.manageConnections, 'ManageConnections on the WebSocket API').toBeGreaterThan(0);
    expect([...granted.dynamodbResources].sort(), 'DynamoDB on each table (and its indexes)').toEqual([...tableArns].sort());
    const performed = [...new Set(observed.map((r) => `dynamodb:${r.operation}`))];
    for (const action of performed) expect([...granted.dynamodbActions], `the code calls ${action}`).toContain(action);
  });

  it('the graphql bundle carries one copy of Apollo Server (a CommonJS package requiring it would add its CJS build)', () => {
    const graphql = bundleNamed('graphql');
    const code = readFileSync(join(graphql.dir, graphql.handlerFile), 'utf8');
    // esbuild renames a second definition (HeaderMap2): one per copy of @apollo/server in the bundle.
    expect(code.match(/\bHeaderMap\d* = class\b/g), 'HeaderMap definitions').toHaveLength(1);
  });

  it('bundles stay under their size budget', () => {
    const rows = bundles.map((b) => ({
      function: b.name,
      zip: b.zipBytes,
      handler: b.files.get(b.handlerFile) ?? 0,
      sourceMap: b.files.get(`${b.handlerFile}.map`) ?? 0,
    }));
    const kib = (n: number) => `${(n / 1024).toFixed(0)} KiB`.padStart(10);
    console.log(
      [
        `bundle sizes (budget: zip ${kib(BUDGET.zipBytes).trim()}, handler ${kib(BUDGET.handlerBytes).trim()})`,
        ...rows.map((r) => `  ${r.function.padEnd(10)} zip ${kib(r.zip)}  handler ${kib(r.handler)}  source map ${kib(r.sourceMap)}`),
      ].join('\n'),
    );
    for (const row of rows) {
      expect(row.zip, `${row.function} zip`).toBeLessThanOrEqual(BUDGET.zipBytes);
      expect(row.handler, `${row.function} handler`).toBeLessThanOrEqual(BUDGET.handlerBytes);
    }
  });
});

describe('offline packaging talks to no AWS', () => {
  it('resolves ${ssm:…} from the local parameter files, as the emulator does', () => {
    expect(result.ssmParameters).toEqual([{ name: `/perkup/${STAGE}/jwt-secret`, found: true }]);
  });

  it('refuses and records any other AWS call (packageService then fails)', async () => {
    const aws = await startOfflineAws(root);
    const client = new DynamoDBClient({
      endpoint: aws.endpoint,
      region: REGION,
      maxAttempts: 1,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    });
    try {
      await expect(client.send(new ListTablesCommand({}))).rejects.toMatchObject({ name: 'OfflinePackaging' });
      expect(aws.refused).toEqual(['DynamoDB_20120810.ListTables']);
    } finally {
      client.destroy();
      await aws.close();
    }
  });
});

/** What an HTTP API (payload format 2.0) sends the GraphQL function for POST /graphql. */
function httpApiEvent(query: string, variables: Record<string, unknown>, token: string) {
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: 'POST /graphql',
    rawPath: '/graphql',
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
      host: `${stand.refs.HttpApi}.execute-api.${REGION}.amazonaws.com`,
    },
    requestContext: {
      accountId: stand.accountId,
      apiId: stand.refs.HttpApi,
      domainName: `${stand.refs.HttpApi}.execute-api.${REGION}.amazonaws.com`,
      domainPrefix: stand.refs.HttpApi,
      http: { method: 'POST', path: '/graphql', protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'package-contract' },
      requestId: `req-${now}`,
      routeKey: 'POST /graphql',
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    body: JSON.stringify({ query, variables }),
    isBase64Encoded: false,
  };
}
