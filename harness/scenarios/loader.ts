/**
 * Loads scenario files: YAML → JSON Schema validation → cross-checks (one action per step, known clients).
 * Every problem is reported as file:line:column with what was expected, before anything runs.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LineCounter, parseDocument, isMap, isNode, isScalar, type Document } from 'yaml';
import { Ajv, type ErrorObject } from 'ajv';
import { ACTIONS, actionOf, toMs, type Scenario, type Step } from './format.js';
import { loadSectionProblems, parseLoad } from './load/format.js';

const schemaFile = fileURLToPath(new URL('../../scenarios/scenario.schema.json', import.meta.url));
const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as object;
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);

export class ScenarioFileError extends Error {
  override name = 'ScenarioFileError';
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

function position(doc: Document, lines: LineCounter, path: Array<string | number>, atKey = false): { line: number; col: number } {
  if (atKey && path.length) {
    const parent = doc.getIn(path.slice(0, -1), true);
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1]);
      if (pair && isNode(pair.key) && pair.key.range) return lines.linePos(pair.key.range[0]);
    }
  }
  // The deepest node that exists on the path: a missing key is reported where its parent is.
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth), true);
    if (isNode(node) && node.range) return lines.linePos(node.range[0]);
  }
  return { line: 1, col: 1 };
}

const segments = (instancePath: string): Array<string | number> =>
  instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));

function describeError(error: ErrorObject): string {
  switch (error.keyword) {
    case 'additionalProperties':
      return `unknown key "${(error.params as { additionalProperty: string }).additionalProperty}"`;
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

/** Parses and validates a scenario; throws ScenarioFileError listing every problem with its position. */
export function loadScenario(file: string, text = readFileSync(file, 'utf8')): Scenario {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const at = (path: Array<string | number>, message: string, atKey = false): string => {
    const { line, col } = position(doc, lines, path, atKey);
    return `${file}:${line}:${col}: ${message}`;
  };
  if (doc.errors.length) {
    throw new ScenarioFileError(
      doc.errors.map((e) => `${file}:${e.linePos?.[0].line ?? 1}:${e.linePos?.[0].col ?? 1}: YAML: ${e.message.split('\n')[0]}`),
    );
  }
  const data = doc.toJS() as Record<string, unknown>;
  const problems: string[] = [];
  if (!validate(data)) {
    // Group by place: the alternatives of a oneOf (e.g. a number or "10m") read best as one "a or b".
    const byPlace = new Map<string, string[]>();
    for (const error of validate.errors ?? []) {
      if (error.keyword === 'oneOf' || error.keyword === 'anyOf' || error.keyword === 'if') continue;
      let path = segments(error.instancePath);
      // An unknown key is reported at the key itself, not at its parent map.
      if (error.keyword === 'additionalProperties') path = [...path, (error.params as { additionalProperty: string }).additionalProperty];
      const where = error.instancePath ? error.instancePath.slice(1).replace(/\//g, '.') : '(top level)';
      const place = at(path, where, error.keyword === 'additionalProperties');
      const messages = byPlace.get(place) ?? [];
      const message = describeError(error);
      if (!messages.includes(message)) messages.push(message);
      byPlace.set(place, messages);
    }
    for (const [place, messages] of byPlace) problems.push(`${place}: ${messages.join(' or ')}`);
  }
  if (Array.isArray(data?.steps)) {
    const clients = (data.clients ?? {}) as Record<string, unknown>;
    const steps = data.steps as Step[];
    steps.forEach((step, i) => {
      if (!step || typeof step !== 'object') return;
      const actions = ACTIONS.filter((a) => a in step);
      if (actions.length !== 1) {
        problems.push(
          at(
            ['steps', i],
            `a step needs exactly one action (${ACTIONS.join(', ')}), found ${actions.length ? actions.join(' + ') : 'none'}`,
          ),
        );
        return;
      }
      // Every client a step names must be declared.
      const walk = (value: unknown, path: Array<string | number>): void => {
        if (Array.isArray(value)) for (const [j, v] of value.entries()) walk(v, [...path, j]);
        else if (value && typeof value === 'object') {
          for (const [key, v] of Object.entries(value)) {
            if ((key === 'client' || key === 'as') && typeof v === 'string' && !(v in clients)) {
              problems.push(at([...path, key], `unknown client "${v}" (declared: ${Object.keys(clients).join(', ') || 'none'})`));
            } else if (key !== 'match' && key !== 'variables' && key !== 'json') walk(v, [...path, key]);
          }
        }
      };
      const action = actions[0];
      const body = step[action];
      problems.push(...vacuousExpectations(step, i).map(([path, message]) => at(path, message)));
      if ((action === 'connect' || action === 'disconnect') && typeof body === 'string' && !(body in clients)) {
        problems.push(at(['steps', i, action], `unknown client "${body}" (declared: ${Object.keys(clients).join(', ') || 'none'})`));
      }
      walk(body, ['steps', i, action]);
    });
  }
  // The load section has its own schema piece (harness/scenarios/load/format.ts).
  if (data?.load !== undefined) {
    problems.push(...loadSectionProblems(data.load).map(([path, message]) => at(['load', ...path], `load: ${message}`)));
    const as = (data.load as { mutations?: { as?: unknown } })?.mutations?.as;
    if (typeof as === 'string' && !(as in ((data.clients ?? {}) as object)))
      problems.push(
        at(['load', 'mutations', 'as'], `unknown client "${as}" (declared: ${Object.keys(data.clients ?? {}).join(', ') || 'none'})`),
      );
  }
  if (problems.length) throw new ScenarioFileError(problems);
  const steps = data.steps as Step[];
  return {
    file,
    name: data.name as string,
    ...(data.description ? { description: data.description as string } : {}),
    ...(data.tags ? { tags: data.tags as string[] } : {}),
    ...(data.vars ? { vars: data.vars as Record<string, unknown> } : {}),
    ...(data.latency ? { latency: data.latency as Scenario['latency'] } : {}),
    ...(data.slo ? { slo: data.slo as Scenario['slo'] } : {}),
    ...(data.load ? { load: parseLoad(data.load), loadLine: position(doc, lines, ['load'], true).line } : {}),
    clients: (data.clients ?? {}) as Scenario['clients'],
    steps,
    stepLines: steps.map((_, i) => position(doc, lines, ['steps', i]).line),
  };
}

export { actionOf };

/**
 * Expectations that would pass without checking anything: an absence window of 0 watches nothing, and a connection
 * expectation without `client` or `count` asserts nothing. The schema says so for editors; this says it with a reason.
 */
function vacuousExpectations(step: Step, i: number): Array<[Array<string | number>, string]> {
  const found: Array<[Array<string | number>, string]> = [];
  const check = (kind: 'noMessage' | 'connection', value: unknown, path: Array<string | number>): void => {
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
  check('noMessage', step.expectNoMessage, ['steps', i, 'expectNoMessage']);
  check('connection', step.expectConnection, ['steps', i, 'expectConnection']);
  (step.expect ?? []).forEach((e, j) => {
    if (e && typeof e === 'object' && 'noMessage' in e) check('noMessage', e.noMessage, ['steps', i, 'expect', j, 'noMessage']);
    if (e && typeof e === 'object' && 'connection' in e) check('connection', e.connection, ['steps', i, 'expect', j, 'connection']);
  });
  return found;
}
