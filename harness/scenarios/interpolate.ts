/**
 * `${{ name }}` interpolation of captured values (Step CI style) and JSONPath captures.
 * A string that is exactly one placeholder keeps the captured value's type (a number stays a number).
 */
import { JSONPath } from 'jsonpath-plus';

const PLACEHOLDER = /\$\{\{\s*([\w.-]+)\s*\}\}/g;

export class InterpolationError extends Error {
  override name = 'InterpolationError';
}

export function interpolate<T>(value: T, captures: Record<string, unknown>): T {
  if (typeof value === 'string') {
    const whole = /^\$\{\{\s*([\w.-]+)\s*\}\}$/.exec(value);
    const lookup = (name: string): unknown => {
      if (!(name in captures))
        throw new InterpolationError(`\${{ ${name} }} is not captured yet (captured: ${Object.keys(captures).join(', ') || 'nothing'})`);
      return captures[name];
    };
    if (whole) return lookup(whole[1]) as T;
    return value.replace(PLACEHOLDER, (_m, name: string) => String(lookup(name))) as T;
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, captures)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, captures)])) as T;
  }
  return value;
}

/** Evaluates a JSONPath (e.g. `$.data.createPartner.partner.id`); undefined when nothing matches. */
export function capture(path: string, json: unknown): unknown {
  const found = JSONPath({ path, json: json as object, wrap: true }) as unknown[];
  return found.length ? found[0] : undefined;
}
