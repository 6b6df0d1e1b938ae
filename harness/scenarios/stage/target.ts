/**
 * `npm run scenarios -- --stage test`: the scenario files against a deployed stage. Its endpoints come from the
 * stack's outputs, tokens from `--token-command`, AWS calls are signed with the default credential chain. Of the
 * steps that need the emulator's insides, those with an AWS API of their own run through it — a client's connection
 * record is a DynamoDB GetItem on the connections table (connections.ts) — and the others (faults, the clock, cache
 * keys, the emulator's events, counting records) are reported as skipped, which `--strict` turns into a failure.
 */
import { resolve } from 'node:path';
import { loadServerlessConfig } from '../../config/serverless.js';
import type { ConnectionExpectation, Expectation, Step } from '../format.js';
import { waitOutBatchingWindows, type ScenarioTarget, type TargetFactory, type TargetInsides } from '../target.js';
import { stageConnectionRecords, type StageConnectionRecords } from './connections.js';
import { stageEndpoints, StageError } from './outputs.js';
import { tokenCommand } from './tokens.js';

/** A connection expectation with an AWS API behind it: one client's record (GetItem), not a count (a Scan of everyone's). */
const onStage = (e: ConnectionExpectation): boolean => e.client !== undefined && e.count === undefined;
const expectationOnStage = (e: Expectation): boolean =>
  'message' in e || 'noMessage' in e || 'closed' in e || ('connection' in e && onStage(e.connection));

/** Whether a step that needs the emulator's insides can run on a deployed stage. */
export function runsOnStage(step: Step): boolean {
  if (step.expectConnection) return onStage(step.expectConnection);
  if (step.expect) return step.expect.every(expectationOnStage);
  return false;
}

/** The management API's endpoint for a WebSocket API URL: the same host and stage over https. */
export function managementEndpointOf(websocketUrl: string): string {
  const url = new URL(websocketUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  return url.href.replace(/\/$/, '');
}

export async function stageTargets(options: {
  projectRoot: string;
  stage: string;
  region?: string;
  tokenCommand: string | undefined;
}): Promise<TargetFactory> {
  if (!options.tokenCommand)
    throw new StageError(
      `--stage needs --token-command "…": the command that prints a token of the stage's identity provider for {role} (and {sub}), e.g. --token-command "npm run -s token -- --sub {sub} --role {role} --stage ${options.stage}" for a stage with an HS256 secret`,
    );
  const app = loadServerlessConfig(resolve(options.projectRoot, 'serverless.yml'), {
    stage: options.stage,
    ...(options.region ? { region: options.region } : {}),
    // Only names are needed here (tables, routes); what CloudFormation resolves comes from the stack's outputs.
    refs: () => 'deployed',
  });
  const endpoints = await stageEndpoints({ service: app.service, stage: app.stage, region: app.region });
  const route = app.functions.flatMap((f) => f.httpApiEvents)[0];
  const graphqlUrl = new URL(route?.path ?? '/', endpoints.httpApiUrl).href;

  const { connectionRecord } = app.emulator;
  const table =
    connectionRecord && app.tables.find((t) => t.logicalId === connectionRecord.table || t.TableName === connectionRecord.table);
  const records: StageConnectionRecords | undefined =
    connectionRecord && table
      ? stageConnectionRecords({
          region: app.region,
          table: table.TableName,
          key: connectionRecord.key,
          managementEndpoint: managementEndpointOf(endpoints.websocketUrl),
        })
      : undefined;
  const notOnStage = (what: string) => (): never => {
    throw new StageError(`${what} has no AWS API on a deployed stage`);
  };
  const insides: TargetInsides = {
    supports: runsOnStage,
    connectionIdOf: (userAgent) => records?.idOf(userAgent),
    faults: {
      postToConnection: notOnStage('a postToConnection fault'),
      socketDies: notOnStage('a socketDies fault'),
      dynamodbThrottle: notOnStage('a dynamodbThrottle fault'),
      dynamodbUnprocessed: notOnStage('a dynamodbUnprocessed fault'),
      lambdaTimeout: notOnStage('a lambdaTimeout fault'),
      indexLag: notOnStage('a dynamodbIndexLag fault'),
      streamRecordFails: notOnStage('a streamRecordFails fault'),
      coldStart: notOnStage('a coldStart fault'),
    },
    // The stage's network time is the real one.
    setLatency: async () => undefined,
    advanceClock: notOnStage('advanceClock'),
    cacheInvalidations: notOnStage('expectCacheInvalidated'),
    metrics: notOnStage('expectMetric (the emulator collects EMF lines; on AWS read CloudWatch)'),
    async connectionRecordExists(connectionId) {
      if (!records) throw new StageError('expectConnection needs custom.emulator.connectionRecord {table, key} in serverless.yml');
      return records.exists(connectionId);
    },
    connectionRecordCount: notOnStage('counting connection records'),
    // No emulator event log: failures show the client's frames only.
    events: () => [],
    // API Gateway runs $disconnect on its own; expectations poll for its effects.
    settle: async () => undefined,
  };
  const target: ScenarioTarget = {
    name: `stage ${app.stage} (stack ${endpoints.stackName}, ${app.region})`,
    graphqlUrl,
    wsUrl: endpoints.websocketUrl,
    mintToken: tokenCommand(options.tokenCommand),
    subscribe: app.emulator.scenarios.subscribe,
    tokenQueryParameter: app.emulator.tokens?.queryParameter,
    insides,
    pipelinesDelivered: waitOutBatchingWindows(app),
    release: async () => undefined,
  };
  return { acquire: async () => target, close: async () => records?.close() };
}
