/**
 * JUnit XML for CI (GitLab, Jenkins, GitHub test-report actions), built with xmlbuilder2 so escaping is never ours.
 * Each scenario is a <testcase> with `file` and `line` (the failing or first skipped step, else the file's first
 * line), <failure> with the whole explanation, <skipped/> when a step could not run, and <properties> holding each
 * SLO's limit and what was measured.
 */
import { createRequire } from 'node:module';
import { relative } from 'node:path';
import type { ScenarioResult } from '../runner.js';
import { sloFigures } from '../sloFigures.js';

// Required when a report is written, not when the CLI starts: importing xmlbuilder2 took ~0.3 s of every run.
const require = createRequire(import.meta.url);
const xmlbuilder = (): typeof import('xmlbuilder2') => require('xmlbuilder2') as typeof import('xmlbuilder2');

const rel = (file: string): string => relative(process.cwd(), file) || file;
const secs = (ms: number): string => (ms / 1000).toFixed(3);

/** Where a reader should look first: the failing step, else the first step that was skipped for a reason of its own. */
export function lineOf(result: ScenarioResult): number {
  const failed = result.steps.find((s) => s.status === 'failed');
  const skipped = result.steps.find((s) => s.status === 'skipped' && s.reason !== 'an earlier step failed');
  return (failed ?? skipped)?.line ?? 1;
}

/** Steps skipped because of the target (not because an earlier step failed), one line each. */
export const skippedSteps = (result: ScenarioResult): string[] =>
  result.steps.filter((s) => s.status === 'skipped' && s.reason !== 'an earlier step failed').map((s) => `${s.label} skipped: ${s.reason}`);

export function junit(results: ScenarioResult[]): string {
  const count = (status: ScenarioResult['status']): number => results.filter((r) => r.status === status).length;
  const totals = {
    tests: results.length,
    failures: count('failed'),
    errors: 0,
    skipped: count('skipped'),
    time: secs(results.reduce((s, r) => s + r.durationMs, 0)),
  };
  // Control characters (a binary frame quoted in a failure) are not allowed in XML 1.0: dropped.
  const doc = xmlbuilder().create({ version: '1.0', encoding: 'UTF-8', invalidCharReplacement: '' });
  const suite = doc.ele('testsuites', totals).ele('testsuite', { name: 'scenarios', ...totals });
  for (const r of results) {
    const testcase = suite.ele('testcase', {
      classname: rel(r.file),
      name: r.name,
      file: rel(r.file),
      line: lineOf(r),
      time: secs(r.durationMs),
    });
    const figures = sloFigures(r);
    if (figures.length) {
      const properties = testcase.ele('properties');
      properties.ele('property', { name: 'target', value: r.target });
      for (const f of figures) {
        properties.ele('property', { name: `slo.${f.name}`, value: f.limit });
        if (f.measured !== undefined) properties.ele('property', { name: `measured.${f.name}`, value: f.measured });
      }
    }
    if (r.failure)
      testcase
        .ele('failure', {
          message: r.failure.split('\n')[0],
          type: r.sloBreaches.length && !r.steps.some((s) => s.status === 'failed') ? 'SLO' : 'step',
        })
        .txt(r.failure);
    if (r.status === 'skipped') testcase.ele('skipped', { message: r.skipReason ?? 'skipped' });
    const skipped = skippedSteps(r);
    if (skipped.length) testcase.ele('system-out').txt(skipped.join('\n'));
  }
  return `${doc.end({ prettyPrint: true })}\n`;
}
