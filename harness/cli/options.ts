/**
 * `npm run emulate`'s options: its own flags, serverless-offline's camelCase spellings of them, and serverless.yml's
 * `custom.serverless-offline` block as defaults, so a serverless-offline user's setup works unchanged. Precedence:
 * a flag, then `custom.serverless-offline`, then serverless-offline's defaults (HTTP 3000, WebSocket 3001).
 */
import { parseArgs } from 'node:util';

export const HELP = `Usage: npm run emulate -- [options]

  --config <file>   The service's serverless.yml (its folder is the service root). Default ./serverless.yml
  --http-port <n>   HTTP API port (also --httpPort). Default 3000; 0 = any free port
  --ws-port <n>     WebSocket + management API port (also --websocketPort). Default 3001; 0 = any free port
  --host <addr>     Address to listen on. Default 127.0.0.1
  --stage <name>    Stage name. Default from serverless.yml (with --package: the package's stage)
  --package <dir>   Run the handlers from the deployable package npm run package wrote in <dir> (e.g. .serverless:
                    its CloudFormation template names each function's zip and handler) instead of the source.
                    Refused when missing or older than serverless.yml or the sources (run npm run package)
  --data <dir>      DynamoDB data folder, relative to the service root (survives restarts). Default .emulator/dynamodb
  --memory          Keep DynamoDB data in memory only
  --dynamodb <where>  dynalite (default), localstack (http://127.0.0.1:4566 or LOCALSTACK_ENDPOINT),
                    floci (http://127.0.0.1:4567 or FLOCI_ENDPOINT) — see docker-compose.localstack.yml — or a URL
  --dynamodb-endpoint <url>  Use an external DynamoDB at this URL instead of dynalite
  --latency <name>  Network time of handlers' AWS calls and GSI lag: none | aws.
                    Default aws (in-region figures); none = every call answers at once
  --max-containers <n>  Lambda containers per function (AWS's concurrency, bounded for a laptop). Default 4;
                    raise it for load runs with thousands of clients
  --max-connections-per-second <n>  New WebSocket connections accepted per second (the handshake answers 429
                    beyond it). Default 500, AWS's quota; raise it for a local load run
  --no-watch        Do not reload handlers when their code changes, nor restart when serverless.yml or .env does
  --no-prewarm      Do not warm one container per function behind the APIs during start-up (their first
                    invocations then start cold, as stream and queue consumers always do)
  --quiet           Do not log each invocation and notification, nor the metrics line (every 5 s)
  --verbose         Also print handlers' structured INFO/DEBUG log lines (warnings, errors and plain
                    console.log lines are always printed)
  --check           Start, print the endpoints, stop (a start-up check for CI and for timing)
  -h, --help        This text

Also read: custom.serverless-offline in serverless.yml (httpPort, websocketPort, host), a .env file in the service
root (variables not already set). Environment: DYNAMODB_ENDPOINT (an external DynamoDB when neither --dynamodb nor
--dynamodb-endpoint is given); the app's token secret variable (custom.emulator.tokens.secretVariable) overrides
serverless.yml's local value.`;

export interface CliFlags {
  config: string;
  httpPort: string | undefined;
  wsPort: string | undefined;
  host: string | undefined;
  stage: string | undefined;
  package: string | undefined;
  data: string;
  memory: boolean;
  dynamodb: string | undefined;
  dynamodbEndpoint: string | undefined;
  latency: string;
  maxContainers: number;
  maxConnectionsPerSecond: number;
  watch: boolean;
  prewarm: boolean;
  quiet: boolean;
  verbose: boolean;
  check: boolean;
  help: boolean;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

const OPTIONS = {
  config: { type: 'string', default: 'serverless.yml' },
  'http-port': { type: 'string' },
  httpPort: { type: 'string' },
  'ws-port': { type: 'string' },
  websocketPort: { type: 'string' },
  host: { type: 'string' },
  stage: { type: 'string' },
  package: { type: 'string' },
  data: { type: 'string', default: '.emulator/dynamodb' },
  memory: { type: 'boolean', default: false },
  dynamodb: { type: 'string' },
  'dynamodb-endpoint': { type: 'string' },
  latency: { type: 'string', default: 'aws' },
  'max-containers': { type: 'string', default: '4' },
  'max-connections-per-second': { type: 'string', default: '500' },
  'no-watch': { type: 'boolean', default: false },
  'no-prewarm': { type: 'boolean', default: false },
  quiet: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  check: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const parse = (args: string[]) => parseArgs({ args, options: OPTIONS, strict: true });

export function parseFlags(args: string[]): CliFlags {
  let values: ReturnType<typeof parse>['values'];
  try {
    ({ values } = parse(args));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const maxContainers = Number(values['max-containers']);
  if (!Number.isInteger(maxContainers) || maxContainers < 1 || maxContainers > 256) {
    throw new UsageError(`--max-containers must be a whole number 1–256, got "${values['max-containers']}"`);
  }
  const maxConnectionsPerSecond = Number(values['max-connections-per-second']);
  if (!Number.isInteger(maxConnectionsPerSecond) || maxConnectionsPerSecond < 1 || maxConnectionsPerSecond > 1_000_000) {
    throw new UsageError(`--max-connections-per-second must be a whole number 1–1000000, got "${values['max-connections-per-second']}"`);
  }
  return {
    config: values.config!,
    httpPort: values['http-port'] ?? values.httpPort,
    wsPort: values['ws-port'] ?? values.websocketPort,
    host: values.host,
    stage: values.stage,
    package: values.package,
    data: values.data!,
    memory: values.memory!,
    dynamodb: values.dynamodb,
    dynamodbEndpoint: values['dynamodb-endpoint'],
    latency: values.latency!,
    maxContainers,
    maxConnectionsPerSecond,
    watch: !values['no-watch'],
    prewarm: !values['no-prewarm'],
    quiet: values.quiet!,
    verbose: values.verbose!,
    check: values.check!,
    help: values.help!,
  };
}

function port(name: string, raw: unknown): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535)
    throw new UsageError(`${name} must be a port number 0–65535, got "${String(raw)}"`);
  return value;
}

/** Ports and host: a flag, else `custom.serverless-offline`, else serverless-offline's defaults. */
export function listenSettings(flags: CliFlags, offline: Record<string, unknown>): { httpPort: number; wsPort: number; host: string } {
  return {
    httpPort: port(
      flags.httpPort !== undefined ? '--http-port' : 'custom.serverless-offline.httpPort',
      flags.httpPort ?? offline.httpPort ?? 3000,
    ),
    wsPort: port(
      flags.wsPort !== undefined ? '--ws-port' : 'custom.serverless-offline.websocketPort',
      flags.wsPort ?? offline.websocketPort ?? 3001,
    ),
    host: flags.host ?? (typeof offline.host === 'string' ? offline.host : '127.0.0.1'),
  };
}
