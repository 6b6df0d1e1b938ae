/**
 * serverless.yml parsed once per text, not once per run: the parsed document is kept as JSON in node_modules/.cache
 * and read back by later runs. Loading the yaml package and parsing a 36 KB serverless.yml took ~80 ms of
 * `npm run emulate`'s main thread before the first container could start its init; reading the JSON takes about
 * one. The key is the text and the yaml package's version; anything wrong with the cache (unwritable, corrupt)
 * falls back to parsing.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { writeCacheFile } from '../common/cacheFile.js';
import type { Json } from './variables.js';

const require = createRequire(import.meta.url);
const yamlPackage = require.resolve('yaml/package.json');
const yamlVersion = (require(yamlPackage) as { version: string }).version;

/** Beside the node_modules holding the yaml package, as the other caches (see harness/common/precompile.mjs). */
export const defaultCacheDir = join(dirname(dirname(yamlPackage)), '.cache', 'parsed-yaml');

export function parseYamlCached(text: string, cacheDir = defaultCacheDir): Record<string, Json> {
  const key = createHash('sha256').update(yamlVersion).update('\0').update(text).digest('hex').slice(0, 24);
  const file = join(cacheDir, `${key}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, Json>;
  } catch {
    // Not cached yet, or unreadable: parsed below.
  }
  // Loaded here, not at import: a run whose file is cached never loads the parser.
  const { parse } = require('yaml') as typeof import('yaml');
  // A syntax error throws from here, before anything is cached.
  const doc = parse(text) as Record<string, Json>;
  // Unwritable (read-only node_modules): every run parses, as before.
  writeCacheFile(file, JSON.stringify(doc));
  return doc;
}
