/**
 * Scenario reports: console (default), JSON, and Markdown with a sequence diagram per scenario. The CI formats
 * (JUnit XML; GitHub's annotations and job summary) live in ci/ and are re-exported here.
 */
import { summaryRows } from './load/summary.js';
import { relative } from 'node:path';
import { build as buildHistogram } from 'hdr-histogram-js';
import type { ScenarioResult } from './runner.js';
import { timelineDiagram } from './timeline.js';

export { junit } from './ci/junit.js';
export { githubAnnotations, githubSummary } from './ci/github.js';
export { timelineDiagram } from './timeline.js';

const rel = (file: string): string => relative(process.cwd(), file) || file;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)}s`;

/** One line per scenario; a failure adds its explanation; skipped steps say why. */
export function consoleLine(result: ScenarioResult): string {
  const mark = { passed: '✓', failed: '✗', skipped: '↷' }[result.status];
  const lines = [
    `${mark} ${result.name}  (${rel(result.file)}, ${seconds(result.durationMs)})${result.status === 'skipped' ? ' — SKIPPED, not passed' : ''}`,
  ];
  if (result.messageLatenciesMs.length >= 20)
    lines.push(`    message latency (from the step that caused it): ${percentiles(result.messageLatenciesMs)}`);
  // Load scenarios: how long each GraphQL request took to answer (a mutation that awaits its fanout shows here).
  const graphql = result.steps.filter((s) => s.action === 'graphql' && s.status !== 'skipped');
  if (result.messageLatenciesMs.length >= 20 && graphql.length)
    lines.push(`    graphql answered in: ${graphql.map((s) => `${s.durationMs} ms`).join(', ')}`);
  for (const step of result.steps) {
    if (step.status === 'skipped' && step.reason !== 'an earlier step failed') lines.push(`    ↷ ${step.label} skipped: ${step.reason}`);
  }
  if (result.failure)
    lines.push(
      result.failure
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n'),
    );
  return lines.join('\n');
}

/** p50/p95/p99/max of a set of latencies, for scenarios with many clients. */
export function percentiles(values: number[]): string {
  const histogram = buildHistogram();
  for (const v of values) histogram.recordValue(Math.max(0, Math.round(v)));
  const p = (q: number): number => histogram.getValueAtPercentile(q);
  return `n=${values.length} p50 ${p(50)} ms, p95 ${p(95)} ms, p99 ${p(99)} ms, max ${histogram.maxValue} ms`;
}

const countOf = (results: ScenarioResult[], status: ScenarioResult['status']): number => results.filter((r) => r.status === status).length;

export function consoleSummary(results: ScenarioResult[], durationMs: number): string {
  const skippedSteps = results.reduce(
    (n, r) => n + r.steps.filter((s) => s.status === 'skipped' && s.reason !== 'an earlier step failed').length,
    0,
  );
  return `\n${countOf(results, 'passed')} passed, ${countOf(results, 'failed')} failed, ${countOf(results, 'skipped')} skipped (${results.length} scenarios in ${seconds(durationMs)}${skippedSteps ? `, ${skippedSteps} steps skipped` : ''})`;
}

export function json(results: ScenarioResult[]): string {
  return JSON.stringify(
    {
      passed: countOf(results, 'passed'),
      failed: countOf(results, 'failed'),
      skipped: countOf(results, 'skipped'),
      scenarios: results.map(({ events: _events, ...r }) => ({ ...r, file: rel(r.file) })),
    },
    null,
    2,
  );
}

export function markdown(results: ScenarioResult[]): string {
  const passed = results.filter((r) => r.status === 'passed').length;
  const out = [
    `# Scenario report`,
    '',
    `${passed} passed, ${results.length - passed} failed.`,
    '',
    '| | scenario | file | time |',
    '|---|---|---|---|',
  ];
  for (const r of results)
    out.push(`| ${r.status === 'passed' ? '✅' : '❌'} | ${r.name} | \`${rel(r.file)}\` | ${seconds(r.durationMs)} |`);
  for (const r of results) {
    out.push('', `## ${r.status === 'passed' ? '✅' : '❌'} ${r.name}`, '', `\`${rel(r.file)}\` on ${r.target}`, '');
    for (const s of r.steps)
      out.push(`- ${s.status === 'passed' ? '✓' : s.status === 'failed' ? '✗' : '↷'} ${s.label}${s.reason ? ` — ${s.reason}` : ''}`);
    if (r.failure) out.push('', '```text', r.failure, '```');
    if (r.load) out.push('', '| load | |', '|---|---|', ...summaryRows(r.load).map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`));
    if (r.events.length) out.push('', '```mermaid', timelineDiagram(r), '```');
  }
  return `${out.join('\n')}\n`;
}
