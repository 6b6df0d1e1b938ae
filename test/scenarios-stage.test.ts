/**
 * `npm run scenarios -- --stage test` against the emulator posing as a deployed stage: an in-process CloudFormation
 * endpoint answers DescribeStacks as AWS does (awsQuery: a form-encoded POST, an XML answer; a missing stack is a
 * 400 ValidationError) with outputs pointing at a running emulator; tokens come from --token-command; the
 * connection records are read with DynamoDB GetItem from the emulator's DynamoDB endpoint, the connection ids found
 * through the management API's GetConnection. The CLI runs as users run it, its AWS clients configured only by the
 * environment (credentials from the default chain, AWS_ENDPOINT_URL_<SERVICE> for the endpoints).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { create } from 'xmlbuilder2';
import { startEmulator, type Emulator } from '../harness/emulator.js';
import type { ScenarioResult } from '../harness/scenarios/runner.js';
import { loadScenario } from '../harness/scenarios/loader.js';
import { tokenCommand } from '../harness/scenarios/stage/tokens.js';
import { runsOnStage } from '../harness/scenarios/stage/target.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const ACCESS_KEY = 'AKIASTAGETEST0000001';
let emulator: Emulator;
let cloudformation: Server;
let cloudformationUrl: string;
let out: string;
const describeCalls: Array<{ params: URLSearchParams; authorization: string }> = [];

/** DescribeStacks as the CloudFormation API reference documents it (2010-05-15, awsQuery). */
function describeStacks(stackName: string): { status: number; body: string } {
  const xmlns = 'http://cloudformation.amazonaws.com/doc/2010-05-15/';
  if (stackName !== 'perkup-test') {
    const error = create({ version: '1.0' })
      .ele(xmlns, 'ErrorResponse')
      .ele('Error')
      .ele('Type')
      .txt('Sender')
      .up()
      .ele('Code')
      .txt('ValidationError')
      .up()
      .ele('Message')
      .txt(`Stack with id ${stackName} does not exist`)
      .up()
      .up()
      .ele('RequestId')
      .txt('3b2a8c5e-0000-4000-8000-stage0test01')
      .up();
    return { status: 400, body: error.end() };
  }
  const outputs: Record<string, string> = {
    ServerlessDeploymentBucketName: 'perkup-test-serverlessdeploymentbucket-abc',
    HttpApiId: 'httpapi123',
    // What the framework's outputs hold on AWS (https://{id}.execute-api.{region}.amazonaws.com, wss://…/{stage}),
    // here the emulator's ports.
    HttpApiUrl: emulator.httpUrl,
    ServiceEndpointWebsocket: `${emulator.wsUrl}/test`,
  };
  const doc = create({ version: '1.0' }).ele(xmlns, 'DescribeStacksResponse');
  const stack = doc.ele('DescribeStacksResult').ele('Stacks').ele('member');
  stack.ele('StackName').txt('perkup-test');
  stack.ele('StackId').txt('arn:aws:cloudformation:eu-west-3:123456789012:stack/perkup-test/0c1a5c60-aaaa-11ef-8000-0a1b2c3d4e5f');
  stack.ele('CreationTime').txt('2026-11-25T10:00:00.000Z');
  stack.ele('StackStatus').txt('UPDATE_COMPLETE');
  stack.ele('DisableRollback').txt('false');
  const list = stack.ele('Outputs');
  for (const [key, value] of Object.entries(outputs)) {
    const member = list.ele('member');
    member.ele('OutputKey').txt(key);
    member.ele('OutputValue').txt(value);
  }
  doc.ele('ResponseMetadata').ele('RequestId').txt('b9b4b068-3a41-11e5-94eb-stage0test02');
  return { status: 200, body: doc.end() };
}

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'perkup-stage-'));
  emulator = await startEmulator({ projectRoot: root, stage: 'test' });
  cloudformation = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      describeCalls.push({ params, authorization: String(req.headers.authorization ?? '') });
      const answer =
        params.get('Action') === 'DescribeStacks'
          ? describeStacks(params.get('StackName') ?? '')
          : { status: 400, body: '<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>' };
      res.writeHead(answer.status, { 'content-type': 'text/xml', 'x-amzn-requestid': 'stage-test' }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => cloudformation.listen(0, '127.0.0.1', resolve));
  cloudformationUrl = `http://127.0.0.1:${(cloudformation.address() as AddressInfo).port}`;
}, 60_000);

afterAll(async () => {
  await emulator?.close();
  await new Promise<void>((resolve) => (cloudformation ? cloudformation.close(() => resolve()) : resolve()));
  if (out) rmSync(out, { recursive: true, force: true });
});

/** `npm run scenarios -- …` in a process of its own, configured by its environment only, as on a developer's machine. */
function scenarios(args: string[]): Promise<{ code: number | null; output: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'CI', 'JWT_SECRET']) delete env[name];
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: ACCESS_KEY,
    AWS_SECRET_ACCESS_KEY: 'stage-test-secret',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL_CLOUDFORMATION: cloudformationUrl,
    AWS_ENDPOINT_URL_DYNAMODB: emulator.dynamodb.endpoint,
  });
  const child = spawn(process.execPath, ['--import', 'tsx', 'harness/scenarios/cli.ts', ...args], { cwd: root, env });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

// The development mint tool, as a stage with an HS256 secret in SSM would use it; a real identity provider's CLI
// goes here otherwise.
const TOKEN_COMMAND = `"${process.execPath}" --import tsx src/tools/mintToken.ts --sub {sub} --role {role} --stage test`;

describe('npm run scenarios -- --stage test (the emulator posing as a deployed stage)', () => {
  it('reads the endpoints from the stack outputs, runs the seed and a connection-record scenario, and maps or skips each inside step', async () => {
    const run = await scenarios([
      'scenarios/functional/seed-checklist.yaml',
      'scenarios/functional/disconnect-removes-record.yaml',
      '--stage',
      'test',
      '--token-command',
      TOKEN_COMMAND,
      '--reporter',
      'console,json',
      '--out',
      out,
      '--no-strict',
    ]);
    expect(run.code, run.output).toBe(0);

    // One DescribeStacks for the framework's stack name, signed (SigV4) with the default chain's credentials.
    expect(describeCalls.map((c) => c.params.get('StackName'))).toEqual(['perkup-test']);
    expect(describeCalls[0].params.get('Version')).toBe('2010-05-15');
    expect(describeCalls[0].authorization).toMatch(
      new RegExp(`^AWS4-HMAC-SHA256 Credential=${ACCESS_KEY}/\\d{8}/eu-west-3/cloudformation/aws4_request`),
    );

    const report = JSON.parse(readFileSync(join(out, 'scenarios.json'), 'utf8')) as { scenarios: ScenarioResult[] };
    const byFile = (file: string): ScenarioResult => report.scenarios.find((s) => s.file.endsWith(file))!;
    for (const s of report.scenarios) {
      expect(s.target).toBe('stage test (stack perkup-test, eu-west-3)');
      expect(
        s.steps.filter((step) => step.status === 'failed'),
        s.failure,
      ).toEqual([]);
    }

    // The seed: every GraphQL call and every notification ran against the stage; cache keys have no AWS API.
    const seed = byFile('seed-checklist.yaml');
    const seedSkipped = seed.steps.filter((step) => step.status === 'skipped');
    expect(seed.steps.filter((step) => step.action === 'graphql').every((step) => step.status === 'passed')).toBe(true);
    const withCacheKeys = loadScenario(join(root, 'scenarios/functional/seed-checklist.yaml'))
      .steps.map((step, i) => ({ step, i }))
      .filter(({ step }) => step.expect?.some((e) => 'cacheInvalidated' in e))
      .map(({ i }) => i);
    expect(withCacheKeys.length).toBeGreaterThan(0);
    expect(seedSkipped.map((step) => step.index)).toEqual(withCacheKeys);
    expect(seedSkipped[0].reason).toMatch(/needs the emulator's insides .* not available on stage test/);

    // Connection records: one client's record is a GetItem (both states pass); counting them is skipped.
    const records = byFile('disconnect-removes-record.yaml');
    const connectionSteps = records.steps.filter((step) => step.action === 'expectConnection').map((step) => step.status);
    expect(connectionSteps).toEqual(['skipped', 'passed', 'passed', 'skipped']);
    expect(run.output).toMatch(/0 failed, 2 skipped/);
  }, 240_000);

  it('--strict fails the run on a skipped step; a stack that does not exist, or no --token-command, is a clear error', async () => {
    const strict = await scenarios([
      'scenarios/functional/disconnect-removes-record.yaml',
      '--stage',
      'test',
      '--token-command',
      TOKEN_COMMAND,
      '--strict',
    ]);
    expect(strict.code, strict.output).toBe(1);
    expect(strict.output).toContain('--strict: 1 skipped scenario(s) fail the run');

    const missing = await scenarios(['scenarios/functional/ping-pong.yaml', '--stage', 'prod', '--token-command', 'echo x']);
    expect(missing.code).toBe(2);
    expect(missing.output).toContain(
      'No stack perkup-prod in eu-west-3 (Stack with id perkup-prod does not exist): deploy the stage first (npx osls deploy --stage prod)',
    );
    const noTokens = await scenarios(['scenarios/functional/ping-pong.yaml', '--stage', 'test']);
    expect(noTokens.code).toBe(2);
    expect(noTokens.output).toContain('--stage needs --token-command');
  }, 240_000);

  it('--token-command: claims go in shell-quoted (no injection), it runs once per role (and sub when it uses it), a failure says which role', async () => {
    const calls = join(out, 'token-calls');
    const mint = tokenCommand(`echo called >> ${calls}; echo token:{role}:{sub}:"$SCENARIO_ROLE"`);
    expect(await mint({ role: 'admin', sub: "o'brien; touch pwned" })).toBe("token:admin:o'brien; touch pwned:admin");
    expect(await mint({ role: 'admin', sub: "o'brien; touch pwned" })).toBe("token:admin:o'brien; touch pwned:admin");
    expect(await mint({ role: 'user', sub: 'member-1' })).toBe('token:user:member-1:user');
    expect(existsSync(join(root, 'pwned'))).toBe(false);
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toHaveLength(2);
    // Without the sub it runs once per role.
    const perRole = tokenCommand(`echo called >> ${calls}-role; echo "t-$SCENARIO_ROLE"`);
    await Promise.all([perRole({ role: 'user', sub: 'a' }), perRole({ role: 'user', sub: 'b' }), perRole({ role: 'admin', sub: 'c' })]);
    expect(readFileSync(`${calls}-role`, 'utf8').trim().split('\n')).toHaveLength(2);
    await expect(tokenCommand('echo no >&2; exit 3')({ role: 'admin', sub: 'x' })).rejects.toThrow(/--token-command failed for role admin/);
    await expect(tokenCommand('true')({ role: 'user', sub: 'x' })).rejects.toThrow('--token-command printed no token for role user');
  });

  it("runs on a stage only the inside steps an AWS API answers: one client's record, not counts, cache keys, faults or the clock", () => {
    expect(runsOnStage({ expectConnection: { client: 'a', state: 'gone' } })).toBe(true);
    expect(runsOnStage({ expectConnection: { count: 2 } })).toBe(false);
    expect(runsOnStage({ expectConnection: { client: 'a', count: 1 } })).toBe(false);
    expect(runsOnStage({ expect: [{ message: { client: 'a', match: {} } }, { connection: { client: 'a' } }] })).toBe(true);
    expect(runsOnStage({ expect: [{ message: { client: 'a', match: {} } }, { cacheInvalidated: { keys: ['k'] } }] })).toBe(false);
    expect(runsOnStage({ fault: { coldStart: { function: 'graphql' } } })).toBe(false);
    expect(runsOnStage({ advanceClock: '1h' })).toBe(false);
  });
});
