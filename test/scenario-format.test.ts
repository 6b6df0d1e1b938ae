/**
 * The scenario format's one source (harness/scenarios/schema.ts) and what authors write with it: the generated
 * schemas kept in sync, what an editor sees, load errors with a code frame and "did you mean", `${{ env.X }}`,
 * fragments with parameters, `repeat`; and at run time `timeout`, GraphQL `headers`, `expect.schema` and captures
 * from frames, against a real WebSocket server and a real HTTP server (no emulator needed for those).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { WebSocketServer } from 'ws';
import { parse } from 'yaml';
import { loadScenario, ScenarioFileError } from '../harness/scenarios/loader.js';
import { OPERATORS } from '../harness/scenarios/matchers.js';
import { expandPaths } from '../harness/scenarios/paths.js';
import { runScenario } from '../harness/scenarios/runner.js';
import { fragmentSchema, scenarioSchema } from '../harness/scenarios/schema.js';
import type { ScenarioTarget } from '../harness/scenarios/target.js';
import { schemaFiles, schemaPath, schemaText } from '../harness/scenarios/writeSchemas.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The problems a text is refused with, file name normalised. */
function problemsOf(text: string, file = 'f.yaml', env: Record<string, string> = {}): string[] {
  try {
    loadScenario(file, text, { env });
  } catch (error) {
    if (error instanceof ScenarioFileError) return error.problems;
    throw error;
  }
  throw new Error('the scenario loaded');
}

describe('one source for the format', () => {
  it.each(Object.keys(schemaFiles))('harness/scenarios/%s is generated from schema.ts and up to date', (name) => {
    const written = readFileSync(schemaPath(name as keyof typeof schemaFiles), 'utf8');
    // Stale: run `npx tsx harness/scenarios/writeSchemas.ts`.
    expect(written).toBe(schemaText(schemaFiles[name as keyof typeof schemaFiles]));
  });

  it('editors are pointed at the schemas for every scenario folder, without a modeline in the files', async () => {
    const settings = JSON.parse(readFileSync(join(root, '.vscode/settings.json'), 'utf8')) as { 'yaml.schemas': Record<string, string[]> };
    const scenarioGlobs = settings['yaml.schemas']['./harness/scenarios/scenario.schema.json'];
    const files = await expandPaths(['scenarios'], root);
    const folders = new Set(files.map((f) => f.slice(root.length).split('/').slice(0, 2).join('/')));
    for (const folder of folders) expect(scenarioGlobs).toContain(`${folder}/*.yaml`);
    expect(settings['yaml.schemas']['./harness/scenarios/fragment.schema.json']).toEqual(['scenarios/fragments/*.yaml']);
    for (const file of files) expect(readFileSync(file, 'utf8')).not.toMatch(/yaml-language-server/);
  });

  describe('what an editor validating with the generated file sees', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const scenario = ajv.compile(JSON.parse(readFileSync(schemaPath('scenario.schema.json'), 'utf8')) as object);
    const fragment = ajv.compile(JSON.parse(readFileSync(schemaPath('fragment.schema.json'), 'utf8')) as object);
    const base = { name: 'x', clients: { a: {} } };

    it('every PerkUp scenario and fragment is valid', async () => {
      for (const file of await expandPaths(['scenarios'], root)) expect(scenario(parse(readFileSync(file, 'utf8'))), file).toBe(true);
      expect(fragment(parse(readFileSync(join(root, 'scenarios/fragments/create-partner.yaml'), 'utf8')))).toBe(true);
    });

    it('flags a step with two actions, or none, and an unknown key', () => {
      expect(scenario({ ...base, steps: [{ connect: 'a' }] })).toBe(true);
      expect(scenario({ ...base, steps: [{ connect: 'a', sleep: 10 }] })).toBe(false);
      expect(scenario({ ...base, steps: [{ name: 'nothing to do' }] })).toBe(false);
      expect(scenario({ ...base, steps: [{ connect: 'a', within: 10 }] })).toBe(false);
      expect(scenario({ ...base, steps: [{ expect: [{ message: { client: 'a', match: {} }, closed: { client: 'a' } }] }] })).toBe(false);
    });

    it('describes every matcher, and nested patterns are patterns too', () => {
      const pattern = (scenarioSchema.definitions.pattern as { properties: Record<string, { description?: string }> }).properties;
      expect(Object.keys(pattern).sort()).toEqual([...OPERATORS].sort());
      for (const [name, schema] of Object.entries(pattern)) expect(schema.description, name).toBeTruthy();
      const match = (m: unknown) => scenario({ ...base, steps: [{ expectMessage: { client: 'a', match: m } }] });
      expect(match({ data: { name: { $regex: '^Le' }, tags: [{ $anyString: true }] } })).toBe(true);
      expect(match({ data: { name: { $regex: 42 } } })).toBe(false);
      expect(match({ data: { n: { $gt: 'three' } } })).toBe(false);
    });

    it('in a fragment, a parameter may stand for any value', () => {
      const steps = [{ graphql: { query: 'q', expect: '${{ params.expect }}', capture: '${{ params.capture }}' } }];
      expect(fragment({ params: { expect: {}, capture: { default: {} } }, steps })).toBe(true);
      expect(scenario({ ...base, steps })).toBe(false);
      expect(fragmentSchema.definitions.step).not.toEqual(scenarioSchema.definitions.step);
    });
  });
});

describe('load errors', () => {
  const head = 'name: x\nclients:\n  alice: {}\nsteps:\n';

  it('say "did you mean" for an unknown action, key, client or matcher-free typo', () => {
    expect(problemsOf(`${head}  - conect: alice\n`)).toEqual([
      expect.stringMatching(
        /^f\.yaml:5:5: a step needs exactly one action \(.*\), found none; unknown key "conect" \(did you mean "connect"\?\)$/,
      ),
    ]);
    expect(problemsOf(`${head}  - connect: alice\n    nmae: first\n`)).toEqual([
      'f.yaml:6:5: steps.0: unknown key "nmae" (did you mean "name"?)',
    ]);
    expect(problemsOf(`${head}  - connect: alicee\n`)).toEqual([
      'f.yaml:5:14: unknown client "alicee" (did you mean "alice"?) (declared: alice)',
    ]);
    expect(problemsOf(`${head}  - expect: [{ mesage: { client: alice, match: {} } }]\n`)).toEqual([
      expect.stringMatching(
        /steps\.0\.expect\.0: expected one of the keys message, noMessage, .*; unknown key "mesage" \(did you mean "message"\?\)$/,
      ),
    ]);
    // Nothing close: no guess.
    expect(problemsOf(`${head}  - connect: alice\n    zzzzzzzz: 1\n`)[0]).not.toContain('did you mean');
  });

  it('name a malformed header or capture name', () => {
    expect(problemsOf(`${head}  - graphql: { query: q, headers: { "bad header": x }, capture: { "1x": $.a } }\n`)).toEqual([
      expect.stringMatching(/^f\.yaml:5:37: steps\.0\.graphql\.headers: "bad header" is not a valid name here \(must match /),
      expect.stringMatching(/^f\.yaml:5:67: steps\.0\.graphql\.capture: "1x" is not a valid name here \(must match /),
    ]);
  });

  it('quote the offending lines with a caret under the place', () => {
    let message = '';
    try {
      loadScenario(
        'f.yaml',
        `${head}  - connect: alice\n  - expectMessage: { client: alice, match: {}, whithin: 2s }\n  - connect: alice\n`,
      );
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('f.yaml:6:48: steps.1.expectMessage: unknown key "whithin" (did you mean "within"?)');
    const lines = message.split('\n');
    expect(lines.slice(1, 3)).toEqual(['  5 |   - connect: alice', '> 6 |   - expectMessage: { client: alice, match: {}, whithin: 2s }']);
    // The caret sits under the unknown key.
    expect(lines[3].indexOf('^')).toBe(lines[2].indexOf('whithin'));
    expect(lines[4]).toBe('  7 |   - connect: alice');
  });
});

describe('${{ env.X }}', () => {
  const text =
    'name: x\nclients:\n  a: {}\nsteps:\n  - connect: a\n  - send: { client: a, text: "${{ env.GREETING }} from ${{ env.CITY ?? \'Paris\' }}" }\n';
  it('is read when the file loads, a default standing in for an unset variable', () => {
    expect(loadScenario('f.yaml', text, { env: { GREETING: 'hello' } }).steps[1].send?.text).toBe('hello from Paris');
    expect(loadScenario('f.yaml', text, { env: { GREETING: 'hi', CITY: 'Lyon' } }).steps[1].send?.text).toBe('hi from Lyon');
  });
  it('unset and without a default is an error naming the variable and its place', () => {
    expect(problemsOf(text)).toEqual([
      "f.yaml:6:30: ${{ env.GREETING }}: GREETING is not set (give a default with ${{ env.GREETING ?? 'value' }})",
    ]);
  });
});

describe('fragments and repeat', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scenario-fragments-'));
  mkdirSync(join(dir, 'fragments'));
  writeFileSync(
    join(dir, 'fragments', 'greet.yaml'),
    `params:
  who: { description: the client }
  word: { default: hello }
  times: { default: 1 }
  note: { optional: true }
steps:
  - send: { client: "\${{ params.who }}", json: { say: "\${{ params.word }}, \${{ params.who }}", note: "\${{ params.note }}" }, repeat: "\${{ params.times }}" }
  - expectMessage: { client: "\${{ params.who }}", match: { said: "\${{ params.word }}" } }
`,
  );
  const file = join(dir, 'greeting.yaml');
  const head = 'name: x\nclients:\n  a: {}\nsteps:\n  - connect: a\n';

  it('use inserts the fragment steps with its parameters, typed, and says where each came from', () => {
    const scenario = loadScenario(file, `${head}  - use: { fragment: greet, with: { who: a, times: 2 } }\n`);
    expect(scenario.steps.slice(1)).toEqual([
      { send: { client: 'a', json: { say: 'hello, a' }, repeat: 2 } }, // `note` left out: its key is gone
      { expectMessage: { client: 'a', match: { said: 'hello' } } },
    ]);
    expect(scenario.stepLines).toEqual([5, 6, 6]);
    expect(scenario.stepOrigins[1].via).toMatch(/^greet step 1 \(.*fragments\/greet\.yaml:7\)$/);
    // What --watch reruns when the fragment is saved.
    expect(scenario.fragments).toEqual([join(dir, 'fragments', 'greet.yaml')]);
  });

  it('a missing or unknown parameter, or a value of the wrong type, is refused where it is written', () => {
    expect(problemsOf(`${head}  - use: { fragment: greet }\n`, file)).toEqual([`${file}:6:10: fragment greet needs parameter "who"`]);
    expect(problemsOf(`${head}  - use: { fragment: greet, with: { who: a, wrod: hi } }\n`, file)).toEqual([
      `${file}:6:45: fragment greet has no parameter "wrod" (did you mean "word"?) (parameters: who, word, times, note)`,
    ]);
    // The fragment's `repeat` is an integer only once `times` is in: the error points into the fragment.
    expect(problemsOf(`${head}  - use: { fragment: greet, with: { who: a, times: many } }\n`, file)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${join(dir, 'fragments', 'greet.yaml')}:7:\\d+: steps\\.0\\.send\\.repeat: expected integer \\(in fragment greet, used at .*greeting\\.yaml:6\\)$`,
        ),
      ),
    ]);
    expect(problemsOf(`${head}  - use: { fragment: greeet, with: { who: a } }\n`, file)[0]).toMatch(/no fragment "greeet"/);
    expect(problemsOf(`${head}  - use: { fragment: greet, with: { who: bob } }\n`, file)[0]).toMatch(
      /greet\.yaml:7:\d+: unknown client "bob" .*\(in fragment greet, used at/,
    );
  });

  it('repeat runs its steps `times` times, ${{ repeat.index }} counting, each pointing at its own line', () => {
    const scenario = loadScenario(
      file,
      `${head}  - repeat:\n      times: 3\n      steps:\n        - send: { client: a, text: "ping \${{ repeat.index }}" }\n        - sleep: 1\n`,
    );
    expect(scenario.steps.slice(1).map((s) => s.send?.text ?? s.sleep)).toEqual(['ping 1', 1, 'ping 2', 1, 'ping 3', 1]);
    expect(scenario.stepLines.slice(1)).toEqual([9, 10, 9, 10, 9, 10]);
    expect(scenario.stepOrigins.slice(1).map((o) => o.via)).toEqual([
      'repeat 1 of 3',
      'repeat 1 of 3',
      'repeat 2 of 3',
      'repeat 2 of 3',
      'repeat 3 of 3',
      'repeat 3 of 3',
    ]);
    expect(problemsOf(`${head}  - repeat: { times: 0, steps: [{ sleep: 1 }] }\n`, file)[0]).toMatch(/repeat\.times: must be >= 1/);
  });

  it('the PerkUp suite writes the create mutation once', async () => {
    const files = await expandPaths(['scenarios'], root);
    // A load section's mutation workload is written in its own terms (operations with placeholders), not as steps.
    const stepsOf = (f: string) => readFileSync(f, 'utf8').split(/^load:/m)[0];
    const inline = files.filter((f) => stepsOf(f).includes('createPartner(input'));
    expect(inline).toEqual([]);
    const users = files.filter((f) => readFileSync(f, 'utf8').includes('fragment: create-partner'));
    expect(users.length).toBeGreaterThanOrEqual(32);
  });
});

describe('at run time (a real WebSocket server and a real HTTP server as the target)', () => {
  let ws: WebSocketServer;
  let http: Server;
  const requests: Array<{ headers: IncomingHttpHeaders; body: { variables?: Record<string, unknown> } }> = [];
  let target: ScenarioTarget;

  beforeAll(async () => {
    ws = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    // "ping" is answered with a partner frame; "broadcast" sends one to every socket 300 ms later; nothing else is answered.
    ws.on('connection', (socket) =>
      socket.on('message', (data) => {
        if (data.toString() === 'ping') socket.send(JSON.stringify({ type: 'partner', partner: { id: 'p-1', discount: 12 } }));
        if (data.toString() === 'broadcast')
          setTimeout(() => {
            for (const client of ws.clients) client.send(JSON.stringify({ type: 'news' }));
          }, 300);
      }),
    );
    http = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        requests.push({ headers: req.headers, body: JSON.parse(body) as { variables?: Record<string, unknown> } });
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ data: { partner: { id: 'p-1', name: 'Chez Janou' } } }));
      });
    });
    await Promise.all([
      new Promise((resolve) => ws.once('listening', resolve)),
      new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve)),
    ]);
    target = {
      name: 'local servers',
      graphqlUrl: `http://127.0.0.1:${(http.address() as { port: number }).port}/graphql`,
      wsUrl: `ws://127.0.0.1:${(ws.address() as { port: number }).port}`,
      mintToken: async () => 'unused',
      tokenQueryParameter: 'token',
      subscribe: undefined,
      insides: undefined,
      release: async () => undefined,
    };
  });
  afterAll(async () => {
    await new Promise((resolve) => ws.close(resolve));
    await new Promise((resolve) => http.close(resolve));
  });

  const run = (steps: string) =>
    runScenario(
      loadScenario('run.yaml', `name: run\nclients:\n  m: { token: t-1 }\n  o: { token: t-2 }\nsteps:\n  - connect: m\n${steps}`),
      target,
    );

  it('in an expect block, a no-message window lasts until `during` after the positive expectations are met', async () => {
    // The forbidden frame comes with the expected one, 300 ms in: a 100 ms window closed at the start would miss it.
    const result = await run(
      '  - connect: o\n  - send: { client: m, text: broadcast }\n  - expect:\n      - message: { client: m, match: { type: news } }\n      - noMessage: { client: o, match: { type: news }, during: 100ms }\n',
    );
    expect(result.status).toBe('failed');
    expect(result.failure).toMatch(/step 4 \(expect\)[\s\S]*o: received a message it must not receive/);
    expect(result.absenceWindows).toEqual([expect.objectContaining({ client: 'o', duringMs: 100, status: 'failed' })]);
  });

  it('a capture from a frame feeds a later GraphQL request, its variables and its headers', async () => {
    const result = await run(
      `  - send: { client: m, text: ping }
  - expectMessage: { client: m, match: { type: partner }, schema: { required: [partner], properties: { partner: { required: [id] } } }, capture: { partnerId: $.partner.id } }
  - graphql:
      as: m
      query: "query ($id: ID!) { partner(id: $id) { id } }"
      variables: { id: "\${{ partnerId }}" }
      headers: { X-Request-Id: "req-\${{ partnerId }}" }
      expect: { data: { partner: { id: p-1 } }, schema: { required: [data], properties: { data: { required: [partner] } } } }
`,
    );
    expect(result.status, result.failure).toBe('passed');
    const last = requests.at(-1)!;
    expect(last.body.variables).toEqual({ id: 'p-1' });
    expect(last.headers['x-request-id']).toBe('req-p-1');
    expect(last.headers.authorization).toBe('Bearer t-1');
  });

  it('a header of the step replaces the one `as` makes', async () => {
    const result = await run('  - graphql: { as: m, query: "{ x }", headers: { Authorization: Bearer other } }\n');
    expect(result.status, result.failure).toBe('passed');
    expect(requests.at(-1)!.headers.authorization).toBe('Bearer other');
  });

  it('a response or a frame that breaks its schema fails the step, saying which rule', async () => {
    const response = await run('  - graphql: { query: "{ x }", expect: { schema: { required: [errors] } } }\n');
    expect(response.status).toBe('failed');
    expect(response.failure).toMatch(
      /step 2 \(graphql\)[\s\S]*the response does not satisfy expect\.schema: \(root\) must have required property 'errors'/,
    );
    const frame = await run(
      '  - send: { client: m, text: ping }\n  - expectMessage: { client: m, match: { type: partner }, schema: { properties: { partner: { properties: { discount: { maximum: 10 } } } } } }\n',
    );
    expect(frame.status).toBe('failed');
    expect(frame.failure).toMatch(
      /step 3 \(expectMessage\)[\s\S]*does not satisfy the schema: \/partner\/discount must be <= 10[\s\S]*frame: \{"type":"partner"/,
    );
  });

  it('a step past its timeout fails, even while its own wait would go on', async () => {
    const result = await run('  - expectMessage: { client: m, match: { type: never }, within: 30s }\n    timeout: 300ms\n');
    expect(result.status).toBe('failed');
    expect(result.failure).toMatch(/^step 2 \(expectMessage\) at run\.yaml:7\n\s+did not finish within its timeout of 300 ms/);
  });

  it('an invalid JSON Schema is refused when the file loads', () => {
    expect(
      problemsOf('name: x\nclients:\n  m: {}\nsteps:\n  - graphql: { query: q, expect: { schema: { type: notAType } } }\n')[0],
    ).toMatch(/^f\.yaml:5:\d+: not a valid JSON Schema: /);
  });
});
