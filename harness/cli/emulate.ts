/**
 * `npm run emulate`: runs a service's serverless.yml offline on real ports, until Ctrl-C. Defaults follow
 * serverless-offline so existing clients work: HTTP 3000, WebSocket 3001, management API on the WebSocket port at
 * /@connections/{connectionId}. Handlers reload when their code changes; the whole emulator restarts (same ports)
 * when serverless.yml or .env changes.
 */
import { existsSync, readFileSync, watch } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { performance } from 'node:perf_hooks';
import { startEmulator, type Emulator } from '../emulator.js';
import { loadServerlessConfig } from '../config/serverless.js';
import { chooseDynamoDBEndpoint } from '../dynamodb/endpoint.js';
import { describeEvent } from './describeEvent.js';
import { HELP, listenSettings, parseFlags, UsageError, type CliFlags } from './options.js';
import { banner } from './banner.js';
import { metricsLine } from './metricsLine.js';
import { latencyProfile, type LatencyProfile } from '../latency.js';
import { PackageUnusableError } from '../lambda/package/inputs.js';

// The in-memory DynamoDB (memory-level) keeps its keys and items as small Buffers, which node cuts from shared 8 KB
// pool slabs: each one kept pins its whole slab, ~8 KB per connection record, most of the slab garbage. Unpooled,
// each Buffer is its own size (~20 MB less resident memory holding 1,500 sockets). Tests and scenarios that run
// the emulator in their own process keep node's default.
Buffer.poolSize = 0;

function fail(message: string, code: number): never {
  console.error(message);
  process.exit(code);
}

let flags: CliFlags;
try {
  flags = parseFlags(process.argv.slice(2));
} catch (error) {
  fail(`${(error as Error).message}\n\n${HELP}`, 2);
}
if (flags.help) {
  console.log(HELP);
  process.exit(0);
}

const configFile = resolve(flags.config);
if (!existsSync(configFile)) fail(`${configFile} not found (give the service's serverless.yml with --config)`, 2);
const serviceRoot = dirname(configFile);
const envFile = resolve(serviceRoot, '.env');

/**
 * `.env` in the service root: sets what the environment does not already set, as serverless-offline's dotenv does.
 * On a restart, the variables it set before are set again from the new file.
 */
const fromDotEnv = new Set<string>();
function loadDotEnv(): string[] {
  if (!existsSync(envFile)) return [];
  const parsed = parseEnv(readFileSync(envFile, 'utf8'));
  const set = Object.keys(parsed).filter((name) => process.env[name] === undefined || fromDotEnv.has(name));
  for (const name of set) {
    process.env[name] = parsed[name];
    fromDotEnv.add(name);
  }
  return set;
}

let dynamodbEndpoint: string | undefined;
try {
  dynamodbEndpoint = chooseDynamoDBEndpoint({ dynamodb: flags.dynamodb, endpoint: flags.dynamodbEndpoint });
} catch (error) {
  fail((error as Error).message, 2);
}
let latency: LatencyProfile;
try {
  latency = latencyProfile(flags.latency);
} catch (error) {
  fail(`--latency: ${(error as Error).message}`, 2);
}

const storageLabel = dynamodbEndpoint ?? (flags.memory ? 'in memory' : relative(process.cwd(), resolve(serviceRoot, flags.data)) || '.');

/** On a restart, the ports the first start bound (0 = any free port would move clients to new ones). */
async function start(ports?: { httpPort: number; wsPort: number }): Promise<Emulator> {
  const dotEnv = loadDotEnv();
  // Read once for the settings the listen step needs (custom.serverless-offline, the token secret's name).
  const app = loadServerlessConfig(configFile, { ...(flags.stage ? { stage: flags.stage } : {}), refs: () => 'emulated' });
  const listen = listenSettings(flags, app.serverlessOffline);
  const secretVariable = app.emulator.tokens?.secretVariable;
  const emulator = await startEmulator({
    projectRoot: serviceRoot,
    serverlessFile: configFile,
    ...(flags.stage ? { stage: flags.stage } : {}),
    ...(flags.package !== undefined ? { package: relative(serviceRoot, resolve(flags.package)) || '.' } : {}),
    storage: dynamodbEndpoint ? { endpoint: dynamodbEndpoint } : flags.memory ? 'memory' : { path: resolve(serviceRoot, flags.data) },
    ...listen,
    ...ports,
    maxContainersPerFunction: flags.maxContainers,
    prewarm: flags.prewarm && !flags.check,
    maxConnectionsPerSecond: flags.maxConnectionsPerSecond,
    // An external DynamoDB has no index lag to inject; network time still applies to the calls.
    latency: dynamodbEndpoint ? { ...latency, indexLag: { baseMs: 0, jitterMs: 0 } } : latency,
    // The app's token secret from the environment overrides serverless.yml's local value.
    ...(secretVariable && process.env[secretVariable] ? { environment: { [secretVariable]: process.env[secretVariable] } } : {}),
  });
  if (dotEnv.length) console.log(`.env: ${dotEnv.join(', ')}`);
  return emulator;
}

let emulator: Emulator;
try {
  emulator = await start();
} catch (error) {
  const e = error as NodeJS.ErrnoException;
  fail(
    e.code === 'EADDRINUSE'
      ? `Port already in use (${e.message}). Pick others with --http-port / --ws-port, or 0 for any free port.`
      : e instanceof UsageError || e instanceof PackageUnusableError
        ? e.message
        : String(e.stack ?? e),
    e instanceof UsageError || e instanceof PackageUnusableError ? 2 : 1,
  );
}

// Ctrl-C handling is in place before the ready line: whoever reads that line may stop us at once.
let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return void process.exit(130);
  stopping = true;
  console.log(`\n${signal}: disconnecting clients and stopping…`);
  await emulator.close();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));

let unsubscribe: () => void = () => undefined;
function announce(readyMs: number): void {
  console.log(
    banner(emulator, {
      readyMs,
      storage: storageLabel,
      secretVariable: emulator.app.emulator.tokens?.secretVariable,
      cwd: process.cwd(),
    }),
  );
  unsubscribe();
  if (!flags.quiet) {
    unsubscribe = emulator.eventLog.subscribe((event) => {
      const line = describeEvent(event, { verbose: flags.verbose });
      if (line) console.log(line);
    });
  }
}
/** The folders holding the functions' handler files (top level under the service root), watched for code changes. */
function codeFolders(app: Emulator['app']): string[] {
  const tops = new Set(app.functions.map((f) => relative(serviceRoot, f.handlerFile).split(/[\\/]/)[0]));
  return [...tops]
    .map((top) => resolve(serviceRoot, top))
    .filter((path) => path !== serviceRoot && !path.endsWith('.ts') && !/\.[cm]?js$/.test(path));
}

function debounce(run: () => void): () => void {
  let pending: NodeJS.Timeout | undefined;
  // An editor save is several events.
  return () => {
    clearTimeout(pending);
    pending = setTimeout(run, 150);
  };
}

// Watching starts before the ready line: whoever reads it may change a file at once.
if (flags.watch && !flags.check) {
  // Recursive fs.watch works on Linux from Node 20. A package does not follow the source: nothing to reload.
  for (const folder of emulator.packaged ? [] : codeFolders(emulator.app)) {
    watch(
      folder,
      { recursive: true },
      debounce(
        () =>
          void emulator
            .reload()
            .then(() =>
              console.log(
                `↻ code in ${relative(serviceRoot, folder)}/ changed: handlers reload on their next invocation (connections kept)`,
              ),
            ),
      ),
    ).unref();
  }
  let restarting = false;
  const restart = debounce(() => {
    if (restarting || stopping) return;
    restarting = true;
    const started = performance.now();
    console.log('↻ serverless.yml or .env changed: restarting (clients are disconnected, ports kept)…');
    const ports = { httpPort: Number(new URL(emulator.httpUrl).port), wsPort: Number(new URL(emulator.wsUrl).port) };
    void emulator
      .close()
      .then(() => start(ports))
      .then((next) => {
        emulator = next;
        announce(Math.round(performance.now() - started));
      })
      .catch((error: Error) => console.error(`restart failed, still stopped until the next change: ${error.message}`))
      .finally(() => (restarting = false));
  });
  // Watch the folder, not the file: editors replace files on save, which ends a watch on the file itself.
  watch(serviceRoot, (_event, file) => {
    if (file === relative(serviceRoot, configFile) || file === '.env') restart();
  }).unref();
}

// performance.now() counts from process start, so this includes Node and TypeScript loading.
announce(Math.round(performance.now()));

/** Every few seconds, the metrics the functions emitted (EMF), when they changed: what CloudWatch would show. */
const METRICS_LINE_EVERY_MS = 5000;
if (!flags.quiet && !flags.check) {
  let shown: { store: Emulator['metrics']; version: number } | undefined;
  setInterval(() => {
    const store = emulator.metrics;
    if (shown && shown.store === store && shown.version === store.version) return;
    shown = { store, version: store.version };
    const line = metricsLine(store);
    if (line) console.log(`${new Date().toISOString().slice(11, 23)} 📈 ${line}  (${emulator.metricsUrl})`);
  }, METRICS_LINE_EVERY_MS).unref();
}

if (flags.check) {
  await emulator.close();
  process.exit(0);
}
