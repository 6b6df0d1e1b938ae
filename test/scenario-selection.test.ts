/** Which scenario files and scenarios a run picks: paths and globs (tinyglobby), then --tag, --grep and --bail. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandPaths } from '../harness/scenarios/paths.js';

let root: string;
const file = (path: string): string => join(root, path);

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'scenario-paths-'));
  for (const path of ['scenarios/a.yml', 'scenarios/sub/b.yaml', 'scenarios/notes.txt', 'scenarios/load/big.yaml', 'scenarios/known-failures/k.yaml', 'other/c.yaml']) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), 'name: x\n');
  }
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('expandPaths', () => {
  it('with no pattern: every .yml/.yaml under scenarios/, except load/ and known-failures/ (run on purpose)', async () => {
    expect(await expandPaths([], root)).toEqual([file('scenarios/a.yml'), file('scenarios/sub/b.yaml')]);
  });

  it('a folder means every scenario file under it, load/ included when named', async () => {
    expect(await expandPaths(['scenarios/load/'], root)).toEqual([file('scenarios/load/big.yaml')]);
    expect(await expandPaths(['scenarios'], root)).toHaveLength(4);
  });

  it('globs with braces, files, absolute paths; duplicates once, sorted', async () => {
    expect(await expandPaths(['{scenarios,other}/*.{yml,yaml}', 'other/c.yaml', file('scenarios/a.yml')], root)).toEqual([file('other/c.yaml'), file('scenarios/a.yml')]);
  });

  it('a pattern that matches nothing is an error naming it', async () => {
    await expect(expandPaths(['scenarios/nope/*.yaml'], root)).rejects.toThrow('No scenario file matches "scenarios/nope/*.yaml"');
    await expect(expandPaths(['scenarios/notes.yaml'], root)).rejects.toThrow(/notes\.yaml/);
  });
});
