/**
 * `npm run bench`'s verdicts: a figure meets its goal only when measured, judged on the ratio to its same-run
 * baseline or on its value as the goal says; a figure that could not be measured never passes.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { figure, median, notMeasured, table } from '../bench/figures.js';

describe('bench figures', () => {
  it('judges a ratio goal on value / baseline, not on the value', () => {
    const base = { id: '1', title: 'fanout', unit: 'ms', goal: { of: 'ratio' as const, max: 2 } };
    const within = figure({ ...base, value: 90, baseline: { value: 50, unit: 'ms', what: 'raw' } });
    expect(within).toMatchObject({ ratio: 1.8, met: true });
    const beyond = figure({ ...base, value: 110, baseline: { value: 50, unit: 'ms', what: 'raw' } });
    expect(beyond).toMatchObject({ ratio: 2.2, met: false });
    // Without a baseline there is no ratio, so a ratio goal cannot be met.
    expect(figure({ ...base, value: 1 }).met).toBe(false);
  });

  it('judges a value goal on the value, at least or at most', () => {
    expect(figure({ id: '3', title: 'posts', unit: 'calls/s', value: 20_000, goal: { of: 'value', min: 20_000 } }).met).toBe(true);
    expect(figure({ id: '3', title: 'posts', unit: 'calls/s', value: 19_999, goal: { of: 'value', min: 20_000 } }).met).toBe(false);
    expect(figure({ id: '7', title: 'suite', unit: 's', value: 15.5, goal: { of: 'value', max: 15 } }).met).toBe(false);
  });

  it('every measured figure says how far it is from its goal, baseline or not', () => {
    const suite = figure({ id: '7', title: 'suite', unit: 's', value: 30, goal: { of: 'value', max: 15 } });
    expect(suite.ofGoal).toBe(2);
    expect(table([suite])).toContain("vs goal   2.00× the goal's bound (met at ≤ 1)");
    const handshakes = figure({ id: '8a', title: 'handshakes', unit: '/s', value: 125, goal: { of: 'value', min: 500 } });
    expect(handshakes.ofGoal).toBe(0.25);
    expect(table([handshakes])).toContain('(met at ≥ 1)');
    // A ratio goal: how far the ratio is from its bound.
    const fanout = figure({
      id: '1',
      title: 'fanout',
      unit: 'ms',
      value: 300,
      baseline: { value: 50, unit: 'ms', what: 'raw' },
      goal: { of: 'ratio', max: 2 },
    });
    expect(fanout.ofGoal).toBe(3);
    expect(notMeasured({ id: '6', title: 'heap', unit: 'KB', goal: { of: 'value', max: 10 } }, 'why')).not.toHaveProperty('ofGoal');
  });

  it('a figure not measured is a miss with its reason, in JSON and in the table', () => {
    const missing = notMeasured({ id: '6', title: 'heap per connection', unit: 'KB', goal: { of: 'value', max: 10 } }, 'not built yet');
    expect(JSON.parse(JSON.stringify(missing))).toEqual({
      id: '6',
      title: 'heap per connection',
      unit: 'KB',
      goal: { of: 'value', max: 10 },
      value: null,
      met: false,
      note: 'not built yet',
    });
    expect(table([missing])).toContain('MISS  6    heap per connection\n            value     not measured');
  });

  it('median of an odd and an even count', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});

describe('npm run bench -- --only', () => {
  const bench = (args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
      timeout: 60_000,
    });

  it('refuses an unknown figure id before measuring anything, naming the ids it knows', () => {
    const run = bench(['--only', '1,99']);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--only takes figure ids among 1, 2, 3, 4a/);
    expect(run.stderr).toContain('"1,99"');
    expect(run.stdout).toBe('');
  });
});
