/** The start-up banner: every endpoint and route the emulator serves, and what the app's configuration adds. */
import type { Emulator } from '../emulator.js';
import { relative } from 'node:path';
import { describeProfile } from '../latency.js';

export function banner(
  emulator: Emulator,
  facts: { readyMs: number; storage: string; secretVariable: string | undefined; cwd?: string },
): string {
  const { app } = emulator;
  const tokens = app.emulator.tokens;
  const wsHint = tokens?.queryParameter ? `?${tokens.queryParameter}=<JWT>` : '';
  const lines = [
    `${app.service} emulator ready in ${facts.readyMs} ms (stage ${app.stage}, DynamoDB ${facts.storage})`,
    `  HTTP API    ${emulator.httpUrl}`,
    ...emulator.routes.http.map((r) => `              ${r.method.padEnd(6)} ${emulator.httpUrl}${r.path}  → λ ${r.functionName}`),
    `  WebSocket   ${emulator.wsUrl}${wsHint}`,
    `              routes: ${emulator.routes.websocket.join(', ') || '(none)'}`,
    `  Management  ${emulator.managementUrl}/@connections/{connectionId}  (also without /${app.stage})`,
    `  Lambda      ${emulator.lambdaEndpoint}  (aws lambda invoke --endpoint-url ${emulator.lambdaEndpoint} --function-name <name> out.json)`,
    ...(emulator.warmed && emulator.prewarmed.length
      ? [
          `  Warm        one container per function behind the APIs is being initialized now, one after another (${emulator.prewarmed.join(', ')}):`,
          `              their cold starts are paid during start-up; more concurrency, reloads and stream or queue consumers start cold (--no-prewarm: all do)`,
        ]
      : []),
    `  Health      ${emulator.healthUrl}`,
    `  Events      ${emulator.eventsUrl}  (what the emulator did: invocations, calls, faults; ?kind=invoke&after=<seq>)`,
    // The tables' streams: served for any reader in dynalite mode, read from the endpoint's own otherwise.
    ...(emulator.dynamodb.streams.streams.size === 0
      ? []
      : emulator.streamsPoller
        ? [`  Streams     read from ${emulator.dynamodb.endpoint} (DynamoDB Streams API, polled 4 times a second per shard)`]
        : [`  Streams     ${emulator.dynamodb.endpoint}  (aws dynamodbstreams list-streams --endpoint-url ${emulator.dynamodb.endpoint})`]),
    `  Metrics     ${emulator.metricsUrl}  (CloudWatch metrics from the functions' EMF lines; ?format=prometheus)`,
    `  Latency     ${describeProfile(emulator.latency)}${emulator.latency.name === 'none' ? '' : '   (--latency none: answers at once)'}`,
  ];
  const packaged = emulator.packaged;
  if (packaged) {
    // Which artefacts run: the deployable package, not the source (emulate --package).
    const show = (path: string): string => (facts.cwd ? relative(facts.cwd, path) || '.' : path);
    lines.push(
      `  Code        the package in ${packaged.label} (stage ${packaged.inputs.stage}, packaged ${packaged.inputs.packagedAt}), not the source:`,
    );
    for (const a of packaged.artefacts) lines.push(`              λ ${a.name.padEnd(10)} ${show(a.zip)}  ${a.handler}`);
    lines.push(`              handlers' AWS calls made by a bundled SDK get no network time and no afterCalls faults`);
  }
  if (facts.secretVariable) {
    const fromEnv = process.env[facts.secretVariable] !== undefined;
    lines.push(
      `  Tokens      HS256 with ${facts.secretVariable} ${fromEnv ? `from the environment` : `as serverless.yml resolves it locally (set ${facts.secretVariable} to change it)`}`,
    );
    if (tokens?.mintCommand)
      lines.push(`              ${tokens.mintCommand}${fromEnv ? `   (run it with the same ${facts.secretVariable})` : ''}`);
  }
  lines.push('Ctrl-C to stop.');
  return lines.join('\n');
}
