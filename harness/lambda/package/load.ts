/**
 * Runs a deployable package instead of the source: `emulate --package .serverless`. The generated CloudFormation
 * template says, for each AWS::Lambda::Function, which artefact holds its code (Code.S3Key's file name, a zip in
 * the package folder) and its handler ("src/handlers/graphql.handler"); each zip is unpacked into a folder of its
 * own, as Lambda unpacks it into /var/task, and the handler resolved there as Lambda's Node runtime does
 * (file.js, .mjs or .cjs). A package that is missing, for another stage or region, or older than the configuration
 * or sources it would be emulated with is refused with the command that rebuilds it.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { createRequire } from 'node:module';
import type { ServerlessApp } from '../../config/serverless.js';
import type { InvokedFunction } from '../invoker.js';
import { changedInputs, PackageUnusableError, readPackageInputs, repackageCommand, type PackageInputs } from './inputs.js';
import { changedSources } from './sources.js';

/** fflate, required when a package is unzipped (`--package`): not part of every start-up. */
const fflate = (): typeof import('fflate') => createRequire(import.meta.url)('fflate') as typeof import('fflate');

export const TEMPLATE_FILE = 'cloudformation-template-update-stack.json';

export interface PackagedArtefact {
  /** The key under `functions:`. */
  name: string;
  /** The zip, as found in the package folder. */
  zip: string;
  /** The handler as the template gives it (path.export). */
  handler: string;
  /** The file the handler resolved to, inside the unpacked zip. */
  handlerFile: string;
}

export interface PackagedCode {
  /** The package folder as the user named it (for messages and the banner). */
  label: string;
  inputs: PackageInputs;
  artefacts: PackagedArtefact[];
  /** serverless.yml's functions with their code taken from the package. */
  functions: InvokedFunction[];
  /** Removes the unpacked copies. */
  dispose(): void;
}

interface TemplateFunction {
  Type: string;
  Properties: { FunctionName?: string; Handler?: string; Code?: { S3Key?: unknown } };
}

/** The package's stage (what `emulate --package` runs as when no --stage is given). */
export function packagedStage(packageDir: string, label = packageDir): string {
  return readPackageInputs(packageDir, label).stage;
}

function unzipInto(zip: string, dir: string): void {
  for (const [name, bytes] of Object.entries(fflate().unzipSync(readFileSync(zip)))) {
    if (name.endsWith('/')) continue;
    const path = join(dir, name);
    // A zip entry may not leave its folder ("../x" or an absolute path in a crafted zip).
    if (relative(dir, path).startsWith('..')) throw new PackageUnusableError(`${zip}: entry ${name} points outside the package`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
  }
}

export function loadPackagedCode(options: { packageDir: string; label?: string; projectRoot: string; app: ServerlessApp }): PackagedCode {
  const { packageDir, projectRoot, app } = options;
  const label = options.label ?? packageDir;
  const inputs = readPackageInputs(packageDir, label);
  const again = repackageCommand(app.stage, label);
  if (inputs.stage !== app.stage || inputs.region !== app.region)
    throw new PackageUnusableError(
      `${label} was packaged for stage ${inputs.stage} in ${inputs.region}, not stage ${app.stage} in ${app.region}: run with --stage ${inputs.stage}, or ${again}`,
    );
  const changed = changedInputs(projectRoot, inputs);
  if (changed.length)
    throw new PackageUnusableError(`${label} is stale: ${changed.join(', ')} changed since it was packaged. Run ${again}`);
  const templateFile = join(packageDir, TEMPLATE_FILE);
  if (!existsSync(templateFile)) throw new PackageUnusableError(`${label} has no ${TEMPLATE_FILE}: run ${again}`);
  const template = JSON.parse(readFileSync(templateFile, 'utf8')) as { Resources: Record<string, TemplateFunction> };
  const byName = new Map(
    Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function')
      .map((r) => [String(r.Properties.FunctionName), r.Properties]),
  );
  const missing = app.functions.filter((f) => !byName.has(f.deployedName)).map((f) => f.name);
  const extra = [...byName.keys()].filter((name) => !app.functions.some((f) => f.deployedName === name));
  if (missing.length || extra.length)
    throw new PackageUnusableError(
      `${label} does not match serverless.yml (${[missing.length ? `not packaged: ${missing.join(', ')}` : '', extra.length ? `packaged but not in serverless.yml: ${extra.join(', ')}` : ''].filter(Boolean).join('; ')}): run ${again}`,
    );

  const unpacked = mkdtempSync(join(tmpdir(), `${app.service}-package-`));
  try {
    const artefacts: PackagedArtefact[] = [];
    const stale = new Set<string>();
    const functions = app.functions.map((fn): InvokedFunction => {
      const properties = byName.get(fn.deployedName)!;
      const zip = join(packageDir, basename(String(properties.Code?.S3Key ?? '')));
      if (!properties.Code?.S3Key || !existsSync(zip))
        throw new PackageUnusableError(`${label}: the artefact of ${fn.name} (${basename(zip)}) is missing: run ${again}`);
      const handler = String(properties.Handler);
      const dir = join(unpacked, fn.name);
      unzipInto(zip, dir);
      const base = handler.slice(0, handler.lastIndexOf('.'));
      const file = ['.js', '.mjs', '.cjs'].map((ext) => join(dir, base + ext)).find(existsSync);
      if (!file) throw new PackageUnusableError(`${label}: ${basename(zip)} holds no ${base}.{js,mjs,cjs} for the handler ${handler}`);
      for (const source of changedSources(projectRoot, file, base) ?? []) stale.add(source);
      artefacts.push({ name: fn.name, zip, handler, handlerFile: file });
      return {
        ...fn,
        handlerFile: file,
        handlerExport: handler.slice(handler.lastIndexOf('.') + 1),
        // Where the unpacked code lives (/var/task on AWS): LAMBDA_TASK_ROOT and _HANDLER's folder.
        taskRoot: dir,
        nativeHandler: true,
      };
    });
    if (stale.size) {
      const names = [...stale].sort();
      throw new PackageUnusableError(
        `${label} is stale: ${names.slice(0, 3).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''} changed since it was packaged. Run ${again}`,
      );
    }
    return { label, inputs, artefacts, functions, dispose: () => rmSync(unpacked, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(unpacked, { recursive: true, force: true });
    throw error;
  }
}
