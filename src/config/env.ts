/**
 * Configuration, read from the environment once per container and validated, so a missing table name fails
 * at cold start with a message that names the variable instead of at the first DynamoDB call.
 */
export interface Config {
  region: string;
  partnersTable: string;
  connectionsTable: string;
  cacheTable: string;
  /** createPartner's idempotency records (clientMutationId); unset = clientMutationId is refused. */
  idempotencyTable: string | undefined;
  /** Seconds an idempotency record (and so a retry's answer) is kept. */
  idempotencyTtlSeconds: number;
  cacheTtlSeconds: number;
  /** Set locally (dynalite, LocalStack); unset on AWS, where the SDK uses the regional endpoint. */
  dynamodbEndpoint: string | undefined;
  /** Management API endpoint (https://{apiId}.execute-api.{region}.amazonaws.com/{stage}); when unset, derived from the event. */
  websocketApiEndpoint: string | undefined;
  auth: AuthConfig;
  notify: {
    /** How many postToConnection calls run at once for one fanout. */
    concurrency: number;
    /** Per-call timeout: a stuck management call must not hold the mutation's answer for long. */
    requestTimeoutMs: number;
    /** TCP connect timeout of the management client. */
    connectTimeoutMs: number;
    /** Attempts for a 429/5xx answer (410 is never retried). */
    maxAttempts: number;
    /** Base of the exponential backoff between attempts. */
    retryBaseDelayMs: number;
    /** The fanout queue (SQS) for shards of large audiences and retries of failed posts; unset = none. */
    fanoutQueueUrl: string | undefined;
    /** Past this many connections in one stream batch, the fanout is sharded onto the queue. */
    shardThreshold: number;
    /** Connections per shard (README, "Large audiences", for the arithmetic). */
    shardSize: number;
    /** An invocation stops starting new posts this long before its timeout and hands the rest to the queue. */
    stopMarginMs: number;
  };
  /** Seconds a connection's records live: AWS's 2-hour maximum connection duration plus a margin. */
  connectionTtlSeconds: number;
  /** Open WebSocket connections one user may hold; the next handshake is refused with 429. */
  maxConnectionsPerUser: number;
  graphql: {
    /** Stack traces and internal error messages in responses: the emulator only (IS_OFFLINE), or GRAPHQL_DEBUG. */
    debug: boolean;
    /** Schema introspection: on in the emulator, off elsewhere unless GRAPHQL_INTROSPECTION=true. */
    introspection: boolean;
  };
}

/** Rules every token must meet, whatever verifies its signature. */
export interface TokenPolicy {
  issuer: string | undefined;
  audience: string | undefined;
  /** Longest accepted lifetime (exp − iat, and exp − now): a leaked token is useful for this long at most. */
  maxLifetimeSeconds: number;
  /** Tolerance for clocks that disagree, applied to exp/nbf/iat; capped at MAX_CLOCK_SKEW_SECONDS. */
  clockSkewSeconds: number;
}

export type AuthConfig =
  | ({ kind: 'hs256'; secret: Uint8Array } & TokenPolicy)
  | ({ kind: 'jwks'; jwksUrl: URL; issuer: string; audience: string } & TokenPolicy);

/** Default token lifetime cap: a working day plus margin; identity providers issue 1 h tokens by default. */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;
export const DEFAULT_CLOCK_SKEW_SECONDS = 30;
/** More skew than this hides a broken clock rather than tolerating a drifting one. */
export const MAX_CLOCK_SKEW_SECONDS = 300;
/**
 * Default open connections per user: a person with a phone, a tablet and a few browser tabs stays well under it,
 * while one token can no longer hold thousands of connections (each costs a connection-minute and fanout posts).
 */
export const DEFAULT_MAX_CONNECTIONS_PER_USER = 10;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function required(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (!value) throw new ConfigError(`Environment variable ${name} is required`);
  return value;
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function nonNegativeInt(env: Env, name: string, fallback: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (/^(true|1|yes)$/i.test(raw)) return true;
  if (/^(false|0|no)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function jwksUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`JWT_JWKS_URL must be a URL, got "${raw}"`);
  }
  // Keys fetched over plain HTTP can be swapped in transit; only a local test server may use it.
  const local = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) throw new ConfigError(`JWT_JWKS_URL must be https, got "${raw}"`);
  return url;
}

/**
 * How tokens are verified. Production uses a JWKS (issuer and audience then required: any token the identity
 * provider signs for another application would pass otherwise) or an HS256 secret that serverless.yml resolves from
 * SSM Parameter Store at deploy. With neither, the container refuses to start and says what to set.
 */
function authConfig(env: Env): AuthConfig {
  const policy: TokenPolicy = {
    issuer: optional(env, 'JWT_ISSUER'),
    audience: optional(env, 'JWT_AUDIENCE'),
    maxLifetimeSeconds: positiveInt(env, 'JWT_MAX_LIFETIME_SECONDS', DEFAULT_MAX_TOKEN_LIFETIME_SECONDS),
    clockSkewSeconds: nonNegativeInt(env, 'JWT_CLOCK_SKEW_SECONDS', DEFAULT_CLOCK_SKEW_SECONDS),
  };
  if (policy.clockSkewSeconds > MAX_CLOCK_SKEW_SECONDS) {
    throw new ConfigError(`JWT_CLOCK_SKEW_SECONDS must be at most ${MAX_CLOCK_SKEW_SECONDS}, got ${policy.clockSkewSeconds}`);
  }
  const jwks = optional(env, 'JWT_JWKS_URL');
  if (jwks) {
    const missing = (['JWT_ISSUER', 'JWT_AUDIENCE'] as const).filter((name) => !optional(env, name));
    if (missing.length)
      throw new ConfigError(`JWT_JWKS_URL is set, so ${missing.join(' and ')} must be set too (tokens are checked against them)`);
    return { kind: 'jwks', jwksUrl: jwksUrl(jwks), ...policy, issuer: policy.issuer!, audience: policy.audience! };
  }
  const secret = optional(env, 'JWT_SECRET');
  if (!secret) {
    throw new ConfigError(
      'No token verification is configured: set JWT_JWKS_URL with JWT_ISSUER and JWT_AUDIENCE, or JWT_SECRET ' +
        '(serverless.yml reads it from the SSM parameter /perkup/<stage>/jwt-secret; create it with ' +
        '`aws ssm put-parameter --name /perkup/<stage>/jwt-secret --type SecureString --value …`)',
    );
  }
  return { kind: 'hs256', secret: new TextEncoder().encode(secret), ...policy };
}

export function readConfig(env: Env = process.env): Config {
  // serverless-offline's convention, which the emulator follows: set only when running offline.
  const offline = boolean(env, 'IS_OFFLINE', false);
  const debug = boolean(env, 'GRAPHQL_DEBUG', offline);
  return {
    region: optional(env, 'AWS_REGION') ?? optional(env, 'AWS_DEFAULT_REGION') ?? 'eu-west-3',
    partnersTable: required(env, 'PARTNERS_TABLE'),
    connectionsTable: required(env, 'WEBSOCKET_CONNECTIONS_TABLE'),
    cacheTable: required(env, 'CACHE_TABLE'),
    idempotencyTable: optional(env, 'IDEMPOTENCY_TABLE'),
    idempotencyTtlSeconds: positiveInt(env, 'IDEMPOTENCY_TTL_SECONDS', 24 * 60 * 60),
    cacheTtlSeconds: positiveInt(env, 'CACHE_TTL_SECONDS', 300),
    dynamodbEndpoint: optional(env, 'DYNAMODB_ENDPOINT'),
    websocketApiEndpoint: optional(env, 'WEBSOCKET_API_ENDPOINT'),
    auth: authConfig(env),
    notify: {
      concurrency: positiveInt(env, 'NOTIFY_CONCURRENCY', 32),
      requestTimeoutMs: positiveInt(env, 'NOTIFY_REQUEST_TIMEOUT_MS', 3000),
      connectTimeoutMs: positiveInt(env, 'NOTIFY_CONNECT_TIMEOUT_MS', 1000),
      maxAttempts: positiveInt(env, 'NOTIFY_MAX_ATTEMPTS', 3),
      retryBaseDelayMs: positiveInt(env, 'NOTIFY_RETRY_BASE_DELAY_MS', 50),
      fanoutQueueUrl: optional(env, 'FANOUT_QUEUE_URL'),
      shardThreshold: positiveInt(env, 'FANOUT_SHARD_THRESHOLD', 2000),
      shardSize: positiveInt(env, 'FANOUT_SHARD_SIZE', 2000),
      stopMarginMs: positiveInt(env, 'NOTIFY_STOP_MARGIN_MS', 10_000),
    },
    connectionTtlSeconds: positiveInt(env, 'CONNECTION_TTL_SECONDS', 2 * 60 * 60 + 15 * 60),
    maxConnectionsPerUser: positiveInt(env, 'MAX_CONNECTIONS_PER_USER', DEFAULT_MAX_CONNECTIONS_PER_USER),
    graphql: { debug, introspection: boolean(env, 'GRAPHQL_INTROSPECTION', offline) },
  };
}

let cached: Config | undefined;

/** The container's configuration, read on first use. */
export function config(): Config {
  cached ??= readConfig();
  return cached;
}
