/** The durations an earlier run recorded (harness/scenarios/durations.ts), which order the next run longest first. */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { durationHistory, longestFirst } from '../harness/scenarios/durations.js';

let root: string;
afterEach(() => rmSync(root, { recursive: true, force: true }));
const fresh = (): string => (root = mkdtempSync(join(tmpdir(), 'scenario-durations-')));
const historyFile = (): string => join(root, 'node_modules', '.cache', 'scenario-durations.json');

describe('durationHistory', () => {
  it('knows nothing on a clean clone, then what the last run measured, per file and scenario name', () => {
    fresh();
    const a = join(root, 'scenarios', 'a.yaml');
    expect(durationHistory(root).expectedMs(a, 'one')).toBeUndefined();
    durationHistory(root).record([
      { file: a, name: 'one', status: 'passed', durationMs: 1234.4 },
      { file: a, name: 'two', status: 'failed', durationMs: 50 },
    ]);
    const next = durationHistory(root);
    expect(next.expectedMs(a, 'one')).toBe(1234);
    expect(next.expectedMs(a, 'two')).toBe(50);
    expect(next.expectedMs(join(root, 'scenarios', 'b.yaml'), 'one')).toBeUndefined();
    expect(JSON.parse(readFileSync(historyFile(), 'utf8'))).toEqual({ 'scenarios/a.yaml': { one: 1234, two: 50 } });
  });

  it('a skipped scenario (it did not run to an end) keeps the duration it had; a later run replaces the others', () => {
    fresh();
    const a = join(root, 'a.yaml');
    writeFileSync(a, 'name: one\n');
    const history = durationHistory(root);
    history.record([
      { file: a, name: 'one', status: 'passed', durationMs: 900 },
      { file: a, name: 'two', status: 'passed', durationMs: 800 },
    ]);
    history.record([
      { file: a, name: 'one', status: 'skipped', durationMs: 0 },
      { file: a, name: 'two', status: 'passed', durationMs: 300 },
    ]);
    const next = durationHistory(root);
    expect([next.expectedMs(a, 'one'), next.expectedMs(a, 'two')]).toEqual([900, 300]);
  });

  it('an unreadable history is no history', () => {
    fresh();
    mkdirSync(join(root, 'node_modules', '.cache'), { recursive: true });
    writeFileSync(historyFile(), '{not json');
    expect(durationHistory(root).expectedMs(join(root, 'a.yaml'), 'one')).toBeUndefined();
  });

  it('forgets the files that no longer exist when it records', () => {
    fresh();
    const [kept, gone] = [join(root, 'kept.yaml'), join(root, 'gone.yaml')];
    writeFileSync(kept, 'name: k\n');
    durationHistory(root).record([
      { file: kept, name: 'k', status: 'passed', durationMs: 10 },
      { file: gone, name: 'g', status: 'passed', durationMs: 20 },
    ]);
    expect(durationHistory(root).expectedMs(gone, 'g')).toBe(20);
    durationHistory(root).record([]);
    expect(JSON.parse(readFileSync(historyFile(), 'utf8'))).toEqual({ 'kept.yaml': { k: 10 } });
  });

  it('where it cannot be written (here .cache is a file, which stops root too), recording changes nothing else', () => {
    fresh();
    mkdirSync(join(root, 'node_modules'));
    writeFileSync(join(root, 'node_modules', '.cache'), 'not a folder');
    const history = durationHistory(root);
    expect(() => history.record([{ file: join(root, 'a.yaml'), name: 'one', status: 'passed', durationMs: 5 }])).not.toThrow();
    expect(history.expectedMs(join(root, 'a.yaml'), 'one')).toBeUndefined();
  });
});

describe('longestFirst', () => {
  it('orders by expected duration, longest first; unknown ones first of all; ties and unknowns keep their order', () => {
    const expected: Record<string, number | undefined> = { a: 100, b: undefined, c: 500, d: 100, e: undefined, f: 2000 };
    expect(longestFirst(Object.keys(expected), (k) => expected[k])).toEqual(['b', 'e', 'f', 'c', 'a', 'd']);
  });
});
