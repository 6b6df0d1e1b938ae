/**
 * `${ssm:/name}` for the emulator. On AWS the Serverless Framework reads SSM Parameter Store at deploy; offline there
 * is no Parameter Store, so values come from local JSON files of `{ "/name": "value" }`, looked up in this order:
 *
 *   1. `.emulator/ssm-parameters.json` next to serverless.yml — personal values, git-ignored with the rest of `.emulator/`;
 *   2. the file `custom.emulator.ssmParameters` names (relative to serverless.yml) — development values the repository
 *      ships for the emulator and tests; never deployed.
 *
 * A missing parameter says where it looked: an error when the variable has no default, a warning when it has one.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const PERSONAL_PARAMETERS_FILE = '.emulator/ssm-parameters.json';

export class SsmParameterError extends Error {
  override name = 'SsmParameterError';
}

interface Source {
  file: string;
  values: Record<string, string> | undefined;
}

function readSource(file: string): Source {
  if (!existsSync(file)) return { file, values: undefined };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new SsmParameterError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SsmParameterError(`${file}: expected an object of parameter names to string values, e.g. {"/app/dev/secret": "…"}`);
  }
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value !== 'string') throw new SsmParameterError(`${file}: parameter ${name} must be a string, got ${JSON.stringify(value)}`);
  }
  return { file, values: parsed as Record<string, string> };
}

/**
 * The parameter sources for a project. `configured` is the raw `custom.emulator.ssmParameters` value. Files are read
 * on first use, so a serverless.yml without `${ssm:…}` never touches them.
 */
export function localSsmParameters(projectRoot: string, configured: unknown, warn: (message: string) => void = (m) => console.warn(m)) {
  if (configured !== undefined && typeof configured !== 'string') {
    throw new SsmParameterError(`custom.emulator.ssmParameters must be a file path, got ${JSON.stringify(configured)}`);
  }
  const files = [resolve(projectRoot, PERSONAL_PARAMETERS_FILE), ...(configured ? [resolve(projectRoot, configured)] : [])];
  let sources: Source[] | undefined;

  function where(): string {
    return sources!.map((s) => `${s.file} (${s.values ? 'not in it' : 'no such file'})`).join(', ');
  }

  /** The parameter's value; when absent, throws unless the variable has a default (then warns and returns undefined). */
  function get(name: string, hasDefault: boolean): string | undefined {
    sources ??= files.map(readSource);
    for (const source of sources) {
      const value = source.values?.[name];
      if (value !== undefined) return value;
    }
    const message = `SSM parameter ${name} not found offline; looked in ${where()}. Add {"${name}": "…"} to one of them`;
    if (!hasDefault) throw new SsmParameterError(message);
    warn(`${message}; using the variable's default.`);
    return undefined;
  }

  return { files, get };
}
