/**
 * Bounded concurrency of the notifier's fanout (src/realtime/sender.ts): however many connections one notification
 * goes to, at most `concurrency` postToConnection calls are in flight at once — counted where they arrive, at a fake
 * management API on loopback that answers as API Gateway does (200 empty body; 410 GoneException with an empty body;
 * 429 LimitExceededException), reached through the real SDK client the Lambda builds.
 *
 * No timing: the fake holds every request and answers the held ones together only once as many are in flight as
 * could possibly be (the bound, or fewer when fewer posts remain); one that stayed below the bound would never fill
 * the gate, so the maximum is reached too. Excess posts are also counted where they start, in the client's
 * middleware stack: a request beyond the bound may reach the server only after the gate opened, but it starts
 * (synchronously, with the others) before any answer.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Logger } from '@aws-lambda-powertools/logger';
import { managementClient } from '../src/aws/clients.js';
import { sendToConnections } from '../src/realtime/sender.js';

interface Held {
  connectionId: string;
  response: ServerResponse;
}

/** What the fake answers for one post; `attempt` counts this connection's posts, from 1. */
type Answer = (connectionId: string, attempt: number) => 200 | 410 | 429;

let server: ReturnType<typeof createServer>;
let port = 0;
let handler: (request: IncomingMessage, response: ServerResponse) => void = (_q, r) => r.writeHead(500).end();

beforeAll(async () => {
  // A Lambda has credentials in its environment; the client signs with whatever these are (the fake does not check).
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  server = createServer((request, response) => handler(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function fakeManagementApi(options: { bound: number; expectedPosts: number; answer: Answer }) {
  let inFlight = 0;
  let maxInFlight = 0;
  let answered = 0;
  const attempts = new Map<string, number>();
  const held: Held[] = [];

  function reply({ connectionId, response }: Held): void {
    const attempt = (attempts.get(connectionId) ?? 0) + 1;
    attempts.set(connectionId, attempt);
    const status = options.answer(connectionId, attempt);
    inFlight--;
    answered++;
    if (status === 200) response.writeHead(200).end();
    else if (status === 410) response.writeHead(410, { 'x-amzn-errortype': 'GoneException', 'content-type': 'application/json' }).end();
    else
      response
        .writeHead(429, { 'x-amzn-errortype': 'LimitExceededException', 'content-type': 'application/json' })
        .end(JSON.stringify({ message: 'Rate exceeded' }));
  }

  handler = (request, response) => {
    const match = /^\/test\/(?:@|%40)connections\/([^/]+)$/.exec(request.url ?? '');
    request.resume();
    request.once('end', () => {
      if (request.method !== 'POST' || !match) return void response.writeHead(404).end();
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      held.push({ connectionId: decodeURIComponent(match[1]), response });
      // Answer the held ones together once the gate is full: the bound, or every post still to come.
      if (held.length >= Math.min(options.bound, options.expectedPosts - answered)) for (const h of held.splice(0)) reply(h);
    });
  };
  return { maxInFlight: () => maxInFlight, answered: () => answered, attempts };
}

/** In-flight sends counted in the client itself, from the moment `send` starts until it settles. */
const started = { now: 0, max: 0 };
const counted = new WeakSet<object>();
function countSends(client: ReturnType<typeof managementClient>): void {
  if (counted.has(client)) return;
  counted.add(client);
  client.middlewareStack.add(
    (next) => async (args) => {
      started.max = Math.max(started.max, ++started.now);
      try {
        return await next(args);
      } finally {
        started.now--;
      }
    },
    { step: 'initialize', name: 'countInFlight' },
  );
}

const logger = new Logger({ serviceName: 'sender-test', logLevel: 'SILENT' });

describe('sendToConnections: bounded concurrency', () => {
  for (const concurrency of [1, 5, 32]) {
    it(`never more than ${concurrency} posts in flight for 300 connections (with 410s and a retried 429), and reaches it`, async () => {
      const ids = Array.from({ length: 300 }, (_, i) => `conn${i}=`);
      const gone = new Set([ids[7], ids[100], ids[299]]);
      const throttledOnce = ids[50];
      // Every connection once, plus the throttled one's second attempt.
      const fake = fakeManagementApi({
        bound: concurrency,
        expectedPosts: ids.length + 1,
        answer: (id, attempt) => (gone.has(id) ? 410 : id === throttledOnce && attempt === 1 ? 429 : 200),
      });
      // The client the Lambda builds (SDK retries off: the sender's own handle 429s); cached per endpoint, as warm.
      const client = managementClient(`http://127.0.0.1:${port}/test`, {
        region: 'eu-west-1',
        notify: { requestTimeoutMs: 30_000, connectTimeoutMs: 30_000 },
      });
      countSends(client);
      started.max = 0;
      const removed: string[] = [];
      const report = await sendToConnections(
        client,
        ids,
        '{"type":"partner_updated"}',
        { concurrency, maxAttempts: 3, retryBaseDelayMs: 1 },
        {
          onGone: async (id) => void removed.push(id),
          logger,
        },
      );
      expect(started.max).toBe(concurrency);
      expect(fake.maxInFlight()).toBe(concurrency);
      expect(fake.answered()).toBe(ids.length + 1);
      expect(report.failed).toEqual([]);
      expect(new Set(report.gone)).toEqual(gone);
      expect(new Set(removed)).toEqual(gone);
      expect(report.delivered).toHaveLength(ids.length - gone.size);
      expect(report.delivered).toContain(throttledOnce);
      expect(fake.attempts.get(throttledOnce)).toBe(2);
    });
  }
});
