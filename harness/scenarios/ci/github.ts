/**
 * GitHub Actions: workflow-command annotations (`::error file=…,line=…::`), which put each failure on the line of
 * the scenario file in the pull request's diff, and a Markdown job summary (appended to $GITHUB_STEP_SUMMARY).
 * Escaping follows the runner's rules (actions/toolkit, core/src/command.ts): data escapes % CR LF; properties
 * also escape : and ,.
 */
import { relative } from 'node:path';
import type { ScenarioResult } from '../runner.js';
import { lineOf, skippedSteps } from './junit.js';
import { sloFigures } from '../sloFigures.js';

const rel = (file: string): string => relative(process.cwd(), file) || file;
const escapeData = (s: string): string => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const escapeProperty = (s: string): string => escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

function command(kind: 'error' | 'warning', properties: Record<string, string | number>, message: string): string {
  const props = Object.entries(properties)
    .map(([k, v]) => `${k}=${escapeProperty(String(v))}`)
    .join(',');
  return `::${kind} ${props}::${escapeData(message)}`;
}

/** One `::error` per failed scenario, one `::warning` per skipped one, at the step to look at. */
export function githubAnnotations(results: ScenarioResult[]): string[] {
  return results.flatMap((r) => {
    const at = { file: rel(r.file), line: lineOf(r) };
    if (r.status === 'failed') return [command('error', { ...at, title: `Scenario failed: ${r.name}` }, r.failure ?? 'failed')];
    if (r.status === 'skipped')
      return [
        command('warning', { ...at, title: `Scenario skipped: ${r.name}` }, [r.skipReason ?? 'skipped', ...skippedSteps(r)].join('\n')),
      ];
    return [];
  });
}

const mark = { passed: '✅', failed: '❌', skipped: '↷' } as const;
const html = (s: string): string => s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c]!);
const cell = (s: string): string => html(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The job summary: counts, one row per scenario, SLO figures, and each failure's explanation folded. */
export function githubSummary(results: ScenarioResult[], durationMs: number): string {
  const count = (status: ScenarioResult['status']): number => results.filter((r) => r.status === status).length;
  const out = [
    '## Scenarios',
    '',
    `**${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped** — ${results.length} scenarios in ${(durationMs / 1000).toFixed(1)} s`,
    '',
    '| | scenario | file | time | SLOs (limit / measured) |',
    '|---|---|---|---:|---|',
  ];
  for (const r of results) {
    const slos = sloFigures(r)
      .map((f) => `${f.name} ${f.limit} / ${f.measured ?? '–'}`)
      .join('<br>');
    out.push(`| ${mark[r.status]} | ${cell(r.name)} | \`${rel(r.file)}:${lineOf(r)}\` | ${(r.durationMs / 1000).toFixed(2)} s | ${slos} |`);
  }
  for (const r of results.filter((x) => x.status !== 'passed')) {
    const text = r.failure ?? [r.skipReason ?? 'skipped', ...skippedSteps(r)].join('\n');
    // A fence longer than any backtick run inside keeps frames quoting ``` from closing the block.
    const fence = '`'.repeat(Math.max(3, ...[...text.matchAll(/`+/g)].map((m) => m[0].length + 1)));
    out.push(
      '',
      `<details><summary>${mark[r.status]} ${cell(r.name)} — <code>${rel(r.file)}:${lineOf(r)}</code></summary>`,
      '',
      `${fence}text`,
      text,
      fence,
      '',
      '</details>',
    );
  }
  return `${out.join('\n')}\n`;
}
