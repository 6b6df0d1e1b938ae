/**
 * The CI reports from results as the runner returns them: JUnit XML (parsed back, not matched as text) with file,
 * line, <skipped/> and SLO <properties>; GitHub annotations escaped as the Actions runner reads them; the job summary.
 */
import { describe, expect, it } from 'vitest';
import { create } from 'xmlbuilder2';
import { join } from 'node:path';
import { githubAnnotations, githubSummary, junit } from '../harness/scenarios/reporters.js';
import type { ScenarioResult, StepResult } from '../harness/scenarios/runner.js';

const file = join(process.cwd(), 'scenarios/faults/x.yaml');
const step = (index: number, line: number, status: StepResult['status'], extra: Partial<StepResult> = {}): StepResult => ({
  index,
  line,
  label: `step ${index + 1} (connect)`,
  action: 'connect',
  status,
  durationMs: 5,
  ...extra,
});
const base = { file, target: 'in-process', durationMs: 1234, sloBreaches: [], messageLatenciesMs: [], events: [], connections: {} };

const passed: ScenarioResult = {
  ...base,
  name: 'ok',
  status: 'passed',
  steps: [step(0, 5, 'passed'), step(1, 7, 'passed', { action: 'graphql', durationMs: 80 })],
  slo: { maxDurationMs: 5000, maxGraphqlMs: 100, p95MessageLatencyMs: 50 },
};
const failed: ScenarioResult = {
  ...base,
  name: 'fails, with "quotes" & <angles>',
  status: 'failed',
  steps: [step(0, 5, 'passed'), step(1, 9, 'failed'), step(2, 12, 'skipped', { reason: 'an earlier step failed' })],
  failure: 'step 2 (connect) at x.yaml:9\n  50% of frames, a: b, c\u0001',
};
const skipped: ScenarioResult = {
  ...base,
  name: 'remote',
  status: 'skipped',
  steps: [step(0, 5, 'passed'), step(1, 11, 'skipped', { reason: "needs the emulator's insides" })],
  skipReason: '1 step(s) skipped',
};

/** The report read back through xmlbuilder2's DOM parser, so escaping is checked by decoding, not by text. */
interface El {
  getAttribute(name: string): string | null;
  getElementsByTagName(name: string): ArrayLike<El>;
  readonly textContent: string | null;
}
const children = (el: El, tag: string): El[] => Array.from(el.getElementsByTagName(tag));
const attrs = (el: El, ...names: string[]): Record<string, string | null> => Object.fromEntries(names.map((n) => [n, el.getAttribute(n)]));

describe('junit', () => {
  const root = (create(junit([passed, failed, skipped])).node as unknown as { documentElement: El }).documentElement;
  const [suite] = children(root, 'testsuite');
  const [ok, bad, skip] = children(suite, 'testcase');

  it('counts as CI tools read them', () => {
    const counts = { tests: '3', failures: '1', errors: '0', skipped: '1' };
    expect(attrs(root, 'tests', 'failures', 'errors', 'skipped')).toEqual(counts);
    expect(attrs(suite, 'name', 'tests', 'failures', 'errors', 'skipped')).toEqual({ name: 'scenarios', ...counts });
  });

  it('file and line: the failing step, the first skipped step, else line 1', () => {
    expect([ok, bad, skip].map((c) => [c.getAttribute('file'), c.getAttribute('line')])).toEqual([
      ['scenarios/faults/x.yaml', '1'],
      ['scenarios/faults/x.yaml', '9'],
      ['scenarios/faults/x.yaml', '11'],
    ]);
    expect(attrs(ok, 'classname', 'name', 'time')).toEqual({ classname: 'scenarios/faults/x.yaml', name: 'ok', time: '1.234' });
  });

  it('a failure carries its first line as message and the whole text, escaped and without control characters', () => {
    expect(bad.getAttribute('name')).toBe('fails, with "quotes" & <angles>');
    const [failure] = children(bad, 'failure');
    expect(attrs(failure, 'message', 'type')).toEqual({ message: 'step 2 (connect) at x.yaml:9', type: 'step' });
    expect(failure.textContent).toBe('step 2 (connect) at x.yaml:9\n  50% of frames, a: b, c');
    expect(children(bad, 'skipped')).toEqual([]);
    expect(children(ok, 'failure')).toEqual([]);
  });

  it('a skipped scenario has <skipped/> with its reason, and the skipped steps in system-out', () => {
    expect(children(skip, 'skipped').map((e) => e.getAttribute('message'))).toEqual(['1 step(s) skipped']);
    expect(children(skip, 'system-out').map((e) => e.textContent)).toEqual(["step 2 (connect) skipped: needs the emulator's insides"]);
    expect(children(skip, 'failure')).toEqual([]);
  });

  it('SLOs as properties: each limit and what was measured', () => {
    expect(children(ok, 'property').map((p) => [p.getAttribute('name'), p.getAttribute('value')])).toEqual([
      ['target', 'in-process'],
      ['slo.maxDurationMs', '5000'],
      ['measured.maxDurationMs', '1234'],
      // No message was matched: nothing measured, only the limit.
      ['slo.p95MessageLatencyMs', '50'],
      ['slo.maxGraphqlMs', '100'],
      ['measured.maxGraphqlMs', '80'],
    ]);
    expect(children(bad, 'properties')).toEqual([]);
  });
});

describe('github', () => {
  it('an ::error per failure and a ::warning per skip, at file and line, escaped as the runner unescapes', () => {
    expect(githubAnnotations([passed, failed, skipped])).toEqual([
      '::error file=scenarios/faults/x.yaml,line=9,title=Scenario failed%3A fails%2C with "quotes" & <angles>::step 2 (connect) at x.yaml:9%0A  50%25 of frames, a: b, c\u0001',
      "::warning file=scenarios/faults/x.yaml,line=11,title=Scenario skipped%3A remote::1 step(s) skipped%0Astep 2 (connect) skipped: needs the emulator's insides",
    ]);
    expect(githubAnnotations([passed])).toEqual([]);
  });

  it('the job summary: counts, a row per scenario with SLO figures, failures folded with their text', () => {
    const summary = githubSummary([passed, failed, skipped], 4200);
    expect(summary).toContain('**1 passed, 1 failed, 1 skipped** — 3 scenarios in 4.2 s');
    expect(summary).toContain(
      '| ✅ | ok | `scenarios/faults/x.yaml:1` | 1.23 s | maxDurationMs 5000 / 1234<br>p95MessageLatencyMs 50 / –<br>maxGraphqlMs 100 / 80 |',
    );
    expect(summary).toContain('| ❌ | fails, with "quotes" &amp; &lt;angles&gt; | `scenarios/faults/x.yaml:9` |');
    expect(summary).toContain(
      '<details><summary>❌ fails, with "quotes" &amp; &lt;angles&gt; — <code>scenarios/faults/x.yaml:9</code></summary>\n\n```text\nstep 2 (connect) at x.yaml:9\n',
    );
    expect(summary).toContain(
      "<details><summary>↷ remote — <code>scenarios/faults/x.yaml:11</code></summary>\n\n```text\n1 step(s) skipped\nstep 2 (connect) skipped: needs the emulator's insides\n```",
    );
    expect(summary.match(/<details>/g)).toHaveLength(2);
  });

  it('a failure quoting ``` stays inside its fence', () => {
    const summary = githubSummary([{ ...failed, failure: 'frame: ```json {}```' }], 1);
    expect(summary).toContain('````text\nframe: ```json {}```\n````');
  });
});
