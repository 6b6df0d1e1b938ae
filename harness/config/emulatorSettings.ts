/**
 * `custom.emulator` in serverless.yml: what the generic harness needs to know of the app, validated once with a
 * clear error naming the key. Everything app-specific (which log line means "cache invalidated", where the
 * connection record lives, how a client subscribes, how development tokens are made and passed) is said here, so
 * the harness itself knows nothing of any one app.
 */
import type { ErrorObject, ValidateFunction } from 'ajv';
import { cachedValidator } from '../common/cachedValidator.js';

export interface LogEventRule {
  /** The structured log line's `message`. */
  message: string;
  event: 'cacheInvalidated';
  /** The field of that line holding the keys. */
  keysField: string;
}

export interface EmulatorSettings {
  logEvents: LogEventRule[];
  /** Where scenarios find a connection's record: a table (logical id or name) and the key, `{connectionId}` filled in. */
  connectionRecord?: { table: string; key: Record<string, string> };
  scenarios: {
    /** The app's subscribe message: `send`, the step's fields under `dataField`, acknowledged by a frame matching `ack`. */
    subscribe?: { send: Record<string, unknown>; dataField?: string; ack: unknown };
  };
  /** How clients present a token at the WebSocket handshake, and how development tokens are minted. */
  tokens?: {
    /** The query string parameter carrying the token at the handshake (e.g. `token` for `?token=<JWT>`). */
    queryParameter?: string;
    /** HS256 development tokens are signed with the functions' environment variable of this name. */
    secretVariable?: string;
    /** The command the banner suggests for minting one. */
    mintCommand?: string;
  };
  /** A JSON file of local SSM parameters for `${ssm:…}` (see ssmParameters.ts). */
  ssmParameters?: string;
}

const schema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    logEvents: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['message', 'event', 'keysField'],
        properties: { message: { type: 'string' }, event: { enum: ['cacheInvalidated'] }, keysField: { type: 'string' } },
      },
    },
    connectionRecord: {
      type: 'object',
      additionalProperties: false,
      required: ['table', 'key'],
      properties: { table: { type: 'string' }, key: { type: 'object', additionalProperties: { type: 'string' } } },
    },
    scenarios: {
      type: 'object',
      additionalProperties: false,
      properties: {
        subscribe: {
          type: 'object',
          additionalProperties: false,
          required: ['send', 'ack'],
          properties: { send: { type: 'object' }, dataField: { type: 'string' }, ack: {} },
        },
      },
    },
    tokens: {
      type: 'object',
      additionalProperties: false,
      properties: { queryParameter: { type: 'string' }, secretVariable: { type: 'string' }, mintCommand: { type: 'string' } },
    },
    ssmParameters: { type: 'string' },
  },
} as const;

// Compiled (or loaded from the cache) at first use: `npm run emulate` pays for it only once per schema version.
let validate: ValidateFunction | undefined;

export class EmulatorSettingsError extends Error {
  override name = 'EmulatorSettingsError';
}

function describe(error: ErrorObject): string {
  const key = `custom.emulator${error.instancePath.replace(/\//g, '.')}`;
  if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    const known = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {});
    return `${key}.${extra}: unknown setting${known.length ? ` (known: ${known.join(', ')})` : ''}`;
  }
  if (error.keyword === 'required') return `${key}: missing ${(error.params as { missingProperty: string }).missingProperty}`;
  if (error.keyword === 'enum') return `${key}: must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  return `${key}: ${error.message ?? error.keyword}`;
}

/** Validates `custom.emulator` (absent = no settings) and fills in what is optional. */
export function emulatorSettings(raw: unknown, file: string): EmulatorSettings {
  const value = raw ?? {};
  // verbose: the errors carry their parent schema, whose properties name the known settings.
  validate ??= cachedValidator(schema, { allErrors: true, verbose: true });
  if (!validate(value)) {
    const problems = [...new Set((validate.errors ?? []).map(describe))];
    throw new EmulatorSettingsError(`${file}: ${problems.join('; ')}`);
  }
  const settings = value as Partial<EmulatorSettings>;
  return { ...settings, logEvents: settings.logEvents ?? [], scenarios: settings.scenarios ?? {} };
}
