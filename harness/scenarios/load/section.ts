/**
 * The hook between the scenario runner and a load run: picks the scale and the connection mode (CLI options, then
 * LOAD_SCALE / LOAD_CONNECTIONS, then the file), runs the section and turns its thresholds into the scenario's
 * outcome — a breach fails the scenario, hence the exit code.
 */
import type { Scenario } from '../format.js';
import type { StepResult } from '../runner.js';
import type { StepContext } from '../steps/index.js';
import type { ScenarioTarget } from '../target.js';
import type { ConnectionMode } from './connections.js';
import { scaleLoad, type LoadSpec } from './format.js';
import { runLoad, type LoadProgress, type LoadReport } from './run.js';

export interface LoadRunOptions {
  /** Fraction of the full size (1 = as written); default LOAD_SCALE, else 1. */
  scale?: number;
  /** Default LOAD_CONNECTIONS, else the file's `mode`, else simulated. */
  mode?: ConnectionMode;
  onProgress?: (scenario: string, progress: LoadProgress) => void;
}

/** A scale given as text (flag or environment): a number above 0 and at most 1 (fractions of the full size). */
export function parseScale(text: string, source: string): number {
  const scale = Number(text);
  if (!Number.isFinite(scale) || scale <= 0 || scale > 1)
    throw new Error(`${source} must be a number above 0 and at most 1 (e.g. 0.01 for 1 %), got "${text}"`);
  return scale;
}

export function parseMode(text: string, source: string): ConnectionMode {
  if (text !== 'simulated' && text !== 'ws') throw new Error(`${source} must be simulated or ws, got "${text}"`);
  return text;
}

export async function runLoadSection(
  scenario: Scenario,
  spec: LoadSpec,
  target: ScenarioTarget,
  ctx: StepContext,
  options: LoadRunOptions,
): Promise<{ steps: StepResult[]; report?: LoadReport; failure?: string }> {
  const base = { index: scenario.steps.length, line: scenario.loadLine ?? 1, label: 'load', action: 'load' };
  const t0 = Date.now();
  try {
    const scale = options.scale ?? (process.env.LOAD_SCALE ? parseScale(process.env.LOAD_SCALE, 'LOAD_SCALE') : 1);
    const mode = options.mode ?? (process.env.LOAD_CONNECTIONS ? parseMode(process.env.LOAD_CONNECTIONS, 'LOAD_CONNECTIONS') : spec.mode);
    const report = await runLoad(scaleLoad(spec, scale), {
      target,
      captures: ctx.captures,
      tokenOf: (name) => ctx.tokenOf(name),
      scale,
      mode,
      ...(options.onProgress ? { onProgress: (p: LoadProgress) => options.onProgress!(scenario.name, p) } : {}),
    });
    const breaches = report.thresholds.filter((t) => !t.ok && !t.unobservable);
    const unobservable = report.thresholds.filter((t) => t.unobservable);
    const failure = breaches.length
      ? `load at ${scenario.file}:${base.line}: ${breaches.length} threshold(s) breached\n${breaches
          .map((t) => `  ${t.metric} ${t.source}: measured ${t.value === undefined ? 'nothing' : t.value}`)
          .join('\n')}`
      : undefined;
    // Thresholds this target cannot observe are not passed silently: they make the scenario skipped, as steps do.
    const skipped: StepResult[] = unobservable.length
      ? [
          {
            ...base,
            index: base.index + 1,
            label: 'load thresholds',
            status: 'skipped',
            durationMs: 0,
            reason: `not observable on ${target.name}: ${unobservable.map((t) => t.metric).join(', ')}`,
          },
        ]
      : [];
    return {
      steps: [{ ...base, status: failure ? 'failed' : 'passed', durationMs: Date.now() - t0 }, ...skipped],
      report,
      ...(failure ? { failure } : {}),
    };
  } catch (error) {
    return {
      steps: [{ ...base, status: 'failed', durationMs: Date.now() - t0, reason: (error as Error).message }],
      failure: `load at ${scenario.file}:${base.line}: ${(error as Error).message}`,
    };
  }
}
