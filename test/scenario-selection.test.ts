/** Which scenario files and scenarios a run picks: paths and globs (tinyglobby), then --tag, --grep and --bail. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expandPaths } from '../harness/scenarios/paths.js';
import { loadScenario } from '../harness/scenarios/loader.js';
import { parseGrep, parseTags, selects } from '../harness/scenarios/select.js';
import { runScenarios } from '../harness/scenarios/runner.js';
import { inProcessTargets } from '../harness/scenarios/target.js';

let root: string;
const file = (path: string): string => join(root, path);

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'scenario-paths-'));
  for (const path of [
    'scenarios/a.yml',
    'scenarios/sub/b.yaml',
    'scenarios/notes.txt',
    'scenarios/load/big.yaml',
    'scenarios/known-failures/k.yaml',
    'other/c.yaml',
  ]) {
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
    expect(await expandPaths(['{scenarios,other}/*.{yml,yaml}', 'other/c.yaml', file('scenarios/a.yml')], root)).toEqual([
      file('other/c.yaml'),
      file('scenarios/a.yml'),
    ]);
  });

  it('a pattern that matches nothing is an error naming it', async () => {
    await expect(expandPaths(['scenarios/nope/*.yaml'], root)).rejects.toThrow('No scenario file matches "scenarios/nope/*.yaml"');
    await expect(expandPaths(['scenarios/notes.yaml'], root)).rejects.toThrow(/notes\.yaml/);
  });
});

describe('--tag and --grep', () => {
  const repo = fileURLToPath(new URL('..', import.meta.url));

  it('--tag faults selects exactly the files tagged faults; several tags select any of them', async () => {
    const all = (await expandPaths(['scenarios'], repo)).map((f) => loadScenario(f));
    const tagged = (tags: string[]): string[] =>
      all
        .filter(selects({ tags }))
        .map((s) => relative(repo, s.file))
        .sort();
    const declaring = (tag: string): string[] =>
      all
        .filter((s) => s.tags?.includes(tag))
        .map((s) => relative(repo, s.file))
        .sort();
    expect(tagged(['faults'])).toEqual(declaring('faults'));
    expect(tagged(['faults']).length).toBeGreaterThan(0);
    expect(tagged(['faults'])).not.toContain('scenarios/functional/auth-non-admin-forbidden.yaml');
    expect(tagged(['auth', 'faults'])).toEqual([...new Set([...declaring('auth'), ...declaring('faults')])].sort());
    expect(tagged(['no-such-tag'])).toEqual([]);
  });

  it('--grep matches the scenario name, case-insensitive; both options must hold', () => {
    const scenario = loadScenario(
      'g.yaml',
      'name: A 410 GoneException deletes the record\ntags: [faults]\nclients: { a: {} }\nsteps:\n  - connect: a\n',
    );
    expect(selects({ grep: parseGrep('goneexception')! })(scenario)).toBe(true);
    expect(selects({ grep: parseGrep('^A 410')! })(scenario)).toBe(true);
    expect(selects({ grep: parseGrep('^410')! })(scenario)).toBe(false);
    expect(selects({ grep: parseGrep('410')!, tags: ['auth'] })(scenario)).toBe(false);
    expect(selects({ grep: parseGrep('410')!, tags: ['faults'] })(scenario)).toBe(true);
  });

  it('bad selections are refused with what was wrong', () => {
    expect(() => parseGrep('(')).toThrow(/--grep "\(" is not a regular expression/);
    expect(() => parseTags(['faults,'])).toThrow('--tag needs a tag name');
    expect(parseTags(['a', 'b,c'])).toEqual(['a', 'b', 'c']);
    expect(parseTags(undefined)).toBeUndefined();
  });
});

describe('running a selection, and --bail', () => {
  const repo = fileURLToPath(new URL('..', import.meta.url));
  const targets = inProcessTargets({ projectRoot: repo, size: 1 });
  afterAll(() => targets.close());
  const scenarioFile = (name: string, body: string): string => {
    const path = join(root, `${name}.yaml`);
    writeFileSync(
      path,
      `name: ${name}\ntags: [${name.startsWith('fail') ? 'broken' : 'fine'}]\nclients:\n  m: { claims: { sub: m, role: user } }\nsteps:\n  - connect: m\n${body}`,
    );
    return path;
  };
  const pings = '  - send: { client: m, json: { type: ping } }\n  - expectMessage: { client: m, match: { type: pong } }\n';
  // The emulator answers ping with pong: expecting "pang" fails once the pong has arrived and the window is out.
  const fails = '  - send: { client: m, json: { type: ping } }\n  - expectMessage: { client: m, match: { type: pang }, within: 300ms }\n';

  it('only the selected scenarios run; --bail starts none after the first failure and lists them as not run', async () => {
    const files = [
      scenarioFile('fine-1', pings),
      scenarioFile('fail-2', fails),
      scenarioFile('fine-3', pings),
      scenarioFile('fine-4', pings),
    ];

    const selected = await runScenarios(files, { targets, concurrency: 1, select: selects({ tags: ['fine'] }) });
    expect(selected.results.map((r) => [r.name, r.status])).toEqual([
      ['fine-1', 'passed'],
      ['fine-3', 'passed'],
      ['fine-4', 'passed'],
    ]);

    const bailed = await runScenarios(files, { targets, concurrency: 1, bail: true });
    expect(bailed.results.map((r) => [r.name, r.status])).toEqual([
      ['fine-1', 'passed'],
      ['fail-2', 'failed'],
    ]);
    expect(bailed.notRun.map((s) => s.name)).toEqual(['fine-3', 'fine-4']);

    // Without --bail the failure does not stop the run.
    const all = await runScenarios(files, { targets, concurrency: 1 });
    expect(all.results.map((r) => r.status)).toEqual(['passed', 'failed', 'passed', 'passed']);
    expect(all.notRun).toEqual([]);
  }, 60_000);

  it('with the durations of an earlier run, side by side the longest start first, those never timed before them; one at a time, file order', async () => {
    const files = [scenarioFile('fine-1', pings), scenarioFile('fine-3', pings), scenarioFile('fine-4', pings)];
    const lastTime: Record<string, number | undefined> = { 'fine-1': 100, 'fine-3': undefined, 'fine-4': 500 };
    const runOrder = async (concurrency: number) => {
      const ended: string[] = [];
      // The pool holds one emulator: even at concurrency 2, scenarios take it in the order they were started.
      const summary = await runScenarios(files, {
        targets,
        concurrency,
        expectedMs: (scenario) => lastTime[scenario.name],
        onResult: (result) => ended.push(result.name),
      });
      expect(summary.results.map((r) => r.name)).toEqual(['fine-1', 'fine-3', 'fine-4']);
      return ended;
    };
    expect(await runOrder(2)).toEqual(['fine-3', 'fine-4', 'fine-1']);
    expect(await runOrder(1)).toEqual(['fine-1', 'fine-3', 'fine-4']);
  }, 60_000);
});

describe('npm run scenarios (the CLI)', () => {
  const repo = fileURLToPath(new URL('..', import.meta.url));
  // The npm script's own entry (package.json), which loads the CLI from a precompiled bundle without tsx.
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [join(repo, 'harness/scenarios/start.mjs'), ...args], {
        cwd: repo,
        env: { ...process.env, CI: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (out += c.toString()));
      child.once('exit', (code) => resolve({ code, out }));
    });

  it('--tag auth --grep forged runs that one scenario; github writes the job summary; no experimental-glob warning', async () => {
    const out = join(root, 'cli-out');
    const summary = join(root, 'summary.md');
    writeFileSync(summary, '# earlier step\n');
    const run = await cli(
      ['scenarios/functional', '--tag', 'auth', '--grep', 'FORGED', '--reporter', 'console,json,github', '--out', out],
      { GITHUB_STEP_SUMMARY: summary },
    );
    expect(run.out).not.toMatch(/ExperimentalWarning/);
    expect(run.code, run.out).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'scenarios.json'), 'utf8')) as { passed: number; scenarios: Array<{ file: string }> };
    expect(report.scenarios.map((s) => s.file)).toEqual(['scenarios/functional/auth-graphql-bad-tokens.yaml']);
    expect(report.passed).toBe(1);
    // Appended, not overwritten: other steps of the job write to the same file.
    expect(readFileSync(summary, 'utf8')).toMatch(
      /^# earlier step\n## Scenarios\n\n\*\*1 passed, 0 failed, 0 skipped\*\*[\s\S]*auth-graphql-bad-tokens\.yaml/,
    );
    expect(run.out).not.toMatch(/^::/m);
  }, 60_000);

  it('a selection that matches nothing, or a malformed --grep, exits 2 and says why', async () => {
    const files = (await expandPaths(['scenarios/functional'], repo)).length;
    const none = await cli(['scenarios/functional', '--tag', 'no-such-tag']);
    expect([none.code, none.out.trim()]).toEqual([2, `No scenario matches --tag no-such-tag (in ${files} file(s))`]);
    const bad = await cli(['--grep', '(']);
    expect(bad.code).toBe(2);
    expect(bad.out).toMatch(/--grep "\(" is not a regular expression/);
  }, 60_000);
});

describe('--watch', () => {
  const repo = fileURLToPath(new URL('..', import.meta.url));

  it('reruns a saved file on the warm emulator, survives a malformed save, and stops on Ctrl-C', async () => {
    const dir = mkdtempSync(join(root, 'watch-'));
    const file = join(dir, 'ping.yaml');
    const other = join(dir, 'not-selected.yaml');
    const scenario = (name: string): string =>
      `name: ${name}\nclients:\n  m: { claims: { sub: m, role: user } }\nsteps:\n  - connect: m\n  - send: { client: m, json: { type: ping } }\n  - expectMessage: { client: m, match: { type: pong } }\n`;
    writeFileSync(file, scenario('first version'));
    writeFileSync(other, scenario('other file'));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(repo, 'harness/scenarios/cli.ts'), file, '--watch', '--concurrency', '1'],
      { cwd: repo, env: { ...process.env, CI: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const waiters: Array<() => void> = [];
    const onData = (c: Buffer): void => {
      out += c.toString();
      for (const w of waiters.splice(0)) w();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let exitedEarly = false;
    void exited.then(() => {
      exitedEarly = true;
      for (const w of waiters.splice(0)) w();
    });
    /**
     * Resolves once the output (from `from` on) matches; fails with the output if the CLI exits first, or after a
     * minute (a bound for a hung run to be reported with what it printed, not a measure of speed).
     */
    const until = (pattern: RegExp, from = 0): Promise<number> =>
      new Promise((resolve, reject) => {
        const giveUp = setTimeout(() => reject(new Error(`no ${pattern} within a minute`)), 60_000);
        const check = (): void => {
          const match = pattern.exec(out.slice(from));
          if (match) {
            clearTimeout(giveUp);
            resolve(from + match.index + match[0].length);
          } else if (exitedEarly) reject(new Error(`the CLI exited before printing ${pattern}`));
          else waiters.push(check);
        };
        check();
      });
    /** As editors save: a new file renamed over the old one, so the CLI never reads a half-written file. */
    const save = (path: string, text: string): void => {
      writeFileSync(`${path}.saving`, text);
      renameSync(`${path}.saving`, path);
    };
    try {
      let at = await until(/watching 1 scenario file\(s\)/);
      expect(out).toMatch(/✓ first version/);
      save(file, scenario('second version'));
      at = await until(/reran \S*ping\.yaml in \d+ ms from the save, on the warm emulator: 1 passed, 0 failed, 0 skipped\n/, at);
      expect(out.slice(0, at)).toMatch(/✓ second version/);
      // A save of a file the command line did not select runs nothing; a malformed save is reported, the watch goes on.
      save(other, scenario('other file, saved'));
      save(file, 'name: broken\nclients: {}\nsteps:\n  - connect: nobody\n  - fly: away\n');
      at = await until(/Malformed scenario file; not run:\n.*ping\.yaml:\d+:\d+/, at);
      save(file, scenario('third version'));
      at = await until(/reran \S*ping\.yaml in \d+ ms from the save/, at);
      expect(out).toMatch(/✓ third version/);
      expect(out).not.toMatch(/other file/);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- CLI output ---\n${out}`);
    } finally {
      child.kill('SIGKILL');
    }
  }, 180_000);
});
