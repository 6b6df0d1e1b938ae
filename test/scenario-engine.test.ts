/**
 * The scenario engine's own guarantees: malformed files are refused with positions before anything runs;
 * matchers; the queued-client semantics; failures name the step and show a diff; reporters; and every PerkUp
 * scenario can fail (mutation test).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { WebSocketServer } from 'ws';
import { isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import { loadScenario, ScenarioFileError } from '../harness/scenarios/loader.js';
import { matches, mismatches } from '../harness/scenarios/matchers.js';
import { ScenarioClient } from '../harness/scenarios/client.js';
import { runScenario } from '../harness/scenarios/runner.js';
import { inProcessTargets } from '../harness/scenarios/target.js';
import { expandPaths } from '../harness/scenarios/paths.js';
import { consoleLine, consoleSummary, json, junit, markdown, timelineDiagram } from '../harness/scenarios/reporters.js';
import { renderMismatch } from '../harness/scenarios/diff.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('loader', () => {
  it('refuses a malformed file with file:line:column and what was expected, listing every problem', () => {
    const file = fileURLToPath(new URL('./fixtures/scenarios/malformed.yaml', import.meta.url));
    let error: unknown;
    try {
      loadScenario(file);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ScenarioFileError);
    const rel = 'test/fixtures/scenarios/malformed.yaml';
    expect((error as ScenarioFileError).problems.map((p) => p.replace(file, rel))).toEqual([
      `${rel}:7:60: steps.1.expectMessage: unknown key "whithin" (did you mean "within"?)`,
      `${rel}:11:19: steps.4.advanceClock: expected number or must match pattern "^\\d+(\\.\\d+)?(ms|s|m|h)$"`,
      `${rel}:8:30: unknown client "bob" (declared: alice)`,
      `${rel}:9:5: a step needs exactly one action (connect, send, subscribe, graphql, expectMessage, expectNoMessage, expectCacheInvalidated, expectConnection, expectClosed, expectMetric, expect, fault, advanceClock, disconnect, sleep; or use, repeat), found send + sleep`,
    ]);
  });

  it('reports an unknown client and a bad duration once the schema is satisfied', () => {
    const text = `name: x\nclients:\n  alice: {}\nsteps:\n  - connect: alice\n  - expectMessage: { client: bob, match: {} }\n  - expectNoMessage: { client: alice, during: soon }\n`;
    expect(() => loadScenario('inline.yaml', text)).toThrow('inline.yaml:6:30: unknown client "bob" (declared: alice)');
    expect(() => loadScenario('inline.yaml', text)).toThrow(
      'inline.yaml:7:47: steps.2.expectNoMessage.during: expected number or must match pattern',
    );
  });

  it('reports YAML syntax errors with their position', () => {
    expect(() => loadScenario('bad.yaml', 'name: x\nsteps:\n  - connect: [unclosed\n')).toThrow(/^bad\.yaml:\d+:\d+: YAML: /);
  });

  it('reads latency and the new faults, and refuses what cannot mean anything', () => {
    const base = `name: x\nclients:\n  a: {}\nsteps:\n  - connect: a\n`;
    expect(
      loadScenario(
        'ok.yaml',
        `latency: aws\n${base}  - fault: { lambdaTimeout: { function: graphql, afterCalls: 1 } }\n  - fault: { dynamodbIndexLag: { ms: 1s } }\n`,
      ).latency,
    ).toBe('aws');
    expect(() => loadScenario('bad.yaml', `latency: fast\n${base}`)).toThrow('bad.yaml:1:10: latency: expected one of ["none","aws"]');
    expect(() =>
      loadScenario('bad.yaml', `${base}  - fault: { lambdaTimeout: { function: graphql, afterMs: 10, afterCalls: 1 } }\n`),
    ).toThrow(/steps\.1\.fault\.lambdaTimeout/);
    expect(() => loadScenario('bad.yaml', `${base}  - fault: { lambdaTimeout: { function: graphql, afterCalls: 0 } }\n`)).toThrow(
      /afterCalls: must be >= 1/,
    );
  });

  it('every PerkUp scenario loads, known failures and load scenarios included', async () => {
    for (const file of await expandPaths(['scenarios/load'], root)) expect(() => loadScenario(file)).not.toThrow();
    const files = await expandPaths([], root);
    for (const file of files) expect(() => loadScenario(file)).not.toThrow();
  });
});

describe('matchers', () => {
  it('partial objects, exact arrays, and operators', () => {
    expect(matches({ type: 'a' }, { type: 'a', extra: 1 })).toBe(true);
    expect(matches({ keys: ['a', 'b'] }, { keys: ['a', 'b', 'c'] })).toBe(false);
    expect(matches({ keys: { $arrayContaining: ['b'] } }, { keys: ['a', 'b', 'c'] })).toBe(true);
    expect(matches({ t: { $isoTimestamp: true } }, { t: '2026-11-24T10:00:00.000Z' })).toBe(true);
    expect(matches({ t: { $isoTimestamp: true } }, { t: 'yesterday' })).toBe(false);
    expect(matches({ s: { $anyString: true } }, { s: 3 })).toBe(false);
    expect(matches({ s: { $regex: '^ab', $options: 'i' } }, { s: 'ABC' })).toBe(true);
    expect(matches({ d: { $exists: false } }, { x: 1 })).toBe(true);
    expect(matches({ d: { $exact: { a: 1 } } }, { d: { a: 1, b: 2 } })).toBe(false);
    expect(matches({ n: { $gt: 2, $lte: 3 } }, { n: 3 })).toBe(true);
    expect(() => matches({ x: { $bogus: 1 } }, { x: 1 })).toThrow('Unknown matcher $bogus');
  });

  it('a mismatch names the path and shows a diff', () => {
    expect(mismatches({ data: { city: 'Paris' } }, { data: { city: 'Lyon' } })).toEqual([
      { path: 'data.city', expected: '"Paris"', actual: 'Lyon' },
    ]);
    const text = renderMismatch('frame', { action: 'created' }, { action: 'updated', id: 1 });
    expect(text).toContain('at action: expected "created", received "updated"');
    expect(text).toContain('-   "action": "created"');
    expect(text).toContain('+   "action": "updated"');
  });
});

describe('the queued client', () => {
  let server: WebSocketServer;
  let url: string;
  beforeAll(async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    url = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
    // Echo server: replies to "say:<json>" by sending <json> back; "later:<ms>:<json>" after a delay.
    server.on('connection', (socket) =>
      socket.on('message', (data) => {
        const text = data.toString();
        const later = /^later:(\d+):(.*)$/.exec(text);
        if (later) setTimeout(() => socket.send(later[2]), Number(later[1]));
        else socket.send(text.replace(/^say:/, ''));
      }),
    );
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('finds a frame that arrived before the expectation, consumes it, and takes the first match', async () => {
    const client = new ScenarioClient('c', undefined);
    await client.connect(url);
    client.send('say:{"n":1,"kind":"a"}');
    client.send('say:{"n":2,"kind":"a"}');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await client.waitFor({ kind: 'a' }, 10_000)).json).toEqual({ n: 1, kind: 'a' });
    expect((await client.waitFor({ kind: 'a' }, 10_000)).json).toEqual({ n: 2, kind: 'a' });
    await expect(client.waitFor({ kind: 'a' }, 100)).rejects.toThrow('c: no message matching the pattern within 100 ms');
    await client.disconnect();
  });

  it('waits for a future frame', async () => {
    const client = new ScenarioClient('c', undefined);
    await client.connect(url);
    client.send('later:150:{"kind":"late"}');
    expect((await client.waitFor({ kind: 'late' }, 10_000)).json).toEqual({ kind: 'late' });
    await client.disconnect();
  });

  it('expectNone fails when a matching frame arrives during the window, and on one already queued', async () => {
    const client = new ScenarioClient('c', undefined);
    await client.connect(url);
    client.send('later:50:{"kind":"bad"}');
    await expect(client.expectNone({ kind: 'bad' }, 200)).rejects.toThrow('received a message it must not receive');
    await expect(client.expectNone({ kind: 'other' }, 50)).resolves.toBeUndefined();
    await client.disconnect();
  });

  it('expectations in one step overlap: a late positive match is found while the no-message window runs', async () => {
    const client = new ScenarioClient('c', undefined);
    await client.connect(url);
    client.send('later:200:{"kind":"wanted"}');
    const order: string[] = [];
    await Promise.all([
      client.expectNone({ kind: 'unwanted' }, 300).then(() => order.push('window closed')),
      client.waitFor({ kind: 'wanted' }, 1000).then(() => order.push('wanted arrived')),
    ]);
    // The positive wait completed inside the window rather than after it.
    expect(order).toEqual(['wanted arrived', 'window closed']);
    await client.disconnect();
  });
});

describe('runs, failures, reports', () => {
  const targets = inProcessTargets({ projectRoot: root, size: 3 });
  afterAll(() => targets.close());

  it('a failing step is named, with a diff against the nearest frame and the frames received', async () => {
    const scenario = loadScenario(
      'inline.yaml',
      `name: ping answers pang
clients:
  m: { claims: { sub: m, role: user } }
steps:
  - connect: m
  - send: { client: m, json: { type: ping } }
  - name: the answer
    expectMessage: { client: m, match: { type: pang }, within: 500ms }
  - send: { client: m, json: { type: ping } }
`,
    );
    const target = await targets.acquire();
    try {
      const result = await runScenario(scenario, target);
      expect(result.status).toBe('failed');
      expect(result.failure).toContain('step 3 (expectMessage "the answer") at inline.yaml:7');
      expect(result.failure).toContain('at type: expected "pang", received "pong"');
      expect(result.failure).toContain('frames received in the window:');
      expect(result.failure).toContain('last events:');
      expect(result.steps.map((s) => s.status)).toEqual(['passed', 'passed', 'failed', 'skipped']);
      const report = markdown([result]);
      expect(report).toContain('```mermaid\nsequenceDiagram');
      expect(timelineDiagram(result)).toMatch(/API->>\+L: websocket \$connect/);
      const xml = junit([result]);
      expect(xml).toMatch(/<testsuite name="scenarios" tests="1" failures="1"/);
      expect(xml).toContain('file="inline.yaml" line="7"');
      expect(xml).toContain('<failure message="step 3 (expectMessage &quot;the answer&quot;) at inline.yaml:7" type="step">');
    } finally {
      await target.release();
    }
  });

  it('a breached SLO fails the scenario and says which', async () => {
    const scenario = loadScenario(
      'slo.yaml',
      `name: impossible SLO
clients:
  m: { claims: { sub: m, role: user } }
slo: { maxDurationMs: 1 }
steps:
  - connect: m
`,
    );
    const target = await targets.acquire();
    try {
      const result = await runScenario(scenario, target);
      expect(result.status).toBe('failed');
      expect(result.sloBreaches).toEqual([expect.stringMatching(/^took \d+ ms, more than maxDurationMs 1$/)]);
      expect(result.failure).toMatch(/SLO breached: took \d+ ms/);
    } finally {
      await target.release();
    }
  });

  describe('never passes vacuously (each rule proved by a scenario it must catch)', () => {
    it('a scenario with a step that could not run is reported as skipped, never passed: console, JUnit <skipped/>, JSON', async () => {
      const scenario = loadScenario(
        'skips.yaml',
        `name: needs the insides
clients:
  m: { claims: { sub: m, role: user } }
steps:
  - connect: m
  - subscribe: { client: m, topics: [partners] }
  - expectConnection: { client: m, state: present }
`,
      );
      const target = await targets.acquire();
      try {
        // The same emulator seen from outside: no insides, as on a remote target.
        const result = await runScenario(scenario, { ...target, name: 'remote (test)', insides: undefined });
        expect(result.status).toBe('skipped');
        expect(result.skipReason).toMatch(/1 step\(s\) skipped: step 3 \(expectConnection\): needs the emulator's insides/);
        expect(consoleLine(result)).toMatch(/^↷ needs the insides .* SKIPPED, not passed/);
        expect(consoleSummary([result], 1)).toMatch(/0 passed, 0 failed, 1 skipped/);
        expect(junit([result])).toMatch(
          /<testsuite name="scenarios" tests="1" failures="0" errors="0" skipped="1"[^>]*>[\s\S]*<skipped message="1 step\(s\) skipped/,
        );
        expect(JSON.parse(json([result]))).toMatchObject({ passed: 0, failed: 0, skipped: 1 });
      } finally {
        await target.release();
      }
    });

    it('expectNoMessage fails on a forbidden frame even when a broader expectation of the same block consumed it', async () => {
      const scenario = loadScenario(
        'consumed.yaml',
        `name: a pong is forbidden
clients:
  m: { claims: { sub: m, role: user } }
steps:
  - connect: m
  - send: { client: m, json: { type: ping } }
  - expect:
      - message: { client: m, match: { $any: true } }
      - noMessage: { client: m, match: { type: pong }, during: 1s }
`,
      );
      const target = await targets.acquire();
      try {
        const result = await runScenario(scenario, target);
        expect(result.status).toBe('failed');
        expect(result.failure).toMatch(/step 3 \(expect\)[\s\S]*received a message it must not receive/);
      } finally {
        await target.release();
      }
    });

    it('a standalone expectNoMessage shorter than the stream batching window still sees the notification it forbids', async () => {
      // serverless.yml's notifier gathers stream records for 1 s: a 300 ms window that opened with the mutation's
      // answer would close before the notification could come, and pass whatever the app did.
      const text = `name: nobody may hear of this partner
clients:
  admin: { claims: { sub: admin-1, role: admin } }
  m: { claims: { sub: m, role: user } }
steps:
  - connect: m
  - subscribe: { client: m, topics: [partners] }
  - graphql:
      as: admin
      query: >-
        mutation { createPartner(input: { name: "Le Dôme", category: "Restaurant", address: "108 boulevard du Montparnasse",
        city: "Paris", zipCode: "75014", phone: "01 43 35 25 81", discount: 10, latitude: 48.8424, longitude: 2.3291 }) { success } }
      expect: { data: { createPartner: { success: true } } }
  - expectNoMessage: { client: m, match: { type: partner_updated }, during: 300ms }
`;
      const scenario = loadScenario('late.yaml', text);
      const target = await targets.acquire();
      try {
        const watched = await runScenario(scenario, target);
        expect(watched.status).toBe('failed');
        expect(watched.failure).toMatch(/step 4 \(expectNoMessage\)[\s\S]*received a message it must not receive/);
        // Seen from outside (no insides): the runner cannot watch the pipelines and waits out the batching window.
        const remote = await runScenario(scenario, { ...target, name: 'remote (test)', insides: undefined });
        expect(remote.status).toBe('failed');
        expect(remote.failure).toMatch(/step 4 \(expectNoMessage\)[\s\S]*received a message it must not receive/);
        // The same absence as the only expectation of an `expect` block: no positive to wait for, the pipelines are.
        const inBlock = loadScenario(
          'late-block.yaml',
          text.replace(
            '  - expectNoMessage: { client: m, match: { type: partner_updated }, during: 300ms }',
            '  - expect: [{ noMessage: { client: m, match: { type: partner_updated }, during: 300ms } }]',
          ),
        );
        const block = await runScenario(inBlock, target);
        expect(block.status).toBe('failed');
        expect(block.failure).toMatch(/step 4 \(expect\)[\s\S]*received a message it must not receive/);
      } finally {
        await target.release();
      }
    });

    it.each([
      ['expectNoMessage: { client: m, during: 0 }', /steps\.1\.expectNoMessage\.during: .*during must be more than 0/s],
      ['expectNoMessage: { client: m, during: 0ms }', /during must be more than 0/],
      ['expect: [{ noMessage: { client: m, during: 0s } }]', /steps\.1\.expect\.0\.noMessage\.during: .*during must be more than 0/s],
      ['expectConnection: {}', /needs `client` \(with `state`\) or `count`/],
      ['expectConnection: { within: 2s }', /needs `client` \(with `state`\) or `count`/],
      ['expect: [{ connection: { state: gone } }]', /needs `client` \(with `state`\) or `count`/],
    ])('the loader refuses a vacuous expectation: %s', (step, message) => {
      const text = `name: vacuous\nclients:\n  m: {}\nsteps:\n  - connect: m\n  - ${step}\n`;
      expect(() => loadScenario('vacuous.yaml', text)).toThrow(message);
    });
  });

  it('mutation test: changing one expected value in each PerkUp scenario, and in each fragment, makes it fail, naming the step', async () => {
    const files = await expandPaths([], root);
    const mutants = files.flatMap((file) => {
      const mutant = mutate(readFileSync(file, 'utf8'));
      return mutant ? [{ file, ...mutant }] : [];
    });
    // Every scenario has at least one expected value to change.
    expect(mutants.map((m) => m.file)).toEqual(files);
    // A fragment's expected value (e.g. create-partner's default `success: true`) is changed in a copy beside the
    // first scenario using it with that default, which must then fail.
    const fragmentsDir = join(root, 'scenarios', 'fragments');
    const copies = mkdtempSync(join(tmpdir(), 'fragment-mutants-'));
    for (const name of readdirSync(fragmentsDir)) {
      const mutant = mutate(readFileSync(join(fragmentsDir, name), 'utf8'));
      expect(mutant, name).toBeDefined();
      const usesDefaults = (f: string): boolean =>
        (parseDocument(readFileSync(f, 'utf8')).toJS() as { steps: Array<{ use?: { fragment: string; with?: object } }> }).steps.some(
          (s) => s.use?.fragment === name.replace(/\.yaml$/, '') && !('expect' in (s.use.with ?? {})),
        );
      const user = files.find(usesDefaults);
      expect(user, `a scenario using ${name}`).toBeDefined();
      const dir = join(copies, name);
      mkdirSync(join(dir, 'fragments'), { recursive: true });
      writeFileSync(join(dir, 'fragments', name), mutant!.text);
      const file = join(dir, basename(user!));
      writeFileSync(file, readFileSync(user!, 'utf8'));
      mutants.push({ file, text: readFileSync(file, 'utf8'), change: `${name} ${mutant!.change}` });
    }
    const outcomes = await Promise.all(
      mutants.map(async (m) => {
        const target = await targets.acquire();
        try {
          const result = await runScenario(loadScenario(m.file, m.text), target, { defaultWithinMs: 800 });
          return {
            file: m.file.slice(root.length),
            change: m.change,
            status: result.status,
            namesStep: /step \d+ \(/.test(result.failure ?? ''),
          };
        } finally {
          await target.release();
        }
      }),
    );
    expect(outcomes.filter((o) => o.status !== 'failed' || !o.namesStep)).toEqual([]);
  }, 600_000); // 38 mutants, each waiting out its failing expectation: minutes on a loaded two-core machine
});

/**
 * Changes the first expected scalar of a positive expectation (a message pattern, GraphQL data, cache keys, a
 * connection state or count, a close code), preferring the fields the issue names: an action, a key, a city.
 */
function mutate(text: string): { text: string; change: string } | undefined {
  const doc = parseDocument(text);
  const candidates: Array<{ node: YamlNode; key: string; path: string }> = [];
  const visit = (node: unknown, key: string, path: string, inPositive: boolean): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const k = String((pair.key as { value?: unknown })?.value ?? pair.key);
        // Negative expectations and matcher arguments that are flags cannot be mutated into a failure.
        if (
          [
            'noMessage',
            'expectNoMessage',
            'variables',
            'query',
            'capture',
            'within',
            'during',
            'name',
            '$isoTimestamp',
            '$anyString',
            '$regex',
            '$options',
            '$exists',
            '$not',
            'client',
            'as',
            'mode',
          ].includes(k)
        )
          continue;
        const positive =
          inPositive ||
          [
            'match',
            'expect',
            'expectMessage',
            'expectCacheInvalidated',
            'expectConnection',
            'expectClosed',
            'message',
            'cacheInvalidated',
            'connection',
            'closed',
            'data',
            'keys',
            'state',
            'count',
            'code',
            'status',
          ].includes(k);
        visit(pair.value, k, `${path}.${k}`, positive);
      }
    } else if (isSeq(node)) {
      for (const [i, item] of node.items.entries()) visit(item, key, `${path}[${i}]`, inPositive);
    } else if (isScalar(node) && inPositive && !path.includes('.connect') && !path.includes('.graphql.expect.errors')) {
      candidates.push({ node, key, path });
    }
  };
  visit(doc.contents, '', '', false);
  const preferred = ['action', 'keys', 'city', 'type', 'state', 'count', 'success', 'code', 'status'];
  const chosen = preferred.map((k) => candidates.find((c) => c.key === k)).find(Boolean) ?? candidates[0];
  if (!chosen) return undefined;
  const scalar = chosen.node as { value: unknown };
  const before = scalar.value;
  if (typeof before === 'number') scalar.value = before + 1;
  else if (typeof before === 'boolean') scalar.value = !before;
  else if (before === null) scalar.value = 'not-null';
  else if (before === 'gone') scalar.value = 'present';
  else if (before === 'present') scalar.value = 'gone';
  else scalar.value = `${String(before)}-mutated`;
  return { text: doc.toString(), change: `${chosen.path}: ${JSON.stringify(before)} → ${JSON.stringify(scalar.value)}` };
}
