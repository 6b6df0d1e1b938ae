/**
 * What the loader resolves before anything runs, so the runner only ever sees plain steps:
 * - `${{ env.X }}` (or `${{ env.X ?? 'default' }}`) from the environment; unset without a default is an error;
 * - `use: { fragment, with }`: a fragment file's steps with its `${{ params.x }}` replaced;
 * - `repeat: { times, steps }`: the steps `times` times, `${{ repeat.index }}` counting from 1.
 * Every step keeps where it came from (file, line, fragment, repetition) for messages and reports.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { type Action, ACTIONS, type Step, type StepOrigin } from '../format.js';
import { fragmentSchema, scenarioSchema } from '../schema.js';
import { type DataPath, type Problem, YamlSource } from './source.js';
import { didYouMean, schemaProblems } from './validate.js';

const ENV = /\$\{\{\s*env\.([A-Za-z_]\w*)\s*(?:\?\?\s*(?:'([^']*)'|"([^"]*)"|([^\s}]+)))?\s*\}\}/g;
const WHOLE_PARAM = /^\$\{\{\s*params\.([\w-]+)\s*\}\}$/;
const PARAM = /\$\{\{\s*params\.([\w-]+)\s*\}\}/g;
const REPEAT_INDEX = /\$\{\{\s*repeat\.index\s*\}\}/g;

/** The keys that make a step what it is: runnable actions, then the loader's own. */
export const STEP_KEYS = [...ACTIONS, 'use', 'repeat'] as const;
export const stepKeysOf = (step: object): string[] => STEP_KEYS.filter((k) => k in step);

type Json = unknown;

/** Maps every string of `value`, rebuilding objects and arrays; `drop` removes an object key or array item. */
const DROP = Symbol('drop');
function mapStrings(value: Json, path: DataPath, f: (s: string, path: DataPath) => Json | typeof DROP): Json | typeof DROP {
  if (typeof value === 'string') return f(value, path);
  if (Array.isArray(value)) return value.map((v, i) => mapStrings(v, [...path, i], f)).filter((v) => v !== DROP);
  if (value && typeof value === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) {
      const mapped = mapStrings(v, [...path, k], f);
      if (mapped !== DROP) out[k] = mapped;
    }
    return out;
  }
  return value;
}

/** Replaces `${{ env.X }}` everywhere in a file's data; an unset variable without a default is a problem. */
export function resolveEnv(data: Json, source: YamlSource, env: Record<string, string | undefined>, problems: Problem[]): Json {
  return mapStrings(data, [], (s, path) =>
    s.replace(ENV, (_m, name: string, single?: string, double?: string, bare?: string) => {
      const fallback = single ?? double ?? bare;
      const value = env[name] ?? fallback;
      if (value === undefined) {
        problems.push(source.problem(path, `\${{ env.${name} }}: ${name} is not set (give a default with \${{ env.${name} ?? 'value' }})`));
        return '';
      }
      return value;
    }),
  );
}

export interface ExpandedStep {
  step: Step;
  origin: StepOrigin;
  /** Where the step is written (the scenario file or a fragment) and its path there, for cross-checks' positions. */
  source: YamlSource;
  path: DataPath;
  /** ` (in fragment x, used at file:line)` for steps a fragment made, else ''. */
  context: string;
}

interface Fragment {
  name: string;
  source: YamlSource;
  params: Record<string, { default?: Json; optional?: boolean; description?: string }>;
  steps: Json[];
  valid: boolean;
}

/** Steps at this JSON pointer are validated as written steps (`use`/`repeat` included). */
const writtenStep = { $schema: scenarioSchema.$schema, definitions: scenarioSchema.definitions, $ref: '#/definitions/step' };

export class Expander {
  private readonly fragments = new Map<string, Fragment>();

  constructor(
    private readonly env: Record<string, string | undefined>,
    private readonly problems: Problem[],
  ) {}

  /** The fragment files the expanded steps came from (for --watch: a saved fragment reruns its users). */
  usedFiles(): string[] {
    return [...this.fragments.keys()].sort();
  }

  /**
   * The runnable steps a written step stands for. `line` is where the step (or the `use` that brought it) is in the
   * scenario file; `via` says how it got there.
   */
  expand(
    step: Json,
    source: YamlSource,
    path: DataPath,
    at: { line: number; via: string[]; context: string; depth: number; repeatIndex?: number },
  ): ExpandedStep[] {
    if (!step || typeof step !== 'object') return [];
    const s = step as Record<string, Json>;
    const origin = (): StepOrigin => ({ line: at.line, ...(at.via.length ? { via: at.via.join(', ') } : {}) });
    if (at.depth > 20) {
      this.problems.push(source.problem(path, `fragments and repeats nest more than 20 deep (a fragment using itself?)${at.context}`));
      return [];
    }
    if ('repeat' in s) {
      const { times, steps } = s.repeat as { times: number; steps: Json[] };
      const out: ExpandedStep[] = [];
      for (let n = 1; n <= times; n++) {
        for (const [j, inner] of steps.entries()) {
          const withIndex = mapStrings(inner, [], (text) => text.replace(REPEAT_INDEX, String(n)));
          const innerPath = [...path, 'repeat', 'steps', j];
          // Inside the scenario file each repeated step keeps its own line; inside a fragment, the use's line.
          const line = at.context ? at.line : source.position(innerPath).line;
          out.push(
            ...this.expand(withIndex, source, innerPath, { ...at, line, via: [...at.via, `repeat ${n} of ${times}`], depth: at.depth + 1 }),
          );
        }
      }
      return out;
    }
    if ('use' in s) return this.use(s.use as { fragment: string; with?: Record<string, Json> }, source, path, at);
    return [{ step: s as Step, origin: origin(), source, path, context: at.context }];
  }

  private use(
    use: { fragment: string; with?: Record<string, Json> },
    source: YamlSource,
    path: DataPath,
    at: { line: number; via: string[]; context: string; depth: number },
  ): ExpandedStep[] {
    const file = findFragment(use.fragment, source.file);
    if (!file) {
      this.problems.push(
        source.problem(
          [...path, 'use', 'fragment'],
          `no fragment "${use.fragment}" (looked for fragments/${use.fragment}.yaml from ${relative(process.cwd(), dirname(source.file)) || '.'} up)${at.context}`,
        ),
      );
      return [];
    }
    const fragment = this.load(file, use.fragment);
    if (!fragment.valid) return [];
    const given = use.with ?? {};
    const declared = Object.keys(fragment.params);
    let ok = true;
    for (const key of Object.keys(given)) {
      if (key in fragment.params) continue;
      ok = false;
      this.problems.push(
        source.problem(
          [...path, 'use', 'with', key],
          `fragment ${fragment.name} has no parameter "${key}"${didYouMean(key, declared)} (parameters: ${declared.join(', ') || 'none'})${at.context}`,
          true,
        ),
      );
    }
    for (const [key, param] of Object.entries(fragment.params)) {
      if (key in given || 'default' in param || param.optional) continue;
      ok = false;
      this.problems.push(source.problem([...path, 'use'], `fragment ${fragment.name} needs parameter "${key}"${at.context}`));
    }
    if (!ok) return [];
    const values: Record<string, Json> = {};
    for (const [key, param] of Object.entries(fragment.params))
      if (key in given || 'default' in param) values[key] = given[key] ?? param.default;

    const usedAt = `${relative(process.cwd(), source.file) || source.file}:${at.line}`;
    const context = ` (in fragment ${fragment.name}, used at ${usedAt})`;
    const out: ExpandedStep[] = [];
    for (const [k, raw] of fragment.steps.entries()) {
      const stepPath: DataPath = ['steps', k];
      const step = mapStrings(raw, stepPath, (text, where) => {
        const whole = WHOLE_PARAM.exec(text);
        if (whole) {
          if (!(whole[1] in fragment.params)) return this.undeclared(fragment, where, whole[1], context);
          return whole[1] in values ? values[whole[1]] : DROP;
        }
        return text.replace(PARAM, (m, name: string) => {
          if (!(name in fragment.params)) return String(this.undeclared(fragment, where, name, context) ?? m);
          const value = values[name];
          return typeof value === 'string' ? value : value === undefined ? '' : JSON.stringify(value);
        });
      });
      // The fragment's steps are typed only now that their parameters are in.
      const before = this.problems.length;
      this.problems.push(
        ...schemaProblems(writtenStep, step, fragment.source, stepPath).map((p) => ({ ...p, message: `${p.message}${context}` })),
      );
      if (this.problems.length > before) continue;
      const fragmentLine = fragment.source.position(stepPath).line;
      out.push(
        ...this.expand(step, fragment.source, stepPath, {
          line: at.line,
          via: [...at.via, `${fragment.name} step ${k + 1} (${relative(process.cwd(), fragment.source.file)}:${fragmentLine})`],
          context,
          depth: at.depth + 1,
        }),
      );
    }
    return out;
  }

  private undeclared(fragment: Fragment, path: DataPath, name: string, context: string): undefined {
    this.problems.push(
      fragment.source.problem(
        path,
        `\${{ params.${name} }}: fragment ${fragment.name} declares no parameter "${name}"${didYouMean(name, Object.keys(fragment.params))}${context}`,
      ),
    );
    return undefined;
  }

  private load(file: string, name: string): Fragment {
    const cached = this.fragments.get(file);
    if (cached) return cached;
    const { source, data, problems } = parsedFragment(file, readFileSync(file, 'utf8'), this.env);
    const before = this.problems.length;
    this.problems.push(...problems);
    const d = (data ?? {}) as { params?: Fragment['params']; steps?: Json[] };
    const fragment: Fragment = {
      name: name
        .replace(/\.ya?ml$/, '')
        .split('/')
        .pop()!,
      source,
      params: d.params ?? {},
      steps: d.steps ?? [],
      valid: this.problems.length === before,
    };
    this.fragments.set(file, fragment);
    return fragment;
  }
}

/**
 * A fragment file parsed, its env placeholders resolved and checked against the fragment schema, kept per file for
 * the process: one fragment is used by most scenario files (create-partner by 38), and each file's load parsed and
 * validated it again. Reused only for the same text, so a saved fragment (--watch) is read anew; a fragment reading
 * `${{ env.X }}` is never reused (the variable may have changed).
 */
const parsedFragments = new Map<string, { text: string; parsed: ParsedFragment }>();
interface ParsedFragment {
  source: YamlSource;
  data: Json;
  problems: Problem[];
}
function parsedFragment(file: string, text: string, env: Record<string, string | undefined>): ParsedFragment {
  const cached = parsedFragments.get(file);
  if (cached && cached.text === text) return cached.parsed;
  const source = new YamlSource(file, text);
  const problems: Problem[] = [...source.syntaxErrors];
  let data: Json = {};
  if (!source.syntaxErrors.length) {
    data = resolveEnv(source.data(), source, env, problems);
    problems.push(...schemaProblems(fragmentSchema, data, source));
  }
  const parsed = { source, data, problems };
  if (!/\$\{\{\s*env\./.test(text)) parsedFragments.set(file, { text, parsed });
  else parsedFragments.delete(file);
  return parsed;
}

/** `name` under the nearest `fragments/` folder from the using file up, or a path relative to the using file. */
export function findFragment(name: string, from: string): string | undefined {
  if (name.includes('/') || /\.ya?ml$/.test(name)) {
    const file = isAbsolute(name) ? name : resolve(dirname(from), name);
    return existsSync(file) ? file : undefined;
  }
  for (let dir = resolve(dirname(from)); ; dir = dirname(dir)) {
    const file = join(dir, 'fragments', `${name}.yaml`);
    if (existsSync(file)) return file;
    if (dirname(dir) === dir) return undefined;
  }
}

export type { Action };
