/**
 * What runs inside one Lambda container (a worker thread): loads one function's handler once (the cold start),
 * then serves invocations one at a time with an AWS-shaped context. Handler code and module state live only here,
 * so two functions — or two containers of one function — never share them, as on AWS.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { installManagementApiFastPath, installSdkInterceptor } from './sdkInterceptor.js';
import type { HttpLikeRequest, HttpLikeResponse } from './types.js';

export interface ContainerData {
  handlerFile: string;
  handlerExport: string;
  functionName: string;
  memorySize: number;
  region: string;
  accountId: string;
  interceptHosts: string[];
  /** 'fast': management client answered at send (default); 'wire': the SDK's full request path, minus the socket. */
  interceptMode: 'fast' | 'wire';
}

export type ToContainer =
  | { type: 'invoke'; id: number; event: unknown; requestId: string; deadline: number }
  | { type: 'http-response'; id: number; response: HttpLikeResponse };

export type FromContainer =
  | { type: 'result'; id: number; ok: true; value: unknown; initMs: number }
  | { type: 'result'; id: number; ok: false; error: { name: string; message: string; stack?: string }; initMs: number }
  | { type: 'http-request'; id: number; request: HttpLikeRequest };

const data = workerData as ContainerData;
const port = parentPort!;
const post = (message: FromContainer): void => port.postMessage(message);

// Management API calls (and any other intercepted host) are answered by the emulator in the main thread.
let nextHttpId = 0;
const pendingHttp = new Map<number, (response: HttpLikeResponse) => void>();
if (data.interceptHosts.length) {
  const hosts = new Set(data.interceptHosts);
  const serve = (request: HttpLikeRequest): Promise<HttpLikeResponse> =>
    new Promise((resolve) => {
      const id = ++nextHttpId;
      pendingHttp.set(id, resolve);
      post({ type: 'http-request', id, request });
    });
  // The wire path serves every intercepted host (SQS, and management calls in 'wire' mode); in 'fast' mode the
  // management client is answered at `send` before it reaches the wire.
  installSdkInterceptor((hostname) => hosts.has(hostname), serve);
  if (data.interceptMode !== 'wire') installManagementApiFastPath((hostname) => hosts.has(hostname), serve);
}

type Handler = (event: unknown, context: object, callback?: (error: unknown, result?: unknown) => void) => unknown;
let handler: Handler | undefined;
let initMs = 0;
const logStreamName = `${new Date().toISOString().slice(0, 10).replace(/-/g, '/')}/[$LATEST]${randomBytes(16).toString('hex')}`;

async function loadHandler(): Promise<Handler> {
  const started = performance.now();
  const module = (await import(pathToFileURL(data.handlerFile).href)) as Record<string, unknown>;
  const exported = module[data.handlerExport] ?? (module.default as Record<string, unknown> | undefined)?.[data.handlerExport];
  if (typeof exported !== 'function') {
    throw Object.assign(new Error(`${data.handlerFile} does not export a function named "${data.handlerExport}"`), { name: 'Runtime.HandlerNotFound' });
  }
  initMs = performance.now() - started;
  return exported as Handler;
}

function contextFor(requestId: string, deadline: number) {
  return {
    awsRequestId: requestId,
    functionName: data.functionName,
    functionVersion: '$LATEST',
    memoryLimitInMB: String(data.memorySize),
    invokedFunctionArn: `arn:aws:lambda:${data.region}:${data.accountId}:function:${data.functionName}`,
    logGroupName: `/aws/lambda/${data.functionName}`,
    logStreamName,
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

/** Calls an async handler, or a callback-style one (three parameters), and settles with its result. */
function call(fn: Handler, event: unknown, context: object): Promise<unknown> {
  if (fn.length >= 3) {
    return new Promise((resolve, reject) => {
      const returned = fn(event, context, (error, result) => (error ? reject(error) : resolve(result)));
      if (returned && typeof (returned as Promise<unknown>).then === 'function') (returned as Promise<unknown>).then(resolve, reject);
    });
  }
  return Promise.resolve(fn(event, context));
}

function errorOf(error: unknown): { name: string; message: string; stack?: string } {
  if (error instanceof Error) return { name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}) };
  return { name: 'Error', message: typeof error === 'string' ? error : JSON.stringify(error) };
}

port.on('message', async (message: ToContainer) => {
  if (message.type === 'http-response') {
    pendingHttp.get(message.id)?.(message.response);
    pendingHttp.delete(message.id);
    return;
  }
  const reportedInit = handler ? 0 : undefined;
  try {
    handler ??= await loadHandler();
    const value = await call(handler, message.event, contextFor(message.requestId, message.deadline));
    // Lambda returns the JSON serialization of the result: the same here, so nothing unserializable slips through.
    post({ type: 'result', id: message.id, ok: true, value: value === undefined ? null : JSON.parse(JSON.stringify(value)), initMs: reportedInit ?? initMs });
  } catch (error) {
    post({ type: 'result', id: message.id, ok: false, error: errorOf(error), initMs: reportedInit ?? initMs });
  }
});
