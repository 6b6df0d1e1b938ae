/**
 * What you deploy is what you tested: `emulate --package` and `scenarios --package` run the handlers from the
 * artefacts `npm run package` wrote (the zips the CloudFormation template names), not from src/. Packages once,
 * then runs the seed scenario against the package; the proof that the zips' code ran is a line added to each
 * packaged bundle (and only there), printed once per container that loaded it. A missing, stale or other-stage
 * package is refused with the command that rebuilds it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { unzipSync, zipSync } from 'fflate';
import { packageService, type PackageResult } from '../deploy/packageService.js';
import { startEmulator } from '../harness/emulator.js';
import { runScenarios } from '../harness/scenarios/runner.js';
import { inProcessTargets } from '../harness/scenarios/target.js';
import { PACKAGE_INPUTS_FILE, type PackageInputs } from '../harness/lambda/package/inputs.js';
import { HTTP_API_OUTPUT, WEBSOCKET_OUTPUT } from '../harness/scenarios/stage/outputs.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const STAGE = 'test';
const MARKER = `packaged-bundle-${randomUUID()}`;
let work: string;
let result: PackageResult;

/** Rewrites a zip with `edit` applied to its files (the zip stays a valid Lambda artefact). */
function editZip(zip: string, edit: (files: Record<string, Uint8Array>) => void): void {
  const files = unzipSync(readFileSync(zip));
  edit(files);
  writeFileSync(zip, zipSync(files));
}

/** A copy of the package to spoil, so the tests that refuse packages never touch the one the scenario runs. */
function copyOfPackage(): string {
  const dir = mkdtempSync(join(work, 'copy-'));
  cpSync(result.outDir, dir, { recursive: true });
  return dir;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'perkup-emulate-package-'));
  result = await packageService({ root, stage: STAGE, outDir: join(work, 'package') });
  // The marker exists in the zips only: src/ has no such line, so seeing it proves the packaged bytes ran.
  for (const fn of result.functions) {
    editZip(fn.zip, (files) => {
      const handlerFile = `${fn.handler.slice(0, fn.handler.lastIndexOf('.'))}.mjs`;
      const code = Buffer.from(files[handlerFile]).toString('utf8');
      files[handlerFile] = Buffer.from(
        `${code}\nconsole.log(JSON.stringify({ level: 'INFO', message: '${MARKER}', functionName: '${fn.name}' }));\n`,
      );
    });
  }
}, 300_000); // packaging takes seconds alone, minutes beside other suites on two cores

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('emulate --package: the emulator runs the packaged artefacts', () => {
  it('runs the seed scenario against the package, every container loading its bundle from the zips, none from src/', async () => {
    const targets = inProcessTargets({ projectRoot: root, size: 1, package: result.outDir });
    let summary: Awaited<ReturnType<typeof runScenarios>>;
    try {
      summary = await runScenarios([join(root, 'scenarios/functional/seed-checklist.yaml')], { targets, concurrency: 1 });
    } finally {
      await targets.close();
    }
    const [scenario] = summary.results;
    expect(scenario.status, scenario.failure).toBe('passed');

    const markers = scenario.events.filter((e) => e.kind === 'log' && e.message === MARKER);
    const coldStarts = scenario.events.filter((e) => e.kind === 'invokeStart' && e.coldStart);
    // The seed's path: the WebSocket API, the GraphQL API and the stream-fed notifier all ran…
    expect(new Set(coldStarts.map((e) => (e.kind === 'invokeStart' ? e.functionName : '')))).toEqual(
      new Set(['websocket', 'graphql', 'notifier']),
    );
    // …and each container that started loaded the packaged bundle (one marker line per cold start, per function).
    const count = (events: typeof markers, name: string): number =>
      events.filter((e) => (e.kind === 'log' ? e.data?.functionName === name || e.functionName === name : false)).length;
    for (const name of ['websocket', 'graphql', 'notifier']) {
      expect(count(markers, name), `${name}: marker lines vs cold starts`).toBe(
        coldStarts.filter((e) => e.kind === 'invokeStart' && e.functionName === name).length,
      );
    }
  }, 240_000);

  it('says which artefacts run and where each handler resolved (the unpacked zip, not src/)', async () => {
    const emulator = await startEmulator({ projectRoot: root, package: result.outDir });
    try {
      expect(emulator.app.stage).toBe(STAGE); // the package's stage, none given
      expect(emulator.packaged?.artefacts.map((a) => [a.name, a.zip, a.handler])).toEqual(
        result.functions.map((f) => [f.name, f.zip, f.handler]),
      );
      for (const a of emulator.packaged!.artefacts) {
        expect(a.handlerFile.startsWith(root), `${a.name} resolved ${a.handlerFile}`).toBe(false);
        expect(a.handlerFile).toMatch(new RegExp(`/${a.name}/src/handlers/${a.name}\\.mjs$`));
      }
    } finally {
      await emulator.close();
    }
  }, 60_000);

  it('the template declares the outputs scenarios --stage reads: the HTTP API URL and the WebSocket URL with its stage', () => {
    const template = JSON.parse(readFileSync(result.templateFile, 'utf8')) as { Outputs: Record<string, { Value: unknown }> };
    // Fn::Join of strings and Refs, the Refs written <LogicalId>.
    const join = (key: string): string => {
      expect(template.Outputs[key], `output ${key}`).toBeDefined();
      const [separator, parts] = (template.Outputs[key].Value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
      return parts.map((p) => (typeof p === 'string' ? p : `<${(p as { Ref: string }).Ref}>`)).join(separator);
    };
    expect(join(HTTP_API_OUTPUT)).toBe('https://<HttpApi>.execute-api.<AWS::Region>.<AWS::URLSuffix>');
    expect(join(WEBSOCKET_OUTPUT)).toBe('wss://<WebsocketsApi>.execute-api.<AWS::Region>.<AWS::URLSuffix>/test');
  });

  it('refuses a missing folder, a folder npm run package did not finish, and a package for another stage', async () => {
    await expect(startEmulator({ projectRoot: root, package: join(work, 'none') })).rejects.toThrow(
      /No package in .*none \(the folder does not exist\): run npm run package first/,
    );
    const unfinished = copyOfPackage();
    rmSync(join(unfinished, PACKAGE_INPUTS_FILE));
    await expect(startEmulator({ projectRoot: root, package: unfinished })).rejects.toThrow(
      /holds no package-inputs\.json: it was not made by npm run package .*Run npm run package/,
    );
    await expect(startEmulator({ projectRoot: root, package: result.outDir, stage: 'dev' })).rejects.toThrow(
      'was packaged for stage test in eu-west-3, not stage dev in eu-west-3: run with --stage test, or npm run package -- --stage dev',
    );
  });

  it('refuses a package older than serverless.yml, or than a source file its bundles were built from', async () => {
    // serverless.yml as it was when the package was built differs from today's: as if it was edited since.
    const oldConfig = copyOfPackage();
    const inputs = JSON.parse(readFileSync(join(oldConfig, PACKAGE_INPUTS_FILE), 'utf8')) as PackageInputs;
    writeFileSync(
      join(oldConfig, PACKAGE_INPUTS_FILE),
      JSON.stringify({ ...inputs, files: { ...inputs.files, 'serverless.yml': '0'.repeat(64) } }),
    );
    await expect(startEmulator({ projectRoot: root, package: oldConfig })).rejects.toThrow(
      /is stale: serverless\.yml changed since it was packaged\. Run npm run package -- --stage test --out /,
    );

    // A bundle built from another content of src/auth/tokens.ts than the working tree's.
    const oldSource = copyOfPackage();
    editZip(join(oldSource, 'websocket.zip'), (files) => {
      const mapFile = 'src/handlers/websocket.mjs.map';
      const map = JSON.parse(Buffer.from(files[mapFile]).toString('utf8')) as { sources: string[]; sourcesContent: string[] };
      const i = map.sources.findIndex((s) => s.endsWith('/src/auth/tokens.ts'));
      expect(i, 'the websocket bundle is built from src/auth/tokens.ts').toBeGreaterThanOrEqual(0);
      map.sourcesContent[i] += '\n// an older version\n';
      files[mapFile] = Buffer.from(JSON.stringify(map));
    });
    await expect(startEmulator({ projectRoot: root, package: oldSource })).rejects.toThrow(
      /is stale: src\/auth\/tokens\.ts changed since it was packaged\. Run npm run package -- --stage test --out /,
    );
  });

  it('npm run emulate -- --package prints the artefacts in its banner; a missing package exits 2 saying to run npm run package', () => {
    const run = (script: string, args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    const ok = run('harness/cli/emulate.ts', ['--package', result.outDir, '--check', '--memory', '--http-port', '0', '--ws-port', '0']);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/perkup emulator ready in \d+ ms \(stage test, DynamoDB in memory\)/);
    expect(ok.stdout).toMatch(/Code\s+the package in .*package \(stage test, packaged \d{4}-\d\d-\d\dT[\d:.]+Z\), not the source:/);
    for (const fn of result.functions) expect(ok.stdout).toMatch(new RegExp(`λ ${fn.name}\\s+\\S*${fn.name}\\.zip\\s+${fn.handler}`));

    const missing = run('harness/cli/emulate.ts', ['--package', join(work, 'none'), '--check']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/No package in .*none \(the folder does not exist\): run npm run package first/);
    const scenarios = run('harness/scenarios/cli.ts', ['scenarios/functional/seed-checklist.yaml', '--package', join(work, 'none')]);
    expect(scenarios.status).toBe(2);
    expect(scenarios.stderr).toMatch(/No package in .*none \(the folder does not exist\): run npm run package first/);
  }, 240_000);
});
