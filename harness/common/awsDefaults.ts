/**
 * AWS's documented defaults and limits that the emulator reproduces, declared once. Every module that needs one
 * imports it from here, so a changed quota is a one-line edit. FIDELITY.md links each to its AWS documentation page.
 */

/** The account id every emulated ARN and event carries (AWS's documentation uses the same placeholder). */
export const ACCOUNT_ID = '123456789012';

export const websocketApiLimits = {
  /** "Idle Connection Timeout": 10 minutes (API Gateway quotas for WebSocket APIs). */
  idleTimeoutMs: 10 * 60_000,
  /** "Connection duration for WebSocket API": 2 hours. */
  maxDurationMs: 2 * 60 * 60_000,
  /** "New connections per second per account (across all WebSocket APIs) per Region": 500. */
  newConnectionsPerSecond: 500,
  /** "WebSocket frame size": 32 KB; a larger frame closes the connection with 1009. */
  maxFrameBytes: 32 * 1024,
  /** "Message payload size": 128 KB; a larger message closes the connection with 1009. */
  maxMessageBytes: 128 * 1024,
  /** "Authorizer result size" of the context a Lambda authorizer returns: 8 KB. */
  maxAuthorizerContextBytes: 8 * 1024,
  /** PostToConnection payload: 128 KB (the management API answers 413 above). */
  maxPostBytes: 131_072,
} as const;

/** The account-level throttle that also applies to `@connections` calls: 10,000 rps with a burst of 5,000. */
export const accountThrottle = { rate: 10_000, burst: 5_000 } as const;

/** Serverless Framework's defaults when serverless.yml does not set them. */
export const serverlessDefaults = {
  timeoutSeconds: 6,
  memorySize: 1024,
  stage: 'dev',
  region: 'us-east-1',
  runtime: 'nodejs22.x',
  websocketRouteSelectionExpression: '$request.body.action',
} as const;

/** Local choices (not AWS quotas): bounds that keep a laptop responsive. */
export const emulatorDefaults = {
  /** Warm containers per function; AWS scales much further, a laptop with 2 cores does not. */
  maxContainersPerFunction: 4,
  /** $disconnect invocations in flight when thousands of connections end at once. */
  disconnectConcurrency: 32,
  /** A client that never answers the close handshake is cut after this long, as a proxy would. */
  closeHandshakeGraceMs: 2000,
} as const;
