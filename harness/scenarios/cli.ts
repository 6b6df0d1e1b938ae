/**
 * `npm run scenarios -- [files, folders or globs] [--target http://localhost:3000 --ws ws://localhost:3001]
 *   [--reporter console,junit,json,markdown,github,html] [--out reports] [--concurrency 4] [--tag t] [--grep re] [--bail]`
 * Exit code 0 only when every scenario passed; 2 when a file is malformed (nothing runs then).
 */
import { parseArgs } from 'node:util';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { expandPaths } from './paths.js';
import { join, relative, resolve } from 'node:path';
import { loadScenario, ScenarioFileError } from './loader.js';
import { runScenarios } from './runner.js';
import { durationHistory } from './durations.js';
import { inProcessTargets, remoteTarget, type TargetFactory } from './target.js';
import { consoleLine, consoleSummary, githubAnnotations, githubSummary, json, junit, markdown } from './reporters.js';
import { SingleBar } from 'cli-progress';
import { watchScenarioFiles } from './watch.js';
import { htmlReport } from './html/report.js';
import { describeSelection, parseGrep, parseTags, selects, type Selection } from './select.js';
import { chooseDynamoDBEndpoint } from '../dynamodb/endpoint.js';
import { parseMode, parseScale, type LoadRunOptions } from './load/section.js';
import { summaryTable } from './load/summary.js';
import { loadProgressBars } from './load/progress.js';
import { stageTargets } from './stage/target.js';

const HELP = `Usage: npm run scenarios -- [paths or globs…] [options]

  (no paths)              every scenario under scenarios/ except scenarios/load/
  --target <url>          run against a running emulator's HTTP API (e.g. http://localhost:3000); needs --ws
  --ws <url>              its WebSocket URL (e.g. ws://localhost:3001)
  --stage <name>          run against a deployed stage: its endpoints from the outputs of the CloudFormation
                          stack <service>-<stage> (HttpApiUrl, ServiceEndpointWebsocket), AWS calls signed with
                          the default credential chain; a client's connection record is read with DynamoDB
                          GetItem, other steps needing the emulator's insides are skipped. Needs --token-command
  --token-command <cmd>   with --stage: prints a token for {role} / {sub} (shell-quoted; also SCENARIO_ROLE,
                          SCENARIO_SUB), e.g. "npm run -s token -- --sub {sub} --role {role} --stage test"
  --region <name>         with --stage: the stack's region (default serverless.yml's)
  --reporter <list>       console (default), junit, json, markdown, github, html — comma-separated; html is one
                          self-contained file with a sequence diagram per scenario; github prints
                          ::error/::warning annotations at the failing step's file:line and appends a
                          Markdown summary to $GITHUB_STEP_SUMMARY when it is set
  --out <dir>             where junit/json/markdown reports go (default reports/)
  --tag <tag>             only scenarios whose tags: include it (repeat or comma-separate for any of several)
  --grep <regex>          only scenarios whose name matches (case-insensitive)
  --bail                  start no scenario after the first failure (the rest are listed as not run)
  --watch                 after the run, keep the emulators warm and rerun each scenario file when it is saved
                          (Ctrl-C stops)
  --concurrency <n>       scenarios run at once, each on its own emulator (default 4: they mostly wait out stream
                          batching windows), longest first by the last run's durations; those with a load: section
                          or an slo: block run after, alone
  --strict / --no-strict  a skipped scenario (a step that could not run on this target) fails the run
                          (default: strict when CI is set, else a skip is reported but exits 0)
  --scale <f>             load sections at this fraction of their size (0 < f ≤ 1, e.g. 0.01; LOAD_SCALE too;
                          default full size)
  --connections <mode>    load sections' connections: simulated (in-process, no sockets: tens of thousands) or
                          ws (real sockets, also against --target; a few thousand). LOAD_CONNECTIONS too;
                          default the file's load.mode, else simulated
  --package <dir>         the in-process emulators run the deployable package npm run package wrote in <dir>
                          (e.g. .serverless) instead of the source, as its stage; refused when missing or stale
  --dynamodb <where>      the in-process emulators' DynamoDB: dynalite (default), localstack, floci or a URL
                          (docker-compose.localstack.yml; DYNAMODB_ENDPOINT also works)
  -h, --help`;

/** `{ key: value }` when the value is defined, else `{}` (exactOptionalPropertyTypes). */
const optional = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } =>
  value === undefined ? {} : ({ [key]: value } as { [P in K]: V });

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    allowNegative: true,
    options: {
      target: { type: 'string' },
      ws: { type: 'string' },
      stage: { type: 'string' },
      'token-command': { type: 'string' },
      region: { type: 'string' },
      reporter: { type: 'string', default: 'console' },
      out: { type: 'string', default: 'reports' },
      // 4 on two cores: the functional suite is mostly waiting (1 s stream batching windows), not CPU. Measured:
      // 0.65× the wall time of 2 for the same CPU, and passing with three CPU hogs on the machine.
      concurrency: { type: 'string', default: '4' },
      strict: { type: 'boolean', default: Boolean(process.env.CI) },
      dynamodb: { type: 'string' },
      package: { type: 'string' },
      tag: { type: 'string', multiple: true },
      grep: { type: 'string' },
      bail: { type: 'boolean', default: false },
      watch: { type: 'boolean', default: false },
      scale: { type: 'string' },
      connections: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const root = process.cwd();
  const reporters = values.reporter!.split(',').map((r) => r.trim());
  const known = ['console', 'junit', 'json', 'markdown', 'github', 'html'];
  const unknown = reporters.filter((r) => !known.includes(r));
  if (unknown.length) throw new Error(`Unknown reporter(s) ${unknown.join(', ')}; use ${known.join(', ')}`);
  if (Boolean(values.target) !== Boolean(values.ws)) throw new Error('--target and --ws go together');
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new Error(`--concurrency must be a positive integer, got ${values.concurrency}`);

  const loadBars = loadProgressBars();
  const load: LoadRunOptions = {
    ...optional('scale', values.scale === undefined ? undefined : parseScale(values.scale, '--scale')),
    ...optional('mode', values.connections === undefined ? undefined : parseMode(values.connections, '--connections')),
    ...(loadBars ? { onProgress: loadBars.update } : {}),
  };
  const selection: Selection = { ...optional('tags', parseTags(values.tag)), ...optional('grep', parseGrep(values.grep)) };

  if (values.package !== undefined && (values.target || values.stage))
    throw new Error('--package runs in-process emulators: not with --target or --stage');
  if (values.stage && values.target) throw new Error('--stage and --target are two different targets: give one');
  if (!values.stage && (values['token-command'] || values.region)) throw new Error('--token-command and --region go with --stage');
  const endpoint = chooseDynamoDBEndpoint({ dynamodb: values.dynamodb });
  // An external DynamoDB gives each emulator a stage of its own; a package is built for one stage.
  if (values.package !== undefined && endpoint) throw new Error('--package and --dynamodb do not go together (a package has one stage)');
  const dynamodb = endpoint ? { dynamodbEndpoint: endpoint } : {};
  const files = await expandPaths(positionals, root);
  if (!files.length) throw new Error('No scenario files found');
  const targets: TargetFactory = values.stage
    ? await stageTargets({
        projectRoot: root,
        stage: values.stage,
        tokenCommand: values['token-command'],
        ...optional('region', values.region),
      })
    : values.target
      ? remoteTarget({ httpUrl: values.target, wsUrl: values.ws!, projectRoot: root })
      : inProcessTargets({
          projectRoot: root,
          size: concurrency,
          ...dynamodb,
          ...optional('package', values.package === undefined ? undefined : relative(root, resolve(values.package)) || '.'),
        });
  const started = Date.now();
  // A progress bar for load scenarios' large connection waves, on an interactive terminal only.
  const bar = process.stderr.isTTY
    ? new SingleBar({ format: '  {step} [{bar}] {value}/{total}', clearOnComplete: true, stream: process.stderr })
    : undefined;
  let barStep = '';
  const history = durationHistory(root);
  try {
    const { failed, skipped, results, notRun } = await runScenarios(files, {
      targets,
      concurrency,
      bail: values.bail!,
      load,
      expectedMs: (scenario) => history.expectedMs(scenario.file, scenario.name),
      ...(selection.tags || selection.grep ? { select: selects(selection) } : {}),
      onResult: (result) => {
        loadBars?.stop();
        if (!reporters.includes('console')) return;
        console.log(consoleLine(result));
        if (result.load) console.log(summaryTable(result.load));
      },
      ...(bar
        ? {
            onProgress: ({ step, done, total }) => {
              if (barStep !== step) {
                barStep = step;
                bar.start(total, 0, { step });
              }
              bar.update(done, { step });
              if (done === total) bar.stop();
            },
          }
        : {}),
    });
    if (!results.length && !notRun.length)
      throw new Error(`No scenario matches ${describeSelection(selection)} (in ${files.length} file(s))`);
    if (notRun.length)
      console.log(
        `--bail: ${notRun.length} scenario(s) not run after the first failure:\n${notRun.map((s) => `  - ${s.name}`).join('\n')}`,
      );
    const durationMs = Date.now() - started;
    history.record(results);
    if (reporters.includes('console')) console.log(consoleSummary(results, durationMs));
    if (reporters.includes('github')) {
      for (const line of githubAnnotations(results)) console.log(line);
      const summaryFile = process.env.GITHUB_STEP_SUMMARY;
      if (summaryFile) await appendFile(summaryFile, githubSummary(results, durationMs));
      else console.log('--reporter github: GITHUB_STEP_SUMMARY is not set, no job summary written');
    }
    const out = resolve(root, values.out!);
    const written: string[] = [];
    for (const [name, render, file] of [
      ['junit', junit, 'scenarios.junit.xml'],
      ['json', json, 'scenarios.json'],
      ['markdown', markdown, 'scenarios.md'],
      ['html', htmlReport, 'scenarios.html'],
    ] as const) {
      if (!reporters.includes(name)) continue;
      await mkdir(out, { recursive: true });
      await writeFile(join(out, file), render(results));
      written.push(join(values.out!, file));
    }
    if (written.length) console.log(`reports: ${written.join(', ')}`);
    if (skipped && values.strict) console.log(`--strict: ${skipped} skipped scenario(s) fail the run`);
    const code = failed || (skipped && values.strict) ? 1 : 0;
    if (!values.watch) return code;
    await watchUntilInterrupted(files, fragmentsUsedBy(files), async (changed, savedAt) => {
      // Only files the command line still selects: a save elsewhere in a watched folder is not a request to run it.
      // A saved fragment reruns the selected scenarios that use it.
      const wanted = await expandPaths(positionals, root).catch((): string[] => []);
      const users = wanted.filter((f) => fragmentsUsedBy([f]).some((fragment) => changed.includes(fragment)));
      const toRun = [...new Set([...changed.filter((f) => wanted.includes(f)), ...users])].sort();
      if (!toRun.length) return;
      let lastResultAt = savedAt;
      const rerun = await runScenarios(toRun, {
        targets,
        concurrency,
        ...(selection.tags || selection.grep ? { select: selects(selection) } : {}),
        onResult: (result) => {
          lastResultAt = Date.now();
          console.log(consoleLine(result));
        },
      });
      const names = toRun.map((f) => relative(root, f)).join(', ');
      // From the save to the last result on screen (the emulator's reset for the next run comes after).
      if (!rerun.results.length) console.log(`${names}: not selected by ${describeSelection(selection)}`);
      else
        console.log(
          `reran ${names} in ${lastResultAt - savedAt} ms from the save, on the warm emulator: ${rerun.passed} passed, ${rerun.failed} failed, ${rerun.skipped} skipped`,
        );
    });
    return 0;
  } finally {
    await targets.close();
  }
}

/** The fragment files these scenarios use; a file that does not load now uses none (its error shows when it runs). */
function fragmentsUsedBy(files: string[]): string[] {
  const used = new Set<string>();
  for (const file of files) {
    try {
      for (const fragment of loadScenario(file).fragments ?? []) used.add(fragment);
    } catch {
      // reported by the run itself
    }
  }
  return [...used];
}

/** Reruns saved files until Ctrl-C; a malformed save is reported and the watch goes on. */
async function watchUntilInterrupted(
  files: string[],
  fragments: string[],
  rerun: (changed: string[], savedAt: number) => Promise<void>,
): Promise<void> {
  await new Promise<void>((stop) => {
    const watcher = watchScenarioFiles([...files, ...fragments], (changed, savedAt) =>
      rerun(changed, savedAt).catch((error: Error) =>
        console.log(
          error instanceof ScenarioFileError ? `Malformed scenario file; not run:\n${error.message}` : `rerun failed: ${error.message}`,
        ),
      ),
    );
    process.once('SIGINT', () => {
      watcher.close();
      stop();
    });
    // Said once the folders are watched and Ctrl-C is handled: a save made as soon as this line shows is seen.
    const also = fragments.length ? ` and the ${fragments.length} fragment(s) they use` : '';
    console.log(`watching ${files.length} scenario file(s)${also}: save one to rerun it; Ctrl-C to stop`);
  });
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(error instanceof ScenarioFileError ? `Malformed scenario file(s); nothing was run:\n${error.message}` : error.message);
    process.exit(2);
  },
);
