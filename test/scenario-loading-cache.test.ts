/**
 * What the loader keeps between scenario files and runs: the format's compiled validators (Ajv standalone code on
 * disk, harness/common/cachedValidator.ts) and parsed fragments. Either must give what loading afresh gives.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { fileURLToPath } from 'node:url';
import { cachedValidator } from '../harness/common/cachedValidator.js';
import { loadScenario, ScenarioFileError } from '../harness/scenarios/loader.js';
import { scenarioSchema } from '../harness/scenarios/schema.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const options = { allErrors: true, strict: false, verbose: true };

/** Valid files and malformed ones (unknown actions, misspelt keys, wrong types): errors are what authors read. */
const samples: unknown[] = [
  parse(readFileSync(join(root, 'scenarios/functional/targeting-lyon-no-paris.yaml'), 'utf8')),
  parse(readFileSync(join(root, 'scenarios/functional/seed-checklist.yaml'), 'utf8')),
  { name: 1, steps: [{ conect: 'x' }, { expect: [{ mesage: {} }] }, { graphql: { as: 2 } }] },
  { name: 'x', clients: { a: { claims: 3 } }, steps: [{ sleep: 'abc', within: 1 }, { expectNoMessage: { client: 'a', during: -1 } }] },
  { steps: [] },
];

describe('cachedValidator', () => {
  it('validates as Ajv compiling the schema does, from the cached module on later calls, and survives a corrupt cache', () => {
    const dir = mkdtempSync(join(tmpdir(), 'validators-'));
    const fresh = new Ajv(options).compile(scenarioSchema);
    const check = (validate: (data: unknown) => boolean & unknown, errors: () => unknown): void => {
      for (const data of samples) {
        const expected = [fresh(data), JSON.stringify(fresh.errors)];
        expect([validate(data), JSON.stringify(errors())]).toEqual(expected);
      }
    };
    expect(samples.some((s) => !fresh(s))).toBe(true);

    const first = cachedValidator(scenarioSchema, options, dir);
    check(first, () => first.errors);
    const written = readdirSync(dir);
    expect(written).toHaveLength(1);

    // Another process's view: the module on disk, not the function compiled in this one.
    const fromDisk = cachedValidator(scenarioSchema, options, dir);
    check(fromDisk, () => fromDisk.errors);

    // Other options are another validator (verbose errors carry the schema; these do not).
    const terse = cachedValidator(scenarioSchema, { allErrors: true, strict: false }, dir);
    expect(readdirSync(dir)).toHaveLength(2);
    terse(samples[2]);
    expect(terse.errors?.[0]).not.toHaveProperty('parentSchema');

    // A corrupt module (a run killed mid-write cannot leave one: writes are renamed into place) is compiled over.
    const other = mkdtempSync(join(tmpdir(), 'validators-'));
    const file = join(other, written[0]);
    writeFileSync(file, 'module.exports = ');
    const recovered = cachedValidator(scenarioSchema, options, other);
    check(recovered, () => recovered.errors);
  }, 60_000);

  it('compiles in memory when the cache folder cannot be written', () => {
    const dir = mkdtempSync(join(tmpdir(), 'validators-'));
    const blocked = join(dir, 'a-file');
    writeFileSync(blocked, '');
    const validate = cachedValidator(scenarioSchema, options, join(blocked, 'cache'));
    expect(validate(samples[0])).toBe(true);
    expect(validate(samples[2])).toBe(false);
    expect(existsSync(join(blocked, 'cache'))).toBe(false);
  }, 60_000);
});

describe('fragments are parsed once per text', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scenario-fragment-cache-'));
  mkdirSync(join(dir, 'fragments'));
  const fragment = join(dir, 'fragments', 'hello.yaml');
  const scenario = (name: string): string =>
    `name: ${name}\nclients:\n  a: { claims: { sub: a, role: user } }\nsteps:\n  - connect: a\n  - use: { fragment: hello, with: { who: a } }\n`;
  const problemsOf = (file: string): string[] => {
    try {
      loadScenario(file, readFileSync(file, 'utf8'));
      return [];
    } catch (error) {
      if (error instanceof ScenarioFileError) return error.problems;
      throw error;
    }
  };

  it("each file using a fragment gets its steps and its problems; a saved fragment's new text is read", () => {
    const one = join(dir, 'one.yaml');
    const two = join(dir, 'two.yaml');
    writeFileSync(one, scenario('one'));
    writeFileSync(two, scenario('two'));
    writeFileSync(fragment, 'params:\n  who: {}\nsteps:\n  - send: { client: "${{ params.who }}", json: { type: ping } }\n');
    expect(loadScenario(one).steps.at(-1)).toEqual({ send: { client: 'a', json: { type: 'ping' } } });
    expect(loadScenario(two).steps.at(-1)).toEqual({ send: { client: 'a', json: { type: 'ping' } } });

    // A malformed fragment: every file using it is refused, each with the fragment's problem.
    writeFileSync(fragment, 'params:\n  who: {}\nsteps:\n  - sned: { client: "${{ params.who }}" }\n');
    const [a, b] = [problemsOf(one), problemsOf(two)];
    expect(a.length).toBeGreaterThan(0);
    expect(a.join('\n')).toMatch(/hello\.yaml:4/);
    expect(b).toEqual(a);

    // Fixed again (as --watch sees a save): loads with the new steps.
    writeFileSync(fragment, 'params:\n  who: {}\nsteps:\n  - send: { client: "${{ params.who }}", json: { type: hello } }\n');
    expect(loadScenario(one).steps.at(-1)).toEqual({ send: { client: 'a', json: { type: 'hello' } } });
  });

  it('a fragment reading ${{ env.X }} is resolved with the environment of each load', () => {
    const file = join(dir, 'env.yaml');
    writeFileSync(file, scenario('env'));
    writeFileSync(fragment, 'params:\n  who: {}\nsteps:\n  - send: { client: "${{ params.who }}", json: { type: "${{ env.KIND }}" } }\n');
    const load = (kind: string) => loadScenario(file, readFileSync(file, 'utf8'), { env: { KIND: kind } }).steps.at(-1);
    expect(load('first')).toEqual({ send: { client: 'a', json: { type: 'first' } } });
    expect(load('second')).toEqual({ send: { client: 'a', json: { type: 'second' } } });
  });
});
