/**
 * Which DynamoDB the emulator's tables live in: the embedded dynalite (the default), or an external endpoint —
 * LocalStack or Floci as docker-compose.localstack.yml publishes them, or any URL. One rule for `emulate` and
 * `scenarios`: an explicit URL wins, then the named choice, then DYNAMODB_ENDPOINT; nothing means dynalite.
 */

/** Host ports of docker-compose.localstack.yml; LOCALSTACK_ENDPOINT / FLOCI_ENDPOINT point elsewhere. */
export const KNOWN_DYNAMODB_ENDPOINTS = {
  localstack: { url: 'http://127.0.0.1:4566', env: 'LOCALSTACK_ENDPOINT' },
  floci: { url: 'http://127.0.0.1:4567', env: 'FLOCI_ENDPOINT' },
} as const;

export class DynamoDBChoiceError extends Error {
  override name = 'DynamoDBChoiceError';
}

function url(text: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    throw new DynamoDBChoiceError(`${what} must be an http(s) URL, got "${text}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new DynamoDBChoiceError(`${what} must be an http(s) URL, got "${text}"`);
  return text;
}

/** The external endpoint to use, or undefined for dynalite. Throws on a name it does not know or a bad URL. */
export function chooseDynamoDBEndpoint(
  choice: { dynamodb?: string; endpoint?: string },
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  if (choice.dynamodb && choice.endpoint) throw new DynamoDBChoiceError('Give --dynamodb or --dynamodb-endpoint, not both');
  if (choice.endpoint) return url(choice.endpoint, '--dynamodb-endpoint');
  const name = choice.dynamodb?.trim();
  if (name) {
    if (name === 'dynalite') return undefined;
    if (name === 'localstack' || name === 'floci') {
      const known = KNOWN_DYNAMODB_ENDPOINTS[name];
      const override = env[known.env]?.trim();
      return override ? url(override, known.env) : known.url;
    }
    if (/^https?:\/\//.test(name)) return url(name, '--dynamodb');
    throw new DynamoDBChoiceError(`--dynamodb must be dynalite, localstack, floci or a URL, got "${name}"`);
  }
  const fromEnv = env.DYNAMODB_ENDPOINT?.trim();
  return fromEnv ? url(fromEnv, 'DYNAMODB_ENDPOINT') : undefined;
}
