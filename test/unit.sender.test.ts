/**
 * The sender's delivery policy, fast and without sockets or dynalite: a real ApiGatewayManagementApiClient whose
 * `send` is answered by aws-sdk-client-mock with the errors the SDK raises for AWS's answers (410 GoneException,
 * 429 LimitExceededException, 403, 413, an unmodelled 500, the HTTP handler's TimeoutError and ECONNRESET).
 * What each policy means end to end (a real management API, real sockets) is tested in backend.realtime and the
 * F9–F11 conformance tests; here every branch of the policy is pinned down in milliseconds.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  ApiGatewayManagementApiClient,
  ApiGatewayManagementApiServiceException,
  ForbiddenException,
  GoneException,
  LimitExceededException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { Logger } from '@aws-lambda-powertools/logger';
import { isGone, sendToConnections, type SendOptions } from '../src/realtime/sender.js';

const client = new ApiGatewayManagementApiClient({
  region: 'eu-west-3',
  endpoint: 'https://api.example/dev',
  credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
});
const mock = mockClient(client);
// retryBaseDelayMs 1: the backoff's shape is not under test here, only whether a retry happens and how many.
const options: SendOptions = { concurrency: 4, maxAttempts: 3, retryBaseDelayMs: 1 };
const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });

const gone = () => new GoneException({ message: '', ...meta(410) });
const throttled = () => new LimitExceededException({ message: 'Rate exceeded', ...meta(429) });
const forbidden = () => new ForbiddenException({ message: 'Forbidden', ...meta(403) });
const tooLarge = () => new PayloadTooLargeException({ message: 'Message too long', ...meta(413) });
/** A 500 has no modelled error: the SDK raises its service exception with AWS's error name. */
const serverError = () =>
  new ApiGatewayManagementApiServiceException({
    name: 'InternalServerErrorException',
    $fault: 'server',
    message: 'Internal server error',
    ...meta(500),
  });
/** @smithy/node-http-handler's request and connection timeouts: an Error named TimeoutError, no HTTP status. */
const timeout = () => Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' });
const reset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

let logger: Logger;
let onGone: ReturnType<typeof vi.fn<(id: string) => Promise<unknown>>>;

beforeEach(() => {
  mock.reset();
  logger = new Logger({ serviceName: 'sender-test', logLevel: 'SILENT' });
  onGone = vi.fn(async () => undefined);
});
afterEach(() => vi.restoreAllMocks());

const send = (ids: string[], opts: SendOptions = options) => sendToConnections(client, ids, '{"type":"x"}', opts, { onGone, logger });
const postsTo = (id: string) => mock.commandCalls(PostToConnectionCommand, { ConnectionId: id }).length;

describe('sendToConnections', () => {
  it('delivers the payload bytes to every connection, once each', async () => {
    mock.on(PostToConnectionCommand).resolves({});
    const report = await send(['a', 'b', 'c']);
    expect(report).toEqual({ delivered: expect.arrayContaining(['a', 'b', 'c']), gone: [], failed: [] });
    expect(report.delivered).toHaveLength(3);
    for (const id of ['a', 'b', 'c']) expect(postsTo(id)).toBe(1);
    expect(Buffer.from(mock.commandCalls(PostToConnectionCommand)[0].args[0].input.Data as Uint8Array).toString()).toBe('{"type":"x"}');
    expect(onGone).not.toHaveBeenCalled();
  });

  it('410: never retried, reported gone, the connection records deleted through onGone', async () => {
    mock.on(PostToConnectionCommand).resolves({}).on(PostToConnectionCommand, { ConnectionId: 'old' }).rejects(gone());
    const report = await send(['live', 'old']);
    expect(report).toEqual({ delivered: ['live'], gone: ['old'], failed: [] });
    expect(postsTo('old')).toBe(1);
    expect(onGone.mock.calls).toEqual([['old']]);
  });

  it('410 recognised by status alone (an SDK error without the modelled name)', () => {
    expect(isGone({ name: 'Unknown', $metadata: { httpStatusCode: 410 } })).toBe(true);
    expect(isGone({ name: 'GoneException' })).toBe(true);
    expect(isGone({ name: 'ForbiddenException', $metadata: { httpStatusCode: 403 } })).toBe(false);
  });

  it('a failing onGone is logged and does not fail the send', async () => {
    mock.on(PostToConnectionCommand).rejects(gone());
    onGone.mockRejectedValue(new Error('DynamoDB down'));
    const error = vi.spyOn(logger, 'error');
    const report = await send(['old']);
    expect(report).toEqual({ delivered: [], gone: ['old'], failed: [] });
    expect(error).toHaveBeenCalledWith('could not delete a gone connection', expect.objectContaining({ connectionId: 'old' }));
  });

  it("a failed post's log line keeps the error's message (Powertools drops a field named `message`, with a warning)", async () => {
    mock.on(PostToConnectionCommand).rejects(serverError());
    const written: string[] = [];
    const capture = (chunk: unknown): boolean => {
      written.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    const warnings = new Logger({ serviceName: 'sender-test', logLevel: 'WARN' });
    await sendToConnections(client, ['a'], '{"type":"x"}', { ...options, maxAttempts: 1 }, { onGone, logger: warnings });
    vi.restoreAllMocks();
    const lines = written.join('').split('\n').filter(Boolean);
    expect(lines.filter((line) => /reserved key/.test(line))).toEqual([]);
    const failed = lines
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((l) => l.message === 'postToConnection failed');
    expect(failed).toMatchObject({
      connectionId: 'a',
      errorName: 'InternalServerErrorException',
      errorMessage: 'Internal server error',
      statusCode: 500,
    });
  });

  for (const [what, error] of [
    ['429 LimitExceededException', throttled],
    ['500 from the service', serverError],
    ['a request or connection timeout (TimeoutError)', timeout],
    ['a reset socket (ECONNRESET)', reset],
  ] as const) {
    it(`${what}: retried, and delivered when a later attempt succeeds`, async () => {
      mock.on(PostToConnectionCommand).rejectsOnce(error()).rejectsOnce(error()).resolves({});
      const report = await send(['a']);
      expect(report).toEqual({ delivered: ['a'], gone: [], failed: [] });
      expect(postsTo('a')).toBe(3);
    });

    it(`${what}: at most maxAttempts attempts, then reported failed with the error`, async () => {
      const sample = error();
      mock.on(PostToConnectionCommand).rejects(error());
      const warn = vi.spyOn(logger, 'warn');
      const report = await send(['a']);
      expect(postsTo('a')).toBe(options.maxAttempts);
      expect(report.delivered).toEqual([]);
      expect(report.failed).toEqual([
        {
          connectionId: 'a',
          error: `${sample.name}: ${sample.message}`,
          statusCode: (sample as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode,
        },
      ]);
      // Every failed attempt is logged; only the last says it will not be retried.
      expect(warn.mock.calls.map(([, fields]) => (fields as { retry: boolean }).retry)).toEqual([true, true, false]);
    });
  }

  for (const [what, error, status] of [
    ['403 ForbiddenException', forbidden, 403],
    ['413 PayloadTooLargeException', tooLarge, 413],
  ] as const) {
    it(`${what}: not retried (it cannot pass later), reported failed with its status`, async () => {
      mock.on(PostToConnectionCommand).rejects(error());
      const report = await send(['a']);
      expect(postsTo('a')).toBe(1);
      expect(report).toEqual({
        delivered: [],
        gone: [],
        failed: [{ connectionId: 'a', error: expect.stringMatching(/^\w+Exception: /), statusCode: status }],
      });
    });
  }

  it('one bad connection does not stop the others, and never throws', async () => {
    mock
      .on(PostToConnectionCommand)
      .resolves({})
      .on(PostToConnectionCommand, { ConnectionId: 'forbidden' })
      .rejects(forbidden())
      .on(PostToConnectionCommand, { ConnectionId: 'gone' })
      .rejects(gone());
    const ids = ['a', 'forbidden', 'b', 'gone', 'c'];
    const report = await send(ids, { ...options, concurrency: 2 });
    expect([...report.delivered].sort()).toEqual(['a', 'b', 'c']);
    expect(report.gone).toEqual(['gone']);
    expect(report.failed.map((f) => f.connectionId)).toEqual(['forbidden']);
    expect(mock.commandCalls(PostToConnectionCommand)).toHaveLength(ids.length);
  });

  it('maxAttempts 1 turns retries off', async () => {
    mock.on(PostToConnectionCommand).rejects(throttled());
    const report = await send(['a'], { ...options, maxAttempts: 1 });
    expect(postsTo('a')).toBe(1);
    expect(report.failed).toHaveLength(1);
  });

  it('an empty list posts nothing', async () => {
    expect(await send([])).toEqual({ delivered: [], gone: [], failed: [] });
    expect(mock.commandCalls(PostToConnectionCommand)).toHaveLength(0);
  });
});
