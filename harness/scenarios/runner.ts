/**
 * Runs scenarios: steps in order (each kind's behaviour lives in `steps/`), failures explained with the step, a
 * diff against the nearest frame, every frame the client received in the window and the events leading to it.
 */
import { build as buildHistogram } from 'hdr-histogram-js';
import type { LoggedEvent } from '../eventLog.js';
import { ScenarioClient } from './client.js';
import { actionOf, type Scenario, type Step, toMs } from './format.js';
import { interpolate } from './interpolate.js';
import type { ScenarioTarget, TargetFactory } from './target.js';
import { loadScenario } from './loader.js';
import { describeFailure, formatEvent, indent } from './failures.js';
import { type AbsenceWindow, stepKinds, StepFailure, type Progress, type StepContext, type StepKind } from './steps/index.js';
import { runLoadSection, type LoadRunOptions } from './load/section.js';
import type { LoadReport } from './load/run.js';
import { longestFirst } from './durations.js';

export { formatEvent } from './failures.js';

export interface StepResult {
  index: number;
  line: number;
  label: string;
  action: string;
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  /** The seq of the last emulator event before the step started: reports place step notes among the events. */
  afterEventSeq?: number;
  reason?: string;
}

export interface ScenarioResult {
  file: string;
  name: string;
  target: string;
  status: 'passed' | 'failed' | 'skipped';
  /** Why a scenario is 'skipped': it could not run every step on this target. */
  skipReason?: string;
  durationMs: number;
  steps: StepResult[];
  /** The readable explanation of the failure (step, diff, frames, events). */
  failure?: string;
  sloBreaches: string[];
  /** The scenario's `slo` block, for reports that show each limit next to what was measured. */
  slo?: Scenario['slo'];
  /** For each message an expectation matched: ms from the start of the last graphql/send step to its arrival. */
  messageLatenciesMs: number[];
  events: LoggedEvent[];
  /** Which scenario client (a group's name for its members) each connection id belonged to, for diagrams' lanes. */
  connections: Record<string, string>;
  /** A load run's figures and thresholds (scenarios with a `load:` section). */
  load?: LoadReport;
  /** Every absence window the scenario watched, for diagrams that draw them. */
  absenceWindows?: AbsenceWindow[];
}

/**
 * How long a positive expectation waits when its step says nothing. Generous on purpose: a pass costs only the time
 * the frame takes, while a tight bound fails on a busy machine (a cold start alone can take seconds on two loaded
 * cores). Absence windows (`noMessage`'s `during`) are the ones that cost time, and they are always explicit.
 */
const DEFAULT_WITHIN_MS = 10_000;

export type { Progress } from './steps/index.js';

/** e.g. `step 3 (graphql "create", via create-partner step 1 (scenarios/fragments/create-partner.yaml:20))`. */
const stepLabel = (step: Step, index: number, via: string | undefined): string =>
  `step ${index + 1} (${actionOf(step)}${step.name ? ` "${step.name}"` : ''}${via ? `, via ${via}` : ''})`;

/** Runs a step within its `timeout`: past it the step fails and its signal aborts what can stop (a request). */
async function withinTimeout(run: (signal: AbortSignal | undefined) => Promise<void>, timeout: number | string | undefined): Promise<void> {
  if (timeout === undefined) return run(undefined);
  const ms = toMs(timeout, 0);
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new StepFailure(`did not finish within its timeout of ${ms} ms`));
    }, ms);
  });
  try {
    await Promise.race([run(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}

export async function runScenario(
  scenario: Scenario,
  target: ScenarioTarget,
  options: { defaultWithinMs?: number; onProgress?: (progress: Progress) => void; load?: LoadRunOptions } = {},
): Promise<ScenarioResult> {
  const started = Date.now();
  const groups = new Map<string, ScenarioClient[]>();
  const results: StepResult[] = [];
  let failure: string | undefined;
  let skipRestBecause: string | undefined;

  for (const [name, spec] of Object.entries(scenario.clients)) {
    const count = spec.count ?? 1;
    const members: ScenarioClient[] = [];
    for (let i = 0; i < count; i++) {
      const memberName = spec.count ? `${name}[${i}]` : name;
      const claims = spec.claims && { ...spec.claims, sub: spec.count ? `${spec.claims.sub}-${i}` : spec.claims.sub };
      members.push(
        new ScenarioClient(memberName, spec.token ?? (claims ? await target.mintToken(claims) : undefined), target.tokenQueryParameter),
      );
    }
    groups.set(name, members);
  }
  const ctx: StepContext = {
    scenario,
    target,
    defaultWithinMs: options.defaultWithinMs ?? DEFAULT_WITHIN_MS,
    captures: { ...(scenario.vars ?? {}) },
    messageLatenciesMs: [],
    lastActionAt: started,
    consumedInvalidations: new Set(),
    onProgress: options.onProgress,
    signal: undefined,
    stepIndex: 0,
    absenceWindows: [],
    clientsOf: (name) => groups.get(name)!,
    tokenOf: (name) => (name ? groups.get(name)![0].token : undefined),
    insides: () => target.insides!,
    connectionIdOf(client) {
      if (!client.connectionId) throw new StepFailure(`${client.name} has no connection id (not connected?)`);
      return client.connectionId;
    },
  };

  const connections: Record<string, string> = {};
  /** Connection ids change on reconnect: every id a client had after any step is kept. */
  const noteConnections = (): void => {
    for (const [name, members] of groups) for (const m of members) if (m.connectionId) connections[m.connectionId] = name;
  };

  if (scenario.latency) await target.insides?.setLatency(scenario.latency);
  for (const [index, rawStep] of scenario.steps.entries()) {
    const label = stepLabel(rawStep, index, scenario.stepOrigins?.[index]?.via);
    const base = { index, line: scenario.stepLines[index], label, action: actionOf(rawStep) };
    if (failure) {
      results.push({ ...base, status: 'skipped', durationMs: 0, reason: 'an earlier step failed' });
      continue;
    }
    if (skipRestBecause) {
      results.push({ ...base, status: 'skipped', durationMs: 0, reason: skipRestBecause });
      continue;
    }
    const kind: StepKind = stepKinds[actionOf(rawStep)] as StepKind;
    if (kind.needsInsides(rawStep) && !(target.insides && (target.insides.supports?.(rawStep) ?? true))) {
      const reason = `needs the emulator's insides (faults, clock, cache keys, connections table), not available on ${target.name}`;
      results.push({ ...base, status: 'skipped', durationMs: 0, reason });
      if (kind.changesState) skipRestBecause = `depends on skipped ${label}`;
      continue;
    }
    const t0 = Date.now();
    // The event log's times follow the emulator's clock (advanceClock moves it), so steps are placed by sequence.
    const afterEventSeq = target.insides?.events().at(-1)?.seq ?? 0;
    try {
      const step = interpolate(rawStep, ctx.captures);
      if (step.graphql || step.send) ctx.lastActionAt = t0;
      ctx.stepIndex = index;
      await withinTimeout((signal) => {
        ctx.signal = signal;
        return kind.run(step[kind.action] as never, ctx);
      }, step.timeout);
      results.push({ ...base, status: 'passed', durationMs: Date.now() - t0, afterEventSeq });
    } catch (error) {
      results.push({ ...base, status: 'failed', durationMs: Date.now() - t0, afterEventSeq });
      failure = `${label} at ${scenario.file}:${base.line}\n${indent(describeFailure(error as Error))}`;
      const tail = target.insides?.events().slice(-15) ?? [];
      if (tail.length) failure += `\n  last events:\n${tail.map((e) => `    ${formatEvent(e)}`).join('\n')}`;
    }
    noteConnections();
  }

  let load: LoadReport | undefined;
  if (scenario.load && !failure && !skipRestBecause) {
    const outcome = await runLoadSection(scenario, scenario.load, target, ctx, options.load ?? {});
    results.push(...outcome.steps);
    load = outcome.report;
    if (outcome.failure) failure = outcome.failure;
  }

  await Promise.all([...groups.values()].flat().map((c) => c.disconnect().catch(() => undefined)));
  const durationMs = Date.now() - started;
  const graphqlMs = results.filter((r) => r.action === 'graphql' && r.status === 'passed').map((r) => r.durationMs);
  const sloBreaches = checkSlo(scenario, durationMs, ctx.messageLatenciesMs, graphqlMs);
  const events = [...(target.insides?.events() ?? [])];
  const skipped = results.filter((r) => r.status === 'skipped');
  return {
    file: scenario.file,
    name: scenario.name,
    target: target.name,
    // A scenario that did not run every step did not pass: it is reported as skipped, never as passed.
    status: failure || sloBreaches.length ? 'failed' : skipped.length ? 'skipped' : 'passed',
    ...(skipped.length && !failure ? { skipReason: `${skipped.length} step(s) skipped: ${skipped[0].label}: ${skipped[0].reason}` } : {}),
    durationMs,
    steps: results,
    ...(failure || sloBreaches.length
      ? { failure: [failure, ...sloBreaches.map((b) => `SLO breached: ${b}`)].filter(Boolean).join('\n') }
      : {}),
    sloBreaches,
    ...(scenario.slo ? { slo: scenario.slo } : {}),
    messageLatenciesMs: ctx.messageLatenciesMs,
    events,
    connections,
    ...(load ? { load } : {}),
    absenceWindows: ctx.absenceWindows,
  };
}

function checkSlo(scenario: Scenario, durationMs: number, latencies: number[], graphqlMs: number[]): string[] {
  const breaches: string[] = [];
  const slo = scenario.slo;
  if (!slo) return breaches;
  const slowest = Math.max(...graphqlMs);
  if (slo.maxGraphqlMs !== undefined && graphqlMs.length && slowest > slo.maxGraphqlMs)
    breaches.push(`the slowest graphql step took ${slowest} ms, more than maxGraphqlMs ${slo.maxGraphqlMs}`);
  if (slo.maxDurationMs !== undefined && durationMs > slo.maxDurationMs)
    breaches.push(`took ${durationMs} ms, more than maxDurationMs ${slo.maxDurationMs}`);
  if (slo.p95MessageLatencyMs !== undefined && latencies.length) {
    const histogram = buildHistogram();
    for (const l of latencies) histogram.recordValue(Math.max(0, Math.round(l)));
    const p95 = histogram.getValueAtPercentile(95);
    if (p95 > slo.p95MessageLatencyMs)
      breaches.push(`p95 message latency ${p95} ms, more than p95MessageLatencyMs ${slo.p95MessageLatencyMs}`);
  }
  return breaches;
}

export interface RunOptions {
  targets: TargetFactory;
  concurrency: number;
  /** How long an expectation without `within` waits (default 10 s). */
  defaultWithinMs?: number;
  onProgress?: (progress: Progress) => void;
  onResult?: (result: ScenarioResult) => void;
  /** Keep only the scenarios this accepts (--tag, --grep); the files are all loaded and validated first anyway. */
  select?: (scenario: Scenario) => boolean;
  /** Start no scenario after the first failure (those already running finish); the rest are reported as not run. */
  bail?: boolean;
  /** Load sections: scale, connection mode, progress. */
  load?: LoadRunOptions;
  /**
   * How long a scenario took last time (durations.ts): scenarios that run side by side (concurrency above 1) then
   * start longest first, so that no long one starts last and finishes alone. Without it, file order.
   */
  expectedMs?: (scenario: Scenario) => number | undefined;
}

export interface RunSummary {
  passed: number;
  failed: number;
  skipped: number;
  results: ScenarioResult[];
  /** Scenarios selected but never started, because of --bail. */
  notRun: Array<{ file: string; name: string }>;
}

/**
 * Loads every file first (a malformed file stops everything before anything runs), keeps the selected scenarios,
 * then runs them, up to `concurrency` at a time (longest first when `expectedMs` knows), each on a target of its own. Measuring scenarios (a `load:` section
 * or an `slo:` block) run after the others, one at a time: their rates and percentiles are what they report and
 * assert, and other scenarios sharing the cores would move them.
 */
export async function runScenarios(files: string[], options: RunOptions): Promise<RunSummary> {
  const scenarios = files.map((file) => loadScenario(file)).filter(options.select ?? (() => true));
  const results: ScenarioResult[] = [];
  const started = new Set<Scenario>();
  let bailed = false;
  async function runAll(queue: Scenario[], width: number): Promise<void> {
    let next = 0;
    async function worker(): Promise<void> {
      while (next < queue.length && !bailed) {
        const scenario = queue[next++];
        started.add(scenario);
        const target = await options.targets.acquire();
        try {
          const result = await runScenario(scenario, target, {
            ...(options.defaultWithinMs ? { defaultWithinMs: options.defaultWithinMs } : {}),
            ...(options.onProgress ? { onProgress: options.onProgress } : {}),
            ...(options.load ? { load: options.load } : {}),
          });
          results.push(result);
          if (options.bail && result.status === 'failed') bailed = true;
          options.onResult?.(result);
        } finally {
          await target.release();
        }
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, Math.min(width, queue.length)) }, worker));
  }
  const measures = (s: Scenario): boolean => Boolean(s.load || s.slo);
  const sideBySide = scenarios.filter((s) => !measures(s));
  // One at a time, order changes no wall time: file order then, as a user debugging with --concurrency 1 expects.
  const reorder = options.expectedMs && options.concurrency > 1;
  await runAll(reorder ? longestFirst(sideBySide, options.expectedMs!) : sideBySide, options.concurrency);
  await runAll(scenarios.filter(measures), 1);
  results.sort((a, b) => files.indexOf(a.file) - files.indexOf(b.file));
  const count = (status: ScenarioResult['status']): number => results.filter((r) => r.status === status).length;
  const notRun = scenarios.filter((s) => !started.has(s)).map(({ file, name }) => ({ file, name }));
  return { passed: count('passed'), failed: count('failed'), skipped: count('skipped'), results, notRun };
}
