/**
 * CORS on an HTTP API, as serverless.yml's `provider.httpApi.cors` configures it and API Gateway applies it
 * (developer guide, "Configuring CORS for an HTTP API"): with CORS configured, API Gateway answers preflight
 * OPTIONS requests itself, even without an OPTIONS route, adds the configured headers to responses of requests
 * that carry an Origin, and ignores CORS headers the integration returns. Without it, nothing is added and an
 * OPTIONS request is routed like any other (usually 404).
 */

/** API Gateway's CorsConfiguration (AWS::ApiGatewayV2::Api), as the Serverless Framework compiles it. */
export interface CorsConfiguration {
  allowOrigins: string[];
  allowHeaders: string[];
  allowMethods: string[];
  allowCredentials: boolean;
  exposeHeaders: string[];
  maxAge?: number;
}

/**
 * The Serverless Framework's defaults for `cors: true` (lib/plugins/aws/package/compile/events/http-api.js):
 * any origin, these headers, and the methods of the API's routes plus OPTIONS.
 */
export const SERVERLESS_DEFAULT_ALLOWED_HEADERS = [
  'Content-Type',
  'X-Amz-Date',
  'Authorization',
  'X-Api-Key',
  'X-Amz-Security-Token',
  'X-Amz-User-Agent',
  'X-Amzn-Trace-Id',
];

const list = (value: unknown, field: string): string[] | undefined => {
  if (value === undefined) return undefined;
  const items = [value].flat();
  if (!items.every((v) => typeof v === 'string' && v.length > 0))
    throw new Error(`provider.httpApi.cors.${field} must be a string or a list of strings, got ${JSON.stringify(value)}`);
  return items as string[];
};

const KNOWN = new Set(['allowedOrigins', 'allowedHeaders', 'allowedMethods', 'allowCredentials', 'exposedResponseHeaders', 'maxAge']);

/** `provider.httpApi.cors` (true or the object form) → the API's CORS configuration; undefined when absent or false. */
export function corsConfiguration(raw: unknown, routeMethods: string[]): CorsConfiguration | undefined {
  if (raw === undefined || raw === null || raw === false) return undefined;
  const methods = routeMethods.some((m) => m === '*' || m === 'ANY')
    ? ['*']
    : [...new Set([...routeMethods.map((m) => m.toUpperCase()), 'OPTIONS'])];
  if (raw === true)
    return {
      allowOrigins: ['*'],
      allowHeaders: SERVERLESS_DEFAULT_ALLOWED_HEADERS,
      allowMethods: methods,
      allowCredentials: false,
      exposeHeaders: [],
    };
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(`provider.httpApi.cors must be true or an object, got ${JSON.stringify(raw)}`);
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !KNOWN.has(k));
  if (unknown.length) throw new Error(`provider.httpApi.cors: unknown key(s) ${unknown.join(', ')} (known: ${[...KNOWN].join(', ')})`);
  if (o.allowCredentials !== undefined && typeof o.allowCredentials !== 'boolean')
    throw new Error('provider.httpApi.cors.allowCredentials must be true or false');
  if (o.maxAge !== undefined && !(Number.isInteger(o.maxAge) && (o.maxAge as number) >= 0))
    throw new Error(`provider.httpApi.cors.maxAge must be a whole number of seconds, got ${JSON.stringify(o.maxAge)}`);
  return {
    allowOrigins: list(o.allowedOrigins, 'allowedOrigins') ?? ['*'],
    allowHeaders: list(o.allowedHeaders, 'allowedHeaders') ?? SERVERLESS_DEFAULT_ALLOWED_HEADERS,
    allowMethods: list(o.allowedMethods, 'allowedMethods')?.map((m) => m.toUpperCase()) ?? methods,
    allowCredentials: o.allowCredentials === true,
    exposeHeaders: list(o.exposedResponseHeaders, 'exposedResponseHeaders') ?? [],
    ...(o.maxAge !== undefined ? { maxAge: o.maxAge as number } : {}),
  };
}

/** Whether `origin` is allowed: exact, `*`, or a scheme wildcard such as `https://*` (as API Gateway accepts). */
export function originAllowed(cors: CorsConfiguration, origin: string): boolean {
  return cors.allowOrigins.some((allowed) => {
    if (allowed === '*' || allowed.toLowerCase() === origin.toLowerCase()) return true;
    if (!allowed.includes('*')) return false;
    const pattern = new RegExp(
      `^${allowed
        .split('*')
        .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
        .join('.*')}$`,
      'i',
    );
    return pattern.test(origin);
  });
}

const allowOriginValue = (cors: CorsConfiguration, origin: string): string =>
  cors.allowOrigins.includes('*') && !cors.allowCredentials ? '*' : origin;

/** Is this request a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method)? */
export function isPreflight(method: string, headers: Record<string, string | string[] | undefined>): boolean {
  return method === 'OPTIONS' && headers.origin !== undefined && headers['access-control-request-method'] !== undefined;
}

/** The headers of API Gateway's own answer to a preflight (its status is 204); none for an origin not allowed. */
export function preflightHeaders(cors: CorsConfiguration, origin: string): Record<string, string> {
  if (!originAllowed(cors, origin)) return {};
  return {
    'access-control-allow-origin': allowOriginValue(cors, origin),
    'access-control-allow-methods': cors.allowMethods.join(','),
    'access-control-allow-headers': cors.allowHeaders.join(','),
    ...(cors.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
    ...(cors.maxAge !== undefined ? { 'access-control-max-age': String(cors.maxAge) } : {}),
  };
}

/** The headers API Gateway adds to an integration's response for a request with an Origin. */
export function responseHeaders(cors: CorsConfiguration, origin: string): Record<string, string> {
  if (!originAllowed(cors, origin)) return {};
  return {
    'access-control-allow-origin': allowOriginValue(cors, origin),
    ...(cors.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
    ...(cors.exposeHeaders.length ? { 'access-control-expose-headers': cors.exposeHeaders.join(',') } : {}),
  };
}

/** With CORS configured, the integration's own CORS headers are dropped. */
export function withoutCorsHeaders(headers: Record<string, string | string[]>): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !name.toLowerCase().startsWith('access-control-')));
}
