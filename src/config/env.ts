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
}

export type AuthConfig =
  | { kind: 'hs256'; secret: Uint8Array; issuer: string | undefined; audience: string | undefined }
  | { kind: 'jwks'; jwksUrl: URL; issuer: string | undefined; audience: string | undefined };

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

function authConfig(env: Env): AuthConfig {
  const issuer = optional(env, 'JWT_ISSUER');
  const audience = optional(env, 'JWT_AUDIENCE');
  const jwks = optional(env, 'JWT_JWKS_URL');
  if (jwks) return { kind: 'jwks', jwksUrl: new URL(jwks), issuer, audience };
  const secret = optional(env, 'JWT_SECRET');
  if (!secret) throw new ConfigError('Set JWT_SECRET (HS256) or JWT_JWKS_URL (RS256 via JWKS)');
  return { kind: 'hs256', secret: new TextEncoder().encode(secret), issuer, audience };
}

export function readConfig(env: Env = process.env): Config {
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
      maxAttempts: positiveInt(env, 'NOTIFY_MAX_ATTEMPTS', 3),
      retryBaseDelayMs: positiveInt(env, 'NOTIFY_RETRY_BASE_DELAY_MS', 50),
      fanoutQueueUrl: optional(env, 'FANOUT_QUEUE_URL'),
      shardThreshold: positiveInt(env, 'FANOUT_SHARD_THRESHOLD', 2000),
      shardSize: positiveInt(env, 'FANOUT_SHARD_SIZE', 2000),
      stopMarginMs: positiveInt(env, 'NOTIFY_STOP_MARGIN_MS', 10_000),
    },
    connectionTtlSeconds: positiveInt(env, 'CONNECTION_TTL_SECONDS', 2 * 60 * 60 + 15 * 60),
  };
}

let cached: Config | undefined;

/** The container's configuration, read on first use. */
export function config(): Config {
  cached ??= readConfig();
  return cached;
}
