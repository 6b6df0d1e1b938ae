/**
 * Runs scenarios: steps in order, each step's expectations concurrently, failures explained with the step, a diff
 * against the nearest frame, every frame the client received in the window and the events leading to it.
 */
import { describeStreamEvent } from '../eventSourceEvents.js';
import { isDeepStrictEqual } from 'node:util';
import { build as buildHistogram } from 'hdr-histogram-js';
import type { LoggedEvent } from '../eventLog.js';
import { ExpectationFailure, ScenarioClient, type Frame } from './client.js';
import { actionOf, toMs, type CacheExpectation, type ClosedExpectation, type ConnectionExpectation, type EventExpectation, type Expectation, type MessageExpectation, type NoMessageExpectation, type Scenario, type Step } from './format.js';
import { capture, interpolate } from './interpolate.js';
import { matches, mismatches } from './matchers.js';
import { renderMismatch } from './diff.js';
import type { ScenarioTarget, TargetFactory } from './target.js';
import { loadScenario } from './loader.js';

export interface StepResult {
  index: number;
  line: number;
  label: string;
  action: string;
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  reason?: string;
}

export interface ScenarioResult {
  file: string;
  name: string;
  target: string;
  status: 'passed' | 'failed';
  durationMs: number;
  steps: StepResult[];
  /** The readable explanation of the failure (step, diff, frames, events). */
  failure?: string;
  sloBreaches: string[];
  /** For each message an expectation matched: ms from the start of the last graphql/send step to its arrival. */
  messageLatenciesMs: number[];
  events: LoggedEvent[];
}

// A bound, not a latency goal (waits end when the frame arrives): notifications travel write → stream → batching
// window → notifier (a cold start on a loaded machine) → client.
const DEFAULT_WITHIN_MS = 10_000;
const INSIDE_ACTIONS = new Set(['fault', 'advanceClock', 'expectCacheInvalidated', 'expectConnection']);
// Skipping these changes what the rest of the scenario would see, so the rest is skipped too.
const STATE_CHANGING = new Set(['fault', 'advanceClock']);

class StepFailure extends Error {
  override name = 'StepFailure';
}

const needsInsides = (step: Step): boolean =>
  INSIDE_ACTIONS.has(actionOf(step)) || (step.expect ?? []).some((e) => 'cacheInvalidated' in e || 'connection' in e || 'event' in e);

function stepLabel(step: Step, index: number): string {
  return `step ${index + 1} (${actionOf(step)}${step.name ? ` "${step.name}"` : ''})`;
}

async function poll<T>(withinMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T | undefined> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined || Date.now() >= deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface Progress {
  scenario: string;
  step: string;
  done: number;
  total: number;
}

export async function runScenario(
  scenario: Scenario,
  target: ScenarioTarget,
  options: { defaultWithinMs?: number; onProgress?: (progress: Progress) => void } = {},
): Promise<ScenarioResult> {
  const started = Date.now();
  const defaultWithin = options.defaultWithinMs ?? DEFAULT_WITHIN_MS;
  const captures: Record<string, unknown> = { ...(scenario.vars ?? {}) };
  const groups = new Map<string, ScenarioClient[]>();
  const results: StepResult[] = [];
  const messageLatenciesMs: number[] = [];
  // What a notification's latency is measured from: the start of the step that caused it.
  let lastActionAt = started;
  const consumedInvalidations = new Set<number>();
  let failure: string | undefined;
  let skipRestBecause: string | undefined;

  for (const [name, spec] of Object.entries(scenario.clients)) {
    const count = spec.count ?? 1;
    const members: ScenarioClient[] = [];
    for (let i = 0; i < count; i++) {
      const memberName = spec.count ? `${name}[${i}]` : name;
      const claims = spec.claims && { ...spec.claims, sub: spec.count ? `${spec.claims.sub}-${i}` : spec.claims.sub };
      members.push(new ScenarioClient(memberName, spec.token ?? (claims ? await target.mintToken(claims) : undefined)));
    }
    groups.set(name, members);
  }
  const clientsOf = (name: string): ScenarioClient[] => groups.get(name)!;
  const tokenOf = (name: string | undefined): string | undefined => (name ? clientsOf(name)[0].token : undefined);
  const insides = () => target.insides!;
  const connectionIdOf = (client: ScenarioClient): string => {
    if (!client.connectionId) throw new StepFailure(`${client.name} has no connection id (not connected?)`);
    return client.connectionId;
  };

  async function expectMessage(e: MessageExpectation): Promise<void> {
    await Promise.all(
      clientsOf(e.client).map(async (client) => {
        const frame = await client.waitFor(e.match, toMs(e.within, defaultWithin));
        messageLatenciesMs.push(Math.max(0, frame.receivedAt - lastActionAt));
        for (const [name, path] of Object.entries(e.capture ?? {})) {
          const value = capture(path, frame.json);
          if (value === undefined) throw new StepFailure(`capture ${name}: ${path} matched nothing in ${frame.text.slice(0, 300)}`);
          captures[name] = value;
        }
      }),
    );
  }

  async function expectNoMessage(e: NoMessageExpectation): Promise<void> {
    await Promise.all(clientsOf(e.client).map((client) => client.expectNone(e.match ?? { $any: true }, toMs(e.during, 0))));
  }

  async function expectEvent(e: EventExpectation): Promise<void> {
    const count = e.count ?? 1;
    const found = () => insides().events().filter((event) => matches(e.match, event));
    const ok = await poll(toMs(e.within, defaultWithin), () => (found().length >= count ? true : undefined));
    if (!ok) throw new StepFailure(`${found().length} event(s) match ${JSON.stringify(e.match)}; expected at least ${count}`);
  }

  async function expectCacheInvalidated(e: CacheExpectation): Promise<void> {
    const wanted = [...new Set(e.keys)].sort();
    const mode = e.mode ?? 'exact';
    const hit = await poll(toMs(e.within, defaultWithin), () => {
      const all = insides().cacheInvalidations();
      const index = all.findIndex((keys, i) => {
        if (consumedInvalidations.has(i)) return false;
        const got = [...new Set(keys)].sort();
        return mode === 'exact' ? isDeepStrictEqual(got, wanted) : wanted.every((k) => got.includes(k));
      });
      return index >= 0 ? index : undefined;
    });
    if (hit === undefined) {
      const seen = insides().cacheInvalidations().map((keys) => `    [${keys.join(', ')}]`).join('\n') || '    (none)';
      throw new StepFailure(`no cache invalidation with ${mode === 'exact' ? 'exactly' : 'at least'} the keys [${wanted.join(', ')}]\n  invalidations seen:\n${seen}`);
    }
    consumedInvalidations.add(hit);
  }

  async function expectConnection(e: ConnectionExpectation): Promise<void> {
    const within = toMs(e.within, defaultWithin);
    if (e.client) {
      const wantPresent = (e.state ?? 'present') === 'present';
      for (const client of clientsOf(e.client)) {
        const id = connectionIdOf(client);
        const ok = await poll(within, async () => ((await insides().connectionRecordExists(id)) === wantPresent ? true : undefined));
        if (!ok) throw new StepFailure(`the connection record of ${client.name} (${id}) is ${wantPresent ? 'absent' : 'still present'} after ${within} ms; expected ${wantPresent ? 'present' : 'gone'}`);
      }
    }
    if (e.count !== undefined) {
      let last = -1;
      const ok = await poll(within, async () => ((last = await insides().connectionRecordCount()) === e.count ? true : undefined));
      if (!ok) throw new StepFailure(`expected ${e.count} connection records, found ${last}`);
    }
  }

  async function expectClosed(e: ClosedExpectation): Promise<void> {
    await Promise.all(
      clientsOf(e.client).map(async (client) => {
        const info = await client.closed(toMs(e.within, defaultWithin));
        if (e.code !== undefined && info.code !== e.code) throw new StepFailure(`${client.name} was closed with ${info.code} "${info.reason}", expected ${e.code}`);
        // Later steps see the state after API Gateway's $disconnect, as they would on AWS once it has run.
        if (client.connectionId) await target.insides?.settle(client.connectionId);
      }),
    );
  }

  async function runExpectation(e: Expectation): Promise<void> {
    if ('message' in e) return expectMessage(e.message);
    if ('noMessage' in e) return expectNoMessage(e.noMessage);
    if ('cacheInvalidated' in e) return expectCacheInvalidated(e.cacheInvalidated);
    if ('event' in e) return expectEvent(e.event);
    if ('connection' in e) return expectConnection(e.connection);
    return expectClosed(e.closed);
  }

  async function graphql(step: NonNullable<Step['graphql']>): Promise<void> {
    const token = tokenOf(step.as);
    const response = await fetch(target.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query: step.query, variables: step.variables ?? {} }),
    });
    const text = await response.text();
    let body: { data?: unknown; errors?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new StepFailure(`the GraphQL endpoint answered ${response.status} with a non-JSON body: ${text.slice(0, 300)}`);
    }
    const expect = step.expect ?? {};
    const problems: string[] = [];
    if (response.status !== (expect.status ?? 200)) problems.push(`HTTP status ${response.status}, expected ${expect.status ?? 200}`);
    if (expect.errors === undefined && body.errors) problems.push(`unexpected errors: ${JSON.stringify(body.errors)}`);
    for (const part of ['data', 'errors'] as const) {
      if (expect[part] === undefined) continue;
      if (mismatches(expect[part], body[part]).length) problems.push(renderMismatch(`response.${part}`, expect[part], body[part]));
    }
    if (problems.length) throw new StepFailure(problems.join('\n'));
    for (const [name, path] of Object.entries(step.capture ?? {})) {
      const value = capture(path, body);
      if (value === undefined) throw new StepFailure(`capture ${name}: ${path} matched nothing in ${JSON.stringify(body).slice(0, 300)}`);
      captures[name] = value;
    }
  }

  async function runStep(step: Step): Promise<void> {
    switch (actionOf(step)) {
      case 'connect': {
        const spec = typeof step.connect === 'string' ? { client: step.connect } : step.connect!;
        const members = clientsOf(spec.client);
        let connected = 0;
        // Large groups report progress, so a load scenario setting up thousands of sockets is visibly moving.
        const progress = members.length >= 100 ? options.onProgress : undefined;
        await Promise.all(
          members.map(async (client) => {
            const outcome = await client.connect(target.wsUrl);
            if (spec.expectStatus !== undefined) {
              if (outcome.ok) throw new StepFailure(`${client.name}: the handshake succeeded, expected it refused with ${spec.expectStatus}`);
              if (outcome.status !== spec.expectStatus) throw new StepFailure(`${client.name}: the handshake was refused with ${outcome.status}, expected ${spec.expectStatus}`);
              return;
            }
            if (!outcome.ok) throw new StepFailure(`${client.name}: the handshake was refused with ${outcome.status}`);
            client.connectionId = target.insides?.connectionIdOf(client.userAgent);
            progress?.({ scenario: scenario.name, step: `connect ${spec.client}`, done: ++connected, total: members.length });
          }),
        );
        return;
      }
      case 'send': {
        const s = step.send!;
        const text = s.text !== undefined ? s.text.repeat(s.repeat ?? 1) : JSON.stringify(s.json);
        for (const client of clientsOf(s.client)) client.send(text);
        return;
      }
      case 'subscribe': {
        const { client: name, ...fields } = step.subscribe!;
        const protocol = target.subscribe;
        if (!protocol) throw new StepFailure('subscribe needs custom.emulator.scenarios.subscribe in serverless.yml');
        const message = { ...protocol.send, ...(protocol.dataField ? { [protocol.dataField]: fields } : fields) };
        await Promise.all(
          clientsOf(name).map(async (client) => {
            client.send(JSON.stringify(message));
            await client.waitFor(protocol.ack, defaultWithin);
          }),
        );
        return;
      }
      case 'graphql':
        return graphql(step.graphql!);
      case 'expectMessage':
        return expectMessage(step.expectMessage!);
      case 'expectNoMessage':
        return expectNoMessage(step.expectNoMessage!);
      case 'expectCacheInvalidated':
        return expectCacheInvalidated(step.expectCacheInvalidated!);
      case 'expectConnection':
        return expectConnection(step.expectConnection!);
      case 'expectClosed':
        return expectClosed(step.expectClosed!);
      case 'expect': {
        // Concurrently: a no-message window overlaps the positive waits instead of adding to them.
        const settled = await Promise.allSettled(step.expect!.map(runExpectation));
        const errors = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as Error] : []));
        if (errors.length === 1) throw errors[0];
        if (errors.length) throw new StepFailure(errors.map((e, i) => `(${i + 1}) ${describeFailure(e)}`).join('\n'));
        return;
      }
      case 'fault': {
        const fault = step.fault!;
        const faults = insides().faults;
        if ('postToConnection' in fault) {
          for (const c of clientsOf(fault.postToConnection.client)) faults.postToConnection(connectionIdOf(c), fault.postToConnection.status, fault.postToConnection.count ?? 1);
        } else if ('socketDies' in fault) {
          for (const c of clientsOf(fault.socketDies.client)) faults.socketDies(connectionIdOf(c), fault.socketDies.disconnectFails ?? false);
        } else if ('dynamodbThrottle' in fault) faults.dynamodbThrottle(fault.dynamodbThrottle.count, fault.dynamodbThrottle.operation);
        else if ('lambdaTimeout' in fault) faults.lambdaTimeout(fault.lambdaTimeout.function, fault.lambdaTimeout.count ?? 1, fault.lambdaTimeout.afterCalls);
        else if ('streamRecordFails' in fault) {
          const pattern = fault.streamRecordFails.match;
          faults.streamRecordFails((record) => matches(pattern, record), fault.streamRecordFails.description ?? `a record matching ${JSON.stringify(pattern)}`);
        }
        else faults.coldStart(fault.coldStart.function);
        return;
      }
      case 'advanceClock':
        return insides().advanceClock(toMs(step.advanceClock, 0));
      case 'disconnect': {
        const spec = typeof step.disconnect === 'string' ? { client: step.disconnect } : step.disconnect!;
        await Promise.all(
          clientsOf(spec.client).map(async (c) => {
            await c.disconnect({ ...(spec.code ? { code: spec.code } : {}), ...(spec.abrupt ? { abrupt: true } : {}) });
            if (c.connectionId) await target.insides?.settle(c.connectionId);
          }),
        );
        return;
      }
      case 'sleep':
        await new Promise((resolve) => setTimeout(resolve, toMs(step.sleep, 0)));
        return;
    }
  }

  for (const [index, rawStep] of scenario.steps.entries()) {
    const label = stepLabel(rawStep, index);
    const base = { index, line: scenario.stepLines[index], label, action: actionOf(rawStep) };
    if (failure) {
      results.push({ ...base, status: 'skipped', durationMs: 0, reason: 'an earlier step failed' });
      continue;
    }
    if (skipRestBecause) {
      results.push({ ...base, status: 'skipped', durationMs: 0, reason: skipRestBecause });
      continue;
    }
    if (!target.insides && needsInsides(rawStep)) {
      const reason = `needs the emulator's insides (faults, clock, cache keys, connections table), not available on ${target.name}`;
      results.push({ ...base, status: 'skipped', durationMs: 0, reason });
      if (STATE_CHANGING.has(actionOf(rawStep))) skipRestBecause = `depends on skipped ${label}`;
      continue;
    }
    const t0 = Date.now();
    try {
      const step = interpolate(rawStep, captures);
      if (step.graphql || step.send) lastActionAt = t0;
      await runStep(step);
      results.push({ ...base, status: 'passed', durationMs: Date.now() - t0 });
    } catch (error) {
      results.push({ ...base, status: 'failed', durationMs: Date.now() - t0 });
      failure = `${label} at ${scenario.file}:${base.line}\n${indent(describeFailure(error as Error))}`;
      const tail = target.insides?.events().slice(-15) ?? [];
      if (tail.length) failure += `\n  last events:\n${tail.map((e) => `    ${formatEvent(e)}`).join('\n')}`;
    }
  }

  await Promise.all([...groups.values()].flat().map((c) => c.disconnect().catch(() => undefined)));
  const durationMs = Date.now() - started;
  const sloBreaches = checkSlo(scenario, durationMs, messageLatenciesMs);
  const events = [...(target.insides?.events() ?? [])];
  return {
    file: scenario.file,
    name: scenario.name,
    target: target.name,
    status: failure || sloBreaches.length ? 'failed' : 'passed',
    durationMs,
    steps: results,
    ...(failure || sloBreaches.length ? { failure: [failure, ...sloBreaches.map((b) => `SLO breached: ${b}`)].filter(Boolean).join('\n') } : {}),
    sloBreaches,
    messageLatenciesMs,
    events,
  };
}

function checkSlo(scenario: Scenario, durationMs: number, latencies: number[]): string[] {
  const breaches: string[] = [];
  const slo = scenario.slo;
  if (!slo) return breaches;
  if (slo.maxDurationMs !== undefined && durationMs > slo.maxDurationMs) breaches.push(`took ${durationMs} ms, more than maxDurationMs ${slo.maxDurationMs}`);
  if (slo.p95MessageLatencyMs !== undefined && latencies.length) {
    const histogram = buildHistogram();
    for (const l of latencies) histogram.recordValue(Math.max(0, Math.round(l)));
    const p95 = histogram.getValueAtPercentile(95);
    if (p95 > slo.p95MessageLatencyMs) breaches.push(`p95 message latency ${p95} ms, more than p95MessageLatencyMs ${slo.p95MessageLatencyMs}`);
  }
  return breaches;
}

const indent = (text: string): string => text.split('\n').map((l) => `  ${l}`).join('\n');

function describeFailure(error: Error): string {
  if (error instanceof ExpectationFailure) {
    const { pattern, nearest, received } = error.detail;
    const parts = [error.message];
    if (pattern !== undefined) {
      parts.push(nearest !== undefined ? renderMismatch('nearest frame', pattern, nearest) : `  expected a frame matching ${JSON.stringify(pattern)}; none came`);
    }
    if (received?.length) parts.push(`  frames received in the window:\n${received.map((f: Frame) => `    +${f.at}ms ${f.consumed ? '(consumed) ' : ''}${f.text.slice(0, 300)}`).join('\n')}`);
    else if (pattern !== undefined) parts.push('  frames received in the window: none');
    return parts.join('\n');
  }
  return error.message;
}

export function formatEvent(e: LoggedEvent): string {
  switch (e.kind) {
    case 'invoke':
      return `λ ${e.functionName} ${e.trigger} → ${e.outcome}${e.coldStart ? ' (cold)' : ''}${e.error ? ` ${e.error}` : ''}`;
    case 'management':
      return `@connections ${e.method} ${e.connectionId} → ${e.statusCode}${e.errorType ? ` ${e.errorType}` : ''}`;
    case 'dynamodb':
      return `DynamoDB ${e.operation} ${e.table ?? ''} → ${e.statusCode}`;
    case 'delivered':
      return `delivered to ${e.connectionId}: ${e.data.slice(0, 160)}`;
    case 'connection':
      return `connection ${e.connectionId} ${e.state}${e.statusCode !== undefined ? ` ${e.statusCode}` : ''}${e.reason ? ` ${e.reason}` : ''}`;
    case 'cacheInvalidated':
      return `cache invalidated [${e.keys.join(', ')}]`;
    case 'http':
      return `HTTP ${e.method} ${e.path} → ${e.statusCode}`;
    case 'fault':
      return `fault: ${e.description}`;
    case 'log':
      return `log ${e.functionName} ${e.level} ${e.message}`;
    case 'streamRecord':
    case 'batch':
    case 'sqs':
      return describeStreamEvent(e);
  }
}

export interface RunOptions {
  targets: TargetFactory;
  concurrency: number;
  /** How long an expectation without `within` waits (default 10 s). */
  defaultWithinMs?: number;
  onProgress?: (progress: Progress) => void;
  onResult?: (result: ScenarioResult) => void;
}

/**
 * Loads every file first (a malformed file stops everything before anything runs), then runs the scenarios, up to
 * `concurrency` at a time, each on a target of its own.
 */
export async function runScenarios(files: string[], options: RunOptions): Promise<{ passed: number; failed: number; results: ScenarioResult[] }> {
  const scenarios = files.map((file) => loadScenario(file));
  const results: ScenarioResult[] = [];
  let next = 0;
  async function worker(): Promise<void> {
    while (next < scenarios.length) {
      const scenario = scenarios[next++];
      const target = await options.targets.acquire();
      try {
        const result = await runScenario(scenario, target, {
          ...(options.defaultWithinMs ? { defaultWithinMs: options.defaultWithinMs } : {}),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        });
        results.push(result);
        options.onResult?.(result);
      } finally {
        await target.release();
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, scenarios.length)) }, worker));
  results.sort((a, b) => files.indexOf(a.file) - files.indexOf(b.file));
  return { passed: results.filter((r) => r.status === 'passed').length, failed: results.filter((r) => r.status === 'failed').length, results };
}
