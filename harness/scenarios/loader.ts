/**
 * Loads scenario files: YAML → `${{ env.X }}` → the format's JSON Schema (schema.ts) → fragments and repeats
 * expanded → cross-checks (one action per step, known clients, expectations that could not fail, JSON Schemas that
 * compile). Every problem is reported as file:line:column with what was expected, a "did you mean" where a name is
 * close to a known one, and the offending lines, before anything runs.
 */
import { readFileSync } from 'node:fs';
import { ACTIONS, actionOf, type Scenario, type Step, type StepOrigin, toMs } from './format.js';
import { type ExpandedStep, Expander, resolveEnv, STEP_KEYS, stepKeysOf } from './loading/expand.js';
import { type DataPath, formatProblem, type Problem, YamlSource } from './loading/source.js';
import { didYouMean, schemaProblems, userSchema } from './loading/validate.js';
import { scenarioSchema, stepCommon } from './schema.js';
import { loadSectionProblems, parseLoad } from './load/format.js';

export class ScenarioFileError extends Error {
  override name = 'ScenarioFileError';
  /** `file:line:col: message`, one per problem. */
  readonly problems: string[];
  constructor(placed: Problem[]) {
    // The message carries each problem's code frame; `problems` stays one line each for tools and tests.
    super(placed.map((p) => `${formatProblem(p)}\n${p.frame}`).join('\n\n'));
    this.problems = placed.map(formatProblem);
  }
}

export interface LoadOptions {
  /** Where `${{ env.X }}` is read (default process.env). */
  env?: Record<string, string | undefined>;
}

/** Parses, validates and expands a scenario; throws ScenarioFileError listing every problem with its position. */
export function loadScenario(file: string, text = readFileSync(file, 'utf8'), options: LoadOptions = {}): Scenario {
  const source = new YamlSource(file, text);
  if (source.syntaxErrors.length) throw new ScenarioFileError(source.syntaxErrors);
  const problems: Problem[] = [];
  const data = resolveEnv(source.data(), source, options.env ?? process.env, problems) as Record<string, unknown>;

  // A step with no action or several is reported once, in words, instead of as every branch of the step union.
  const wrongSteps = new Set<string>();
  const markWrongSteps = (steps: unknown, path: DataPath): void => {
    if (!Array.isArray(steps)) return;
    steps.forEach((step, i) => {
      if (!step || typeof step !== 'object') return;
      if (stepKeysOf(step).length !== 1) wrongSteps.add(JSON.stringify([...path, i]));
      else if ('repeat' in step) markWrongSteps((step.repeat as { steps?: unknown })?.steps, [...path, i, 'repeat', 'steps']);
    });
  };
  markWrongSteps(data?.steps, ['steps']);
  const underWrongStep = (path: DataPath): boolean =>
    [...wrongSteps].some((w) => {
      const wrong = JSON.parse(w) as DataPath;
      return wrong.every((segment, i) => path[i] === segment);
    });
  const schemaFound = schemaProblems(scenarioSchema, data, source, [], underWrongStep);
  problems.push(...schemaFound);

  const steps: ExpandedStep[] = [];
  const expander = new Expander(options.env ?? process.env, problems);
  if (Array.isArray(data?.steps)) {
    const clients = (data.clients ?? {}) as Record<string, unknown>;
    const crossCheck = (written: unknown, path: DataPath): void => {
      if (!written || typeof written !== 'object') return;
      const keys = stepKeysOf(written);
      if (keys.length !== 1) {
        const unknown = Object.keys(written).filter((k) => !(STEP_KEYS as readonly string[]).includes(k) && !(k in stepCommon));
        const hint = unknown.map((k) => `; unknown key "${k}"${didYouMean(k, [...STEP_KEYS, ...Object.keys(stepCommon)])}`).join('');
        problems.push(
          source.problem(
            path,
            `a step needs exactly one action (${ACTIONS.join(', ')}; or use, repeat), found ${keys.length ? keys.join(' + ') : 'none'}${hint}`,
          ),
        );
        return;
      }
      if ('repeat' in written) {
        const inner = (written.repeat as { steps?: unknown })?.steps;
        if (Array.isArray(inner)) for (const [j, s] of inner.entries()) crossCheck(s, [...path, 'repeat', 'steps', j]);
      }
    };
    (data.steps as unknown[]).forEach((written, i) => {
      const path: DataPath = ['steps', i];
      crossCheck(written, path);
      if (underWrongStep(path)) return;
      if (hasProblemUnder(schemaFound, source, path)) {
        // A malformed use or repeat is not expanded; a plain step is still cross-checked (its clients, its windows).
        if (written && typeof written === 'object' && !('use' in written) && !('repeat' in written))
          problems.push(...stepProblems({ step: written as Step, origin: { line: 0 }, source, path, context: '' }, clients));
        return;
      }
      const expanded = expander.expand(written, source, path, { line: source.position(path).line, via: [], context: '', depth: 0 });
      for (const e of expanded) problems.push(...stepProblems(e, clients));
      steps.push(...expanded);
    });
  }
  // The load section is validated by its own module too (cross-field rules the schema cannot say, parsed values).
  if (data?.load !== undefined) {
    // The schema already placed what it could see; the module's own rules run once the shape is right.
    if (!hasProblemUnder(schemaFound, source, ['load']))
      for (const [path, message] of loadSectionProblems(data.load)) problems.push(source.problem(['load', ...path], `load: ${message}`));
    const as = (data.load as { mutations?: { as?: unknown } })?.mutations?.as;
    const declared = Object.keys((data.clients ?? {}) as object);
    if (typeof as === 'string' && !declared.includes(as))
      problems.push(
        source.problem(
          ['load', 'mutations', 'as'],
          `unknown client "${as}"${didYouMean(as, declared)} (declared: ${declared.join(', ') || 'none'})`,
        ),
      );
  }
  if (problems.length) throw new ScenarioFileError(problems);
  return {
    file,
    name: data.name as string,
    ...(data.description ? { description: data.description as string } : {}),
    ...(data.tags ? { tags: data.tags as string[] } : {}),
    ...(data.vars ? { vars: data.vars as Record<string, unknown> } : {}),
    ...(data.latency ? { latency: data.latency as Scenario['latency'] } : {}),
    ...(data.slo ? { slo: data.slo as Scenario['slo'] } : {}),
    ...(data.load ? { load: parseLoad(data.load), loadLine: source.position(['load'], true).line } : {}),
    clients: (data.clients ?? {}) as Scenario['clients'],
    steps: steps.map((e) => e.step),
    stepLines: steps.map((e) => e.origin.line),
    stepOrigins: steps.map((e): StepOrigin => e.origin),
    ...(expander.usedFiles().length ? { fragments: expander.usedFiles() } : {}),
  };
}

/** Whether a schema problem was found at or under `path` (its step is then not expanded nor cross-checked). */
function hasProblemUnder(found: Problem[], source: YamlSource, path: DataPath): boolean {
  if (!found.length) return false;
  const start = source.position(path).line;
  const node = source.doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
  const end = node?.range ? source.lines.linePos(node.range[1]).line : start;
  return found.some((p) => {
    const line = Number(p.where.split(':').at(-2));
    return line >= start && line <= end;
  });
}

/** Cross-checks of one runnable step: the clients it names, expectations that could not fail, schemas that compile. */
function stepProblems(e: ExpandedStep, clients: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const at = (rest: DataPath, message: string): void => {
    problems.push(e.source.problem([...e.path, ...rest], `${message}${e.context}`));
  };
  const declared = Object.keys(clients);
  const unknownClient = (name: string): string =>
    `unknown client "${name}"${didYouMean(name, declared)} (declared: ${declared.join(', ') || 'none'})`;
  const action = actionOf(e.step);
  const body = e.step[action];
  if ((action === 'connect' || action === 'disconnect') && typeof body === 'string' && !(body in clients) && !isPlaceholder(body))
    at([action], unknownClient(body));
  const walk = (value: unknown, path: DataPath): void => {
    if (Array.isArray(value)) for (const [j, v] of value.entries()) walk(v, [...path, j]);
    else if (value && typeof value === 'object') {
      for (const [key, v] of Object.entries(value)) {
        if ((key === 'client' || key === 'as') && typeof v === 'string' && !(v in clients) && !isPlaceholder(v))
          at([...path, key], unknownClient(v));
        else if (key === 'schema' && (path.at(-1) === 'expect' || 'match' in value)) {
          try {
            userSchema(v);
          } catch (error) {
            at([...path, key], `not a valid JSON Schema: ${(error as Error).message}`);
          }
        } else if (key !== 'match' && key !== 'variables' && key !== 'json' && key !== 'headers') walk(v, [...path, key]);
      }
    }
  };
  walk(body, [action]);
  for (const [path, message] of vacuousExpectations(e.step)) at(path, message);
  if (e.step.timeout !== undefined && (action === 'sleep' || action === 'advanceClock'))
    at(['timeout'], `a ${action} step cannot take a timeout`);
  return problems;
}

const isPlaceholder = (s: string): boolean => /^\$\{\{.*\}\}$/.test(s);

/**
 * Expectations that would pass without checking anything: an absence window of 0 watches nothing, and a connection
 * expectation without `client` or `count` asserts nothing. The schema says so for editors; this says it with a reason.
 */
function vacuousExpectations(step: Step): Array<[DataPath, string]> {
  const found: Array<[DataPath, string]> = [];
  const check = (kind: 'noMessage' | 'connection', value: unknown, path: DataPath): void => {
    if (!value || typeof value !== 'object') return;
    const e = value as Record<string, unknown>;
    if (kind === 'noMessage' && (typeof e.during === 'number' || typeof e.during === 'string')) {
      let ms: number | undefined;
      try {
        ms = toMs(e.during as number | string, 0);
      } catch {
        return; // the schema already reports a malformed duration
      }
      if (ms <= 0)
        found.push([[...path, 'during'], 'during must be more than 0: an absence window of 0 watches nothing and always passes']);
    }
    if (kind === 'connection' && e.client === undefined && e.count === undefined) {
      found.push([path, 'a connection expectation needs `client` (with `state`) or `count`: without them it asserts nothing']);
    }
  };
  check('noMessage', step.expectNoMessage, ['expectNoMessage']);
  check('connection', step.expectConnection, ['expectConnection']);
  (Array.isArray(step.expect) ? step.expect : []).forEach((e, j) => {
    if (!e || typeof e !== 'object') return;
    if ('noMessage' in e) check('noMessage', e.noMessage, ['expect', j, 'noMessage']);
    if ('connection' in e) check('connection', e.connection, ['expect', j, 'connection']);
  });
  return found;
}

export { actionOf };
