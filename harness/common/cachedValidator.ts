/**
 * JSON Schemas compiled once per schema text, not once per run: Ajv's own standalone code (the validator as a
 * module, the same function `compile` builds) kept on disk in node_modules/.cache and loaded by later runs.
 * Compiling the scenario, fragment and written-step schemas took about a second of the scenario CLI's main thread
 * before any scenario could start (three times that on a busy machine); loading their code takes a tenth of it. For
 * `npm run emulate`, serverless.yml's `custom.emulator` schema: Ajv itself (its loading and one compile, ~70 ms of
 * start-up) is loaded only when a schema is not cached yet. The key is the schema, the options and Ajv's version, so
 * an edited schema or another Ajv compiles afresh; anything wrong with the cache (unwritable, corrupt) falls back to
 * compiling in memory.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Options, ValidateFunction } from 'ajv';
import { writeCacheFile } from './cacheFile.js';

const require = createRequire(import.meta.url);
const ajvPackage = require.resolve('ajv/package.json');
const ajvVersion = (require(ajvPackage) as { version: string }).version;

/**
 * Where the generated modules go: beside the node_modules holding Ajv, whose runtime helpers they require
 * (`ajv/dist/runtime/…`, resolved from the module's folder up).
 */
export const defaultCacheDir = join(dirname(dirname(ajvPackage)), '.cache', 'schema-validators');

export function cachedValidator(schema: object, options: Options, cacheDir = defaultCacheDir): ValidateFunction {
  const key = createHash('sha256')
    .update(JSON.stringify([ajvVersion, options, schema]))
    .digest('hex')
    .slice(0, 20);
  const file = join(cacheDir, `${key}.cjs`);
  try {
    const loaded = require(file) as ValidateFunction | { default: ValidateFunction };
    const validate = typeof loaded === 'function' ? loaded : loaded.default;
    if (typeof validate === 'function') return validate;
  } catch {
    // Not cached yet, or unreadable: compiled below.
  }
  // Loaded here, not at import: a run whose validators are all cached never loads Ajv's compiler.
  const { Ajv } = require('ajv') as typeof import('ajv');
  const standaloneCode = (require('ajv/dist/standalone/index.js') as typeof import('ajv/dist/standalone/index.js')).default;
  // A fresh instance per schema: the format's schemas carry $ids, which one instance accepts only once.
  const ajv = new Ajv({ ...options, code: { ...options.code, source: true } });
  const validate = ajv.compile(schema);
  // Unwritable (read-only node_modules): every run compiles, as before.
  writeCacheFile(file, standaloneCode(ajv, validate));
  return validate;
}
