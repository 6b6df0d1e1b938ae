/**
 * What a package was built from, written beside it by `npm run package` (package-inputs.json): the stage and
 * region it resolved, and a hash of each file that decides its template and bundles but is not in them
 * (serverless.yml, package-lock.json). The emulator compares them with the working tree before it runs the package,
 * so a package older than the configuration it would be emulated with is refused, not run. Source files are
 * checked against the bundles' source maps instead (sources.ts).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const PACKAGE_INPUTS_FILE = 'package-inputs.json';
/** Files of the service root whose change makes a package stale (absent ones are recorded as absent). */
const INPUT_FILES = ['serverless.yml', 'package-lock.json'];

export interface PackageInputs {
  stage: string;
  region: string;
  /** ISO time the packaging started. */
  packagedAt: string;
  /** sha256 of each input file, by path relative to the service root; null when the file did not exist. */
  files: Record<string, string | null>;
}

/** A package that cannot be run: missing, stale, or for another stage. The message says what to run. */
export class PackageUnusableError extends Error {
  override name = 'PackageUnusableError';
}

const sha256 = (file: string): string | null => (existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : null);

export function currentInputs(root: string, stage: string, region: string, packagedAt = new Date()): PackageInputs {
  return {
    stage,
    region,
    packagedAt: packagedAt.toISOString(),
    files: Object.fromEntries(INPUT_FILES.map((file) => [file, sha256(join(root, file))])),
  };
}

/** The command that rebuilds the package, as the error messages suggest it. */
export const repackageCommand = (stage: string, label: string): string =>
  `npm run package -- --stage ${stage}${label === '.serverless' ? '' : ` --out ${label}`}`;

export function readPackageInputs(packageDir: string, label: string): PackageInputs {
  if (!existsSync(packageDir))
    throw new PackageUnusableError(`No package in ${label} (the folder does not exist): run npm run package first`);
  const file = join(packageDir, PACKAGE_INPUTS_FILE);
  if (!existsSync(file))
    throw new PackageUnusableError(
      `${label} holds no ${PACKAGE_INPUTS_FILE}: it was not made by npm run package (or packaging failed half-way). Run npm run package`,
    );
  const inputs = JSON.parse(readFileSync(file, 'utf8')) as PackageInputs;
  if (typeof inputs.stage !== 'string' || typeof inputs.region !== 'string' || typeof inputs.files !== 'object')
    throw new PackageUnusableError(`${file} is malformed: run npm run package`);
  return inputs;
}

/** The input files that differ from the working tree's (names relative to the service root). */
export function changedInputs(root: string, inputs: PackageInputs): string[] {
  return Object.entries(inputs.files)
    .filter(([file, hash]) => sha256(join(root, file)) !== hash)
    .map(([file]) => file);
}
