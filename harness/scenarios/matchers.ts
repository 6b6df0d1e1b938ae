/**
 * Partial JSON matching with Mongo-style operators, for expectMessage and graphql expectations.
 * Objects match when every key of the pattern matches (extra keys in the value are fine); arrays match element by
 * element and must have the same length, unless `$arrayContaining` is used. Operators:
 *   { $any: true }            anything, even absent          { $exists: false }        absent (or undefined)
 *   { $anyString: true }      any string                     { $isoTimestamp: true }   an ISO-8601 UTC timestamp
 *   { $regex: "^ab", $options: "i" }  a string matching      { $arrayContaining: [p…] } an array with an element matching each p
 *   { $anyNumber: true }      any number                     { $gt/$gte/$lt/$lte: n }  number comparisons
 *   { $eq: value }            deep equality                  { $ne: value }            deep inequality
 *   { $in: [v…] }             one of                          { $not: pattern }         does not match pattern
 *   { $length: n }            an array or string of that length
 *   { $exact: { … } }         an object with exactly these keys, each value matched (nested matchers allowed)
 */
import { isDeepStrictEqual } from 'node:util';

export interface Mismatch {
  path: string;
  expected: string;
  actual: unknown;
}

const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
export const OPERATORS = new Set([
  '$any',
  '$exists',
  '$anyString',
  '$isoTimestamp',
  '$regex',
  '$options',
  '$arrayContaining',
  '$anyNumber',
  '$gt',
  '$gte',
  '$lt',
  '$lte',
  '$eq',
  '$ne',
  '$in',
  '$not',
  '$length',
  '$exact',
]);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isOperator = (pattern: unknown): pattern is Record<string, unknown> =>
  isRecord(pattern) && Object.keys(pattern).length > 0 && Object.keys(pattern).every((k) => k.startsWith('$'));

function describe(pattern: unknown): string {
  return JSON.stringify(pattern);
}

function matchOperator(pattern: Record<string, unknown>, actual: unknown, path: string, out: Mismatch[]): void {
  const fail = (expected: string) => out.push({ path, expected, actual });
  for (const [op, arg] of Object.entries(pattern)) {
    if (!OPERATORS.has(op)) throw new Error(`Unknown matcher ${op} at ${path || '(root)'}; known: ${[...OPERATORS].join(', ')}`);
    switch (op) {
      case '$any':
        break;
      case '$exists':
        if ((actual !== undefined) !== Boolean(arg)) fail(arg ? 'to exist' : 'to be absent');
        break;
      case '$anyString':
        if (typeof actual !== 'string') fail('any string');
        break;
      case '$isoTimestamp':
        if (typeof actual !== 'string' || !ISO_TIMESTAMP.test(actual) || Number.isNaN(Date.parse(actual))) fail('an ISO-8601 timestamp');
        break;
      case '$regex': {
        const regex = new RegExp(String(arg), typeof pattern.$options === 'string' ? pattern.$options : '');
        if (typeof actual !== 'string' || !regex.test(actual)) fail(`a string matching /${String(arg)}/`);
        break;
      }
      case '$options':
        break;
      case '$arrayContaining': {
        if (!Array.isArray(actual)) {
          fail(`an array containing ${describe(arg)}`);
          break;
        }
        for (const [i, wanted] of (arg as unknown[]).entries()) {
          if (!actual.some((element) => matches(wanted, element)))
            out.push({ path: `${path}[contains ${i}]`, expected: `an element matching ${describe(wanted)}`, actual });
        }
        break;
      }
      case '$anyNumber':
        if (typeof actual !== 'number') fail('any number');
        break;
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte': {
        const n = arg as number;
        const ok =
          typeof actual === 'number' && (op === '$gt' ? actual > n : op === '$gte' ? actual >= n : op === '$lt' ? actual < n : actual <= n);
        if (!ok) fail(`a number ${op.slice(1)} ${n}`);
        break;
      }
      case '$eq':
        if (!isDeepStrictEqual(actual, arg)) fail(`exactly ${describe(arg)}`);
        break;
      case '$ne':
        if (isDeepStrictEqual(actual, arg)) fail(`anything but ${describe(arg)}`);
        break;
      case '$in':
        if (!(arg as unknown[]).some((v) => isDeepStrictEqual(v, actual))) fail(`one of ${describe(arg)}`);
        break;
      case '$not':
        if (matches(arg, actual)) fail(`not ${describe(arg)}`);
        break;
      case '$exact': {
        const wanted = arg as Record<string, unknown>;
        if (!isRecord(actual)) {
          fail(`an object with exactly the keys ${Object.keys(wanted).join(', ')}`);
          break;
        }
        const extra = Object.keys(actual).filter((k) => !(k in wanted));
        if (extra.length)
          out.push({ path, expected: `no keys besides ${Object.keys(wanted).join(', ')} (extra: ${extra.join(', ')})`, actual });
        collect(wanted, actual, path, out);
        break;
      }
      case '$length':
        if (!((typeof actual === 'string' || Array.isArray(actual)) && actual.length === arg)) fail(`length ${String(arg)}`);
        break;
    }
  }
}

function collect(pattern: unknown, actual: unknown, path: string, out: Mismatch[]): void {
  if (isOperator(pattern)) {
    matchOperator(pattern, actual, path, out);
    return;
  }
  if (Array.isArray(pattern)) {
    if (!Array.isArray(actual) || actual.length !== pattern.length) {
      out.push({ path, expected: `an array of ${pattern.length} matching ${describe(pattern)}`, actual });
      return;
    }
    for (const [i, p] of pattern.entries()) collect(p, actual[i], `${path}[${i}]`, out);
    return;
  }
  if (isRecord(pattern)) {
    if (!isRecord(actual)) {
      out.push({ path, expected: `an object like ${describe(pattern)}`, actual });
      return;
    }
    for (const [key, p] of Object.entries(pattern)) collect(p, actual[key], path ? `${path}.${key}` : key, out);
    return;
  }
  if (!isDeepStrictEqual(pattern, actual)) out.push({ path, expected: describe(pattern), actual });
}

/** Every place where `actual` does not match `pattern` (empty when it matches). */
export function mismatches(pattern: unknown, actual: unknown): Mismatch[] {
  const out: Mismatch[] = [];
  collect(pattern, actual, '', out);
  return out;
}

export const matches = (pattern: unknown, actual: unknown): boolean => mismatches(pattern, actual).length === 0;

/** How close a candidate is (fewer mismatches = nearer): picks the frame to diff against on failure. */
export const distance = (pattern: unknown, actual: unknown): number => mismatches(pattern, actual).length;

/**
 * The value the pattern "expects", for a readable diff: literal parts as they are, operators as their description.
 * A diff of this against the received frame shows the differing fields side by side.
 */
export function expectedView(pattern: unknown, actual: unknown): unknown {
  if (isOperator(pattern) && '$exact' in pattern && Object.keys(pattern).length === 1) return expectedView(pattern.$exact, actual);
  if (isOperator(pattern))
    return matches(pattern, actual)
      ? actual
      : `<${Object.entries(pattern)
          .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
          .join(', ')}>`;
  if (Array.isArray(pattern)) return pattern.map((p, i) => expectedView(p, Array.isArray(actual) ? actual[i] : undefined));
  if (isRecord(pattern)) {
    const base = isRecord(actual) ? { ...actual } : {};
    for (const [key, p] of Object.entries(pattern)) base[key] = expectedView(p, isRecord(actual) ? actual[key] : undefined);
    return base;
  }
  return pattern;
}
