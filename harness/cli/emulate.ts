/**
 * `npm run emulate`: the offline development stack on real ports, until Ctrl-C.
 * Defaults follow serverless-offline so existing clients work: HTTP 3000 (GraphQL at /graphql), WebSocket 3001,
 * management API on the WebSocket port at /@connections/{connectionId}.
 */
import { parseArgs } from 'node:util';
import { watch } from 'node:fs';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startEmulator } from '../emulator.js';
import { describeEvent } from './describeEvent.js';
import { describeProfile, latencyProfile, LATENCY_PROFILE_NAMES, type LatencyProfile } from '../latency.js';


const HELP = `Usage: npm run emulate -- [options]

  --http-port <n>   HTTP API port (GraphQL at /graphql). Default 3000; 0 = any free port
  --ws-port <n>     WebSocket + management API port. Default 3001; 0 = any free port
  --host <addr>     Address to listen on. Default 127.0.0.1
  --stage <name>    Stage name. Default from serverless.yml (dev)
  --data <dir>      DynamoDB data folder (survives restarts). Default .emulator/dynamodb
  --memory          Keep DynamoDB data in memory only
  --dynamodb-endpoint <url>  Use an external DynamoDB (e.g. LocalStack) instead of dynalite
  --latency <name>  Network time of handlers' AWS calls and GSI lag: ${LATENCY_PROFILE_NAMES.join(' | ')}.
                    Default aws (in-region figures); none = every call answers at once
  --max-containers <n>  Lambda containers per function (AWS's concurrency, bounded for a laptop). Default 4;
                    raise it for load runs with thousands of clients
  --no-watch        Do not reload handlers when src/ changes
  --quiet           Do not log each invocation and notification
  --verbose         Also print handlers' structured INFO/DEBUG log lines (warnings, errors and plain
                    console.log lines are always printed)
  --check           Start, print the endpoints, stop (a start-up check for CI and for timing)
  -h, --help        This text

Environment: JWT_SECRET (HS256 token secret; a development default otherwise).`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      'http-port': { type: 'string', default: '3000' },
      'ws-port': { type: 'string', default: '3001' },
      host: { type: 'string', default: '127.0.0.1' },
      stage: { type: 'string' },
      data: { type: 'string', default: '.emulator/dynamodb' },
      memory: { type: 'boolean', default: false },
      'dynamodb-endpoint': { type: 'string' },
      latency: { type: 'string', default: 'aws' },
      'max-containers': { type: 'string', default: '4' },
      'no-watch': { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  }));
} catch (error) {
  console.error(`${(error as Error).message}\n\n${HELP}`);
  process.exit(2);
}
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

function port(name: string, raw: string): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    console.error(`--${name} must be a port number 0–65535, got "${raw}"`);
    process.exit(2);
  }
  return value;
}

let latency: LatencyProfile;
try {
  latency = latencyProfile(values.latency!);
} catch (error) {
  console.error(`--latency: ${(error as Error).message}`);
  process.exit(2);
}

const maxContainers = Number(values['max-containers']);
if (!Number.isInteger(maxContainers) || maxContainers < 1 || maxContainers > 256) {
  console.error(`--max-containers must be a whole number 1–256, got "${values['max-containers']}"`);
  process.exit(2);
}

const projectRoot = process.cwd();

const emulator = await startEmulator({
  projectRoot,
  ...(values.stage ? { stage: values.stage } : {}),
  storage: values['dynamodb-endpoint'] ? { endpoint: values['dynamodb-endpoint'] } : values.memory ? 'memory' : { path: resolve(projectRoot, values.data!) },
  httpPort: port('http-port', values['http-port']!),
  wsPort: port('ws-port', values['ws-port']!),
  host: values.host!,
  maxContainersPerFunction: maxContainers,
  // An external DynamoDB has no index lag to inject; network time still applies to the calls.
  latency: values['dynamodb-endpoint'] ? { ...latency, indexLag: { baseMs: 0, jitterMs: 0 } } : latency,
  // Without JWT_SECRET, serverless.yml's own default (its ${env:JWT_SECRET, '…'}) applies, as on a deploy.
  ...(process.env.JWT_SECRET ? { environment: { JWT_SECRET: process.env.JWT_SECRET } } : {}),
}).catch((error: NodeJS.ErrnoException) => {
  if (error.code === 'EADDRINUSE') console.error(`Port already in use (${error.message}). Pick others with --http-port / --ws-port, or 0 for any free port.`);
  else console.error(error);
  process.exit(1);
});

// performance.now() counts from process start, so this includes Node and TypeScript loading.
const readyMs = Math.round(performance.now());
const defaultSecret = emulator.app.functions.map((f) => f.environment.JWT_SECRET).find(Boolean);
const secretLine = process.env.JWT_SECRET
  ? 'from JWT_SECRET'
  : defaultSecret
    ? `serverless.yml's default "${defaultSecret}" (set JWT_SECRET to change it)`
    : 'none set (set JWT_SECRET)';
console.log(`${emulator.app.service} emulator ready in ${readyMs} ms (stage ${emulator.app.stage}, DynamoDB ${values['dynamodb-endpoint'] ?? (values.memory ? 'in memory' : values.data)})
  GraphQL     ${emulator.graphqlUrl}
  WebSocket   ${emulator.wsUrl}?token=<JWT>
  Management  ${emulator.managementUrl}/@connections/{connectionId}  (also without /${emulator.app.stage})
  Latency     ${describeProfile(emulator.latency)}${latency.name === 'none' ? '' : '   (--latency none: answers at once)'}
  JWT secret  ${secretLine}
  Token       npm run -s token -- --sub alice --role admin${process.env.JWT_SECRET ? '   (run it with the same JWT_SECRET)' : ''}
Ctrl-C to stop.`);

if (values.check) {
  await emulator.close();
  process.exit(0);
}

if (!values.quiet) {
  emulator.eventLog.subscribe((event) => {
    const line = describeEvent(event, { verbose: values.verbose! });
    if (line) console.log(line);
  });
}

if (!values['no-watch']) {
  let pending: NodeJS.Timeout | undefined;
  // Recursive fs.watch works on Linux from Node 20. Debounced: an editor save is several events.
  watch(resolve(projectRoot, 'src'), { recursive: true }, (_event, file) => {
    clearTimeout(pending);
    pending = setTimeout(() => {
      void emulator.reload().then(() => console.log(`↻ ${file ?? 'src'} changed: handlers reload on their next invocation (connections kept)`));
    }, 100);
  }).unref();
}

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
