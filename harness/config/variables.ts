/**
 * Serverless Framework variables in serverless.yml: `${self:…}`, `${sls:stage}`, `${opt:…}`, `${env:…}`, `${ssm:…}`
 * (from the local parameter files) and `${aws:…}`, innermost first, with `, 'default'` fallbacks.
 */
import { ACCOUNT_ID, serverlessDefaults } from '../common/awsDefaults.js';
import { ServerlessConfigError } from './errors.js';
import type { localSsmParameters } from './ssmParameters.js';

export type Json = unknown;

export function get(root: Json, path: string): Json {
  let value: Json = root;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, Json>)[part];
  }
  return value;
}

/** Parses a default such as `'dev'`, `"dev"` or `10`. */
function literal(text: string): string | undefined {
  const trimmed = text.trim();
  const quoted = /^'(.*)'$|^"(.*)"$/s.exec(trimmed);
  if (quoted) return quoted[1] ?? quoted[2];
  if (/^-?\d+(\.\d+)?$/.test(trimmed) || trimmed === 'true' || trimmed === 'false') return trimmed;
  return undefined;
}

export interface VariableSources {
  file: string;
  doc: Record<string, Json>;
  env: NodeJS.ProcessEnv;
  /** `--stage` / `--region` (`${opt:…}`); the resolved stage and region are written back here. */
  opt: Record<string, string | undefined>;
  ssm: ReturnType<typeof localSsmParameters>;
}

/** Resolves variables in any value of the document; `stage()` and `region()` follow the Framework's precedence. */
export function createVariableResolver(sources: VariableSources) {
  const { file, doc, env, opt, ssm } = sources;
  // Resolves one `${…}` expression's content (already free of nested `${…}`).
  function lookup(expression: string, depth: number): Json {
    const [reference, ...fallbackParts] = splitTopLevel(expression);
    const fallback = fallbackParts.length ? literal(fallbackParts.join(',')) : undefined;
    const match = /^(\w+):(.*)$/.exec(reference.trim());
    let value: Json;
    if (!match) value = undefined;
    else {
      const [, source, path] = match;
      switch (source) {
        case 'self':
          value = resolveValue(get(doc, path), depth + 1);
          break;
        case 'opt':
          value = opt[path];
          break;
        case 'env':
          value = env[path];
          break;
        case 'sls':
          value = path === 'stage' ? stage() : path === 'instanceId' ? 'emulator' : undefined;
          break;
        case 'ssm':
          value = ssm.get(path, fallback !== undefined);
          break;
        case 'aws':
          value = path === 'region' ? region() : path === 'accountId' ? ACCOUNT_ID : undefined;
          break;
        default:
          throw new ServerlessConfigError(`${file}: unsupported variable source "${source}" in \${${expression}}`);
      }
    }
    if (value === undefined || value === null || value === '') {
      if (fallback !== undefined) return fallback;
      throw new ServerlessConfigError(`${file}: cannot resolve \${${expression}} (no value and no default)`);
    }
    return value;
  }

  function resolveString(text: string, depth: number): Json {
    if (depth > 20) throw new ServerlessConfigError(`${file}: variables nest too deeply (a cycle?) near "${text}"`);
    let current = text;
    // Innermost first, so defaults may themselves be variables.
    for (;;) {
      const inner = /\$\{([^${}]*)\}/.exec(current);
      if (!inner) return current;
      const value = lookup(inner[1], depth);
      if (inner[0] === current) return value; // the whole string was one variable: keep its type
      current = current.slice(0, inner.index) + String(value) + current.slice(inner.index + inner[0].length);
    }
  }

  function resolveValue(value: Json, depth = 0): Json {
    if (typeof value === 'string') return resolveString(value, depth);
    if (Array.isArray(value)) return value.map((v) => resolveValue(v, depth));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveValue(v, depth)]));
    }
    return value;
  }

  const stage = (): string => opt.stage ?? String(resolveValue(get(doc, 'provider.stage') ?? serverlessDefaults.stage));
  const region = (): string => opt.region ?? String(resolveValue(get(doc, 'provider.region') ?? serverlessDefaults.region));
  return { resolveValue, stage, region };
}

/** Splits `a, 'b, c'` on top-level commas (not inside quotes). */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let quote: string | undefined;
  let current = '';
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '"') quote = char;
    else if (char === ',') {
      parts.push(current);
      current = '';
      continue;
    }
    current += char;
  }
  parts.push(current);
  return parts;
}
