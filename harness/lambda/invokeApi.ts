/**
 * Lambda's Invoke API (`POST /2015-03-31/functions/{FunctionName}/invocations`), so `aws lambda invoke
 * --endpoint-url …` and the SDK's LambdaClient reach the emulated functions. Answers as Lambda does: the result as
 * the body with `X-Amz-Executed-Version`; a function error is still HTTP 200, flagged by `X-Amz-Function-Error:
 * Unhandled` with `{errorType, errorMessage, trace}`; a request over the invocation type's quota (6 MB synchronous,
 * 1 MB `Event`) is 413 `RequestTooLargeException`; `Event` invocations answer 202 at once; `DryRun` 204; an unknown
 * function 404 `ResourceNotFoundException` (Lambda API reference, "Invoke").
 */
import type { HttpLikeRequest, HttpLikeResponse, Invoke } from './types.js';

const PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/** Lambda's quota on the request body of a synchronous (RequestResponse) invocation: 6 MB. */
export const MAX_SYNC_REQUEST_BYTES = 6_291_456;
/** Lambda's quota on an asynchronous (Event) invocation's request body: 1 MB since October 2025 (256 KB before). */
export const MAX_ASYNC_REQUEST_BYTES = 1_048_576;

/** RequestTooLargeException's message, as Lambda words it for a request over `quota` bytes. */
export const requestTooLargeMessage = (quota: number): string =>
  `Request must be smaller than ${quota} bytes for the InvokeFunction operation`;

const json = (statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpLikeResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json', ...headers },
  body: Buffer.from(JSON.stringify(body)),
});

const serviceError = (statusCode: number, type: string, message: string): HttpLikeResponse =>
  json(statusCode, { Type: 'User', message }, { 'x-amzn-errortype': type });

export function isInvokeRequest(path: string): boolean {
  return PATH.test(path.split('?')[0]);
}

/** `functions`: the short names (serverless.yml keys) by every name Lambda would accept for them. */
export function createInvokeApi(options: {
  invoke: Invoke;
  functions: Array<{ name: string; deployedName: string }>;
  region: string;
  accountId: string;
}) {
  function resolveName(raw: string): string | undefined {
    const name = decodeURIComponent(raw);
    // An ARN (arn:aws:lambda:region:account:function:name[:qualifier]) or a name with a qualifier.
    const bare = name.startsWith('arn:') ? name.split(':')[6] : name.split(':')[0];
    return options.functions.find((f) => f.name === bare || f.deployedName === bare)?.name;
  }

  return async function handle(request: HttpLikeRequest): Promise<HttpLikeResponse> {
    const match = PATH.exec(request.path.split('?')[0]);
    if (!match || request.method !== 'POST') return serviceError(404, 'UnknownOperationException', 'Unknown operation');
    const functionName = resolveName(match[1]);
    if (!functionName) {
      const arn = `arn:aws:lambda:${options.region}:${options.accountId}:function:${decodeURIComponent(match[1])}`;
      return serviceError(404, 'ResourceNotFoundException', `Function not found: ${arn}`);
    }
    const type = request.headers['x-amz-invocation-type'] ?? 'RequestResponse';
    // Lambda's quota on the request body, by invocation type (the SDK's RequestTooLargeException, HTTP 413).
    const quota = type === 'Event' ? MAX_ASYNC_REQUEST_BYTES : MAX_SYNC_REQUEST_BYTES;
    if (request.body.byteLength > quota) return serviceError(413, 'RequestTooLargeException', requestTooLargeMessage(quota));
    let event: unknown = {};
    const text = Buffer.from(request.body).toString('utf8');
    if (text.trim()) {
      try {
        event = JSON.parse(text);
      } catch {
        return serviceError(400, 'InvalidRequestContentException', 'Could not parse request body into json');
      }
    }
    if (type === 'DryRun') return { statusCode: 204, headers: {}, body: new Uint8Array() };
    if (type === 'Event') {
      void options.invoke(functionName, event, 'Invoke (Event)');
      return { statusCode: 202, headers: {}, body: new Uint8Array() };
    }
    const result = await options.invoke(functionName, event, 'Invoke');
    const executed = { 'x-amz-executed-version': '$LATEST' };
    if (result.ok) return json(200, result.value ?? null, executed);
    return json(
      200,
      { errorType: result.error.name, errorMessage: result.error.message, trace: (result.error.stack ?? '').split('\n').filter(Boolean) },
      { ...executed, 'x-amz-function-error': 'Unhandled' },
    );
  };
}
