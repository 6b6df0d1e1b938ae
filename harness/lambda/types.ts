/**
 * The contract between the Lambda invoker and the emulated event sources (WebSocket API, HTTP API).
 * Event sources build AWS-shaped events and call `invoke`; they never load handler code themselves.
 */
export type InvocationResult =
  | { ok: true; value: unknown; requestId: string; coldStart: boolean; durationMs: number }
  | {
      ok: false;
      /** 'error': the handler threw or rejected; 'timeout': it ran past the function's timeout and was killed. */
      kind: 'error' | 'timeout';
      error: { name: string; message: string; stack?: string };
      requestId: string;
      coldStart: boolean;
      durationMs: number;
    };

/** Invokes the named function with `event`; `trigger` says what caused it (e.g. "$connect", "POST /graphql"). */
export type Invoke = (functionName: string, event: unknown, trigger: string) => Promise<InvocationResult>;

/** A transport-neutral HTTP exchange, so one request handler serves a real port and in-process SDK calls alike. */
export interface HttpLikeRequest {
  method: string;
  /** Path with query string, e.g. "/dev/@connections/abc%3D". */
  path: string;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  body: Uint8Array;
}

export interface HttpLikeResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Uint8Array;
}

export type HttpLikeHandler = (request: HttpLikeRequest) => Promise<HttpLikeResponse>;
