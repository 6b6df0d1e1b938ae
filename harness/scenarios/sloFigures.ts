/** Each SLO of a scenario next to what the run measured, for reports (the runner decides breaches itself). */
import { build as buildHistogram } from 'hdr-histogram-js';
import type { ScenarioResult } from './runner.js';

export interface SloFigure {
  name: 'maxDurationMs' | 'p95MessageLatencyMs' | 'maxGraphqlMs';
  limit: number;
  /** Undefined when the run gave nothing to measure (no message matched, no graphql step passed). */
  measured: number | undefined;
}

/** The same figures the runner compares: whole duration, p95 of message latencies, slowest passed graphql step. */
export function sloFigures(result: ScenarioResult): SloFigure[] {
  const slo = result.slo;
  if (!slo) return [];
  const graphqlMs = result.steps.filter((s) => s.action === 'graphql' && s.status === 'passed').map((s) => s.durationMs);
  const measured: Record<SloFigure['name'], number | undefined> = {
    maxDurationMs: result.durationMs,
    p95MessageLatencyMs: p95(result.messageLatenciesMs),
    maxGraphqlMs: graphqlMs.length ? Math.max(...graphqlMs) : undefined,
  };
  return (Object.keys(measured) as SloFigure['name'][])
    .filter((name) => slo[name] !== undefined)
    .map((name) => ({ name, limit: slo[name]!, measured: measured[name] }));
}

function p95(values: number[]): number | undefined {
  if (!values.length) return undefined;
  const histogram = buildHistogram();
  for (const v of values) histogram.recordValue(Math.max(0, Math.round(v)));
  return histogram.getValueAtPercentile(95);
}
