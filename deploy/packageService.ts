/**
 * Packages serverless.yml for deployment, offline: osls (the open-source Serverless Framework v3 line, a
 * devDependency) runs `package`, serverless-esbuild bundles each function, and the result is one zip per function
 * plus the CloudFormation template in the output folder. Nothing here may reach AWS: the SDK's endpoint is a
 * loopback stand-in (offlineAws.ts) that answers `${ssm:…}` from the emulator's parameter files and refuses anything
 * else, so a command that tried to reach AWS fails loudly instead of quietly using someone's account.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { startOfflineAws } from './offlineAws.js';
import { currentInputs, PACKAGE_INPUTS_FILE } from '../harness/lambda/package/inputs.js';

export interface PackagedFunction {
  /** The key under `functions:`. */
  name: string;
  handler: string;
  zip: string;
  zipBytes: number;
}

export interface PackageResult {
  outDir: string;
  /** The template `serverless deploy` submits (cloudformation-template-update-stack.json). */
  templateFile: string;
  functions: PackagedFunction[];
  /** `${ssm:…}` parameters resolved offline from the emulator's parameter files (found) or left to their default. */
  ssmParameters: Array<{ name: string; found: boolean }>;
  /** osls's own output, for a failure message or a verbose run. */
  log: string;
}

export class PackageError extends Error {
  override name = 'PackageError';
}

/** The environment osls runs in: dummy credentials, no profile, no instance metadata, every AWS endpoint `awsEndpoint`. */
export function offlineEnvironment(awsEndpoint: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const name of [
    'AWS_PROFILE',
    'AWS_SESSION_TOKEN',
    'AWS_ROLE_ARN',
    'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI',
    'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  ])
    delete env[name];
  return {
    ...env,
    AWS_ACCESS_KEY_ID: 'offline-packaging',
    AWS_SECRET_ACCESS_KEY: 'offline-packaging',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ENDPOINT_URL: awsEndpoint,
  };
}

function oslsBin(root: string): string {
  const require = createRequire(join(root, 'package.json'));
  return join(dirname(require.resolve('osls/package.json')), 'bin', 'serverless.js');
}

interface ServerlessState {
  service: {
    provider: { stage: string; region: string };
    functions: Record<string, { handler: string; package?: { artifact?: string } }>;
  };
}

/**
 * Runs `osls package` for `stage` into `outDir` (emptied first, so a failed run never leaves an older package that
 * looks fresh) and checks that the template and every function's zip are there.
 */
export async function packageService(options: { root: string; stage: string; outDir: string; region?: string }): Promise<PackageResult> {
  const outDir = resolve(options.root, options.outDir);
  rmSync(outDir, { recursive: true, force: true });
  // Taken before osls reads them: an edit during packaging then makes the package stale, not silently newer.
  const inputs = currentInputs(options.root, options.stage, options.region ?? '');
  // serverless-esbuild's work folder, this run's own (serverless.yml reads ESBUILD_WORK_FOLDER).
  const workFolder = `.esbuild-${process.pid}-${randomBytes(4).toString('hex')}`;
  const args = [
    oslsBin(options.root),
    'package',
    '--stage',
    options.stage,
    '--package',
    outDir,
    ...(options.region ? ['--region', options.region] : []),
  ];
  const aws = await startOfflineAws(options.root);
  let log: string;
  try {
    log = await new Promise<string>((done, fail) => {
      // process.execPath: the Node that runs this (22 under npm scripts), the nodejs22.x runtime's version.
      const env = { ...offlineEnvironment(aws.endpoint), ESBUILD_WORK_FOLDER: workFolder };
      const child = spawn(process.execPath, args, { cwd: options.root, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('error', fail);
      child.on('close', (code, signal) => {
        if (code === 0) done(output);
        else fail(new PackageError(`osls package failed (${signal ?? `exit code ${code}`}):\n${output.trim()}`));
      });
    });
  } finally {
    await aws.close();
    rmSync(join(options.root, workFolder), { recursive: true, force: true });
  }
  // osls may tolerate a failed call (and fall back to a default): packaging offline must not have made one at all.
  if (aws.refused.length)
    throw new PackageError(`osls package called AWS, which offline packaging does not allow: ${aws.refused.join(', ')}\n${log.trim()}`);

  const templateFile = join(outDir, 'cloudformation-template-update-stack.json');
  const stateFile = join(outDir, 'serverless-state.json');
  for (const file of [templateFile, stateFile]) {
    if (!existsSync(file)) throw new PackageError(`osls package exited 0 but wrote no ${basename(file)} in ${outDir}:\n${log.trim()}`);
  }
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as ServerlessState;
  const functions = Object.entries(state.service.functions).map(([name, fn]): PackagedFunction => {
    // The state records the artefact under .serverless/ even with --package; the zip itself is in outDir.
    const artifact = fn.package?.artifact;
    if (!artifact) throw new PackageError(`function ${name} has no packaged artefact (is package.individually set?)`);
    const zip = join(outDir, basename(artifact));
    if (!existsSync(zip)) throw new PackageError(`function ${name}: ${zip} is missing`);
    return { name, handler: fn.handler, zip, zipBytes: statSync(zip).size };
  });
  // What it was built from, last: a package without this file is one whose packaging did not finish, and
  // `emulate --package` refuses it (harness/lambda/package/).
  writeFileSync(
    join(outDir, PACKAGE_INPUTS_FILE),
    `${JSON.stringify({ ...inputs, stage: state.service.provider.stage, region: state.service.provider.region }, null, 2)}\n`,
  );
  return { outDir, templateFile, functions, ssmParameters: aws.ssm, log };
}
