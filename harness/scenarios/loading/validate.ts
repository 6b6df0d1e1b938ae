/**
 * Validates data against the format's JSON Schema (schema.ts) and turns Ajv's errors into an author's words.
 * Steps, expectations and faults are unions of one-key objects: Ajv reports every branch, so the branches whose key
 * is absent are dropped and the chosen branch's errors are kept ("unknown key "whithin" (did you mean "within"?)").
 */
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { distance } from 'fastest-levenshtein';
import { cachedValidator } from '../../common/cachedValidator.js';
import type { DataPath, Problem, YamlSource } from './source.js';

const options: Options = { allErrors: true, strict: false, verbose: true };
const ajv = new Ajv(options);
const compiled = new Map<object, ValidateFunction>();
/** The format's own schemas (schema.ts): their compiled code is cached across runs (cachedValidator.ts). */
export const validatorFor = (schema: object): ValidateFunction => {
  let validate = compiled.get(schema);
  if (!validate) compiled.set(schema, (validate = cachedValidator(schema, options)));
  return validate;
};

/**
 * A JSON Schema from a scenario (`expect.schema`), compiled once per distinct text: steps are rebuilt by
 * interpolation on every run, and a schema's `$id` may be compiled only once.
 */
const userSchemas = new Map<string, ValidateFunction>();
export function userSchema(schema: unknown): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = userSchemas.get(key);
  if (!validate) userSchemas.set(key, (validate = ajv.compile(schema as object)));
  return validate;
}
export const schemaErrorsText = (validate: ValidateFunction): string =>
  (validate.errors ?? []).map((e) => `${e.instancePath || '(root)'} ${e.message ?? e.keyword}`).join('; ');

/** ` (did you mean "x"?)` when a known name is close enough to be the intended one, else ''. */
export function didYouMean(word: string, known: readonly string[]): string {
  if (!known.length) return '';
  const lower = word.toLowerCase();
  const scored = known.map((k) => ({ k, d: distance(lower, k.toLowerCase()), shared: sharedLetters(lower, k.toLowerCase()) }));
  // Levenshtein counts a swap of two letters as 2: among equally close names, the one sharing the most letters wins
  // ("wrod" is "word", not "who").
  const best = scored.sort((a, b) => a.d - b.d || b.shared - a.shared)[0];
  return best.d <= Math.max(2, Math.floor(word.length / 3)) ? ` (did you mean "${best.k}"?)` : '';
}

function sharedLetters(a: string, b: string): number {
  const left = [...b];
  let shared = 0;
  for (const c of a) {
    const i = left.indexOf(c);
    if (i >= 0) {
      left.splice(i, 1);
      shared++;
    }
  }
  return shared;
}

const segments = (instancePath: string): DataPath =>
  instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));

const startsWith = (path: string, prefix: string): boolean => path === prefix || path.startsWith(`${prefix}/`);

/**
 * Keeps the errors an author can act on: for each failed `anyOf`, the branches whose required key is missing where
 * the union applies were not meant and are dropped. When every branch is dropped, the union itself is reported
 * with the keys it accepts.
 */
function pruneUnions(errors: ErrorObject[]): Array<ErrorObject | { union: ErrorObject; keys: string[] }> {
  const unions = errors.filter((e) => e.keyword === 'anyOf');
  /** The union an error is a branch error of: the deepest enclosing one. */
  const ownerOf = (e: ErrorObject): { union: ErrorObject; branch: number } | undefined => {
    let best: { union: ErrorObject; branch: number } | undefined;
    for (const u of unions) {
      if (u === e || !e.schemaPath.startsWith(`${u.schemaPath}/`) || !startsWith(e.instancePath, u.instancePath)) continue;
      if (best && best.union.instancePath.length > u.instancePath.length) continue;
      if (best && best.union.instancePath.length === u.instancePath.length && best.union.schemaPath.length > u.schemaPath.length) continue;
      best = { union: u, branch: Number(e.schemaPath.slice(u.schemaPath.length + 1).split('/')[0]) };
    }
    return best;
  };
  const owners = new Map(errors.map((e) => [e, ownerOf(e)]));
  const unmeant = new Set<string>();
  const keysOf = new Map<ErrorObject, string[]>();
  for (const [e, owner] of owners) {
    if (owner && e.keyword === 'required' && e.instancePath === owner.union.instancePath) {
      unmeant.add(`${owner.union.schemaPath}|${owner.union.instancePath}|${owner.branch}`);
      keysOf.set(owner.union, [...(keysOf.get(owner.union) ?? []), (e.params as { missingProperty: string }).missingProperty]);
    }
  }
  const dropped = (e: ErrorObject): boolean => {
    const owner = owners.get(e);
    if (!owner) return false;
    return unmeant.has(`${owner.union.schemaPath}|${owner.union.instancePath}|${owner.branch}`) || dropped(owner.union);
  };
  const kept: Array<ErrorObject | { union: ErrorObject; keys: string[] }> = [];
  for (const e of errors) {
    if (dropped(e)) continue;
    if (e.keyword !== 'anyOf') {
      kept.push(e);
      continue;
    }
    // A union none of whose branches was meant: say which keys it takes.
    const branches = (e.schema as unknown[]).length;
    const keys = keysOf.get(e) ?? [];
    if (keys.length === branches) kept.push({ union: e, keys });
  }
  return kept;
}

function describe(error: ErrorObject): string {
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      const parent = error.parentSchema as { properties?: object; patternProperties?: object } | undefined;
      // A map of names (captures, headers): the name itself is malformed.
      if (parent?.patternProperties && !parent.properties)
        return `"${key}" is not a valid name here (must match ${Object.keys(parent.patternProperties).join(' or ')})`;
      const known = Object.keys(parent?.properties ?? {});
      return `unknown key "${key}"${didYouMean(key, known)}`;
    }
    case 'required':
      return `missing "${(error.params as { missingProperty: string }).missingProperty}"`;
    case 'enum':
      return `expected one of ${JSON.stringify((error.params as { allowedValues: unknown[] }).allowedValues)}`;
    case 'type':
      return `expected ${(error.params as { type: string }).type}`;
    default:
      return error.message ?? error.keyword;
  }
}

/**
 * Every problem of `data` against `schema`, placed in `source` (`base` is where `data` sits in the file), one line
 * per place: the alternatives of a union read as one "a or b".
 */
export function schemaProblems(
  schema: object,
  data: unknown,
  source: YamlSource,
  base: DataPath = [],
  skip: (path: DataPath) => boolean = () => false,
): Problem[] {
  const validate = validatorFor(schema);
  if (validate(data)) return [];
  const byPlace = new Map<string, { path: DataPath; atKey: boolean; messages: string[]; constants: unknown[] }>();
  for (const item of pruneUnions(validate.errors ?? [])) {
    const error = 'union' in item ? item.union : item;
    let path = [...base, ...segments(error.instancePath)];
    if (skip(path)) continue;
    const label = path.length ? path.join('.') : '(top level)';
    const atKey = error.keyword === 'additionalProperties';
    if (atKey) path = [...path, (error.params as { additionalProperty: string }).additionalProperty];
    const place = `${JSON.stringify(path)}|${atKey}|${label}`;
    const entry = byPlace.get(place) ?? { path, atKey, messages: [], constants: [] };
    if ('union' in item) {
      const present = Object.keys((error.data as object) ?? {});
      const unknown = present.filter((k) => !item.keys.includes(k));
      entry.messages.push(
        `expected one of the keys ${item.keys.join(', ')}${unknown.length ? `; unknown key "${unknown[0]}"${didYouMean(unknown[0], item.keys)}` : ''}`,
      );
    } else if (error.keyword === 'const') entry.constants.push((error.params as { allowedValue: unknown }).allowedValue);
    else {
      const message = describe(error);
      if (!entry.messages.includes(message)) entry.messages.push(message);
    }
    byPlace.set(place, entry);
  }
  return [...byPlace.entries()].map(([place, { path, atKey, messages, constants }]) => {
    const label = place.split('|')[2];
    const all = constants.length ? [`expected one of ${JSON.stringify(constants)}`, ...messages] : messages;
    return source.problem(path, `${label}: ${all.join(' or ')}`, atKey);
  });
}
