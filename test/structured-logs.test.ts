/**
 * The handlers' logs on the emulator (PerkUp's real handlers, Powertools Logger): each line is JSON with the
 * invocation's request id, the route and the connection id; the seed's outcomes are fields; and no token reaches the
 * logs, even with POWERTOOLS_LOGGER_LOG_EVENT=true logging whole events (query strings, Authorization headers).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { startEmulator, type Emulator } from '../harness/emulator.js';
import { ScenarioClient } from '../harness/scenarios/client.js';
import type { LoggedEvent } from '../harness/eventLog.js';
import { signDevelopmentToken } from '../src/auth/tokens.js';
import { redact } from '../src/observability/logger.js';
import { CREATE_PARTNER, seedPartnerInput } from './fixtures/seed.js';

const SECRET = 'logs-secret';
let emulator: Emulator;
let member: ScenarioClient;
let memberToken: string;
let adminToken: string;

type LogEvent = Extract<LoggedEvent, { kind: 'log' }>;
const logs = (): LogEvent[] => emulator.eventLog.all().filter((e): e is LogEvent => e.kind === 'log');

beforeAll(async () => {
  emulator = await startEmulator({
    projectRoot: fileURLToPath(new URL('..', import.meta.url)),
    environment: { JWT_SECRET: SECRET, POWERTOOLS_LOGGER_LOG_EVENT: 'true', LOG_LEVEL: 'INFO' },
  });
  memberToken = await signDevelopmentToken({ sub: 'member-logs', role: 'user' }, SECRET);
  adminToken = await signDevelopmentToken({ sub: 'admin-logs', role: 'admin' }, SECRET);
  member = new ScenarioClient('member', memberToken);
  expect(await member.connect(emulator.wsUrl)).toEqual({ ok: true });
  member.send(JSON.stringify({ type: 'subscribe', data: { topics: ['partners'], city: 'Paris' } }));
  await member.waitFor({ type: 'subscribed' }, 10_000);
  const response = await fetch(emulator.graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ query: CREATE_PARTNER, variables: { input: { ...seedPartnerInput, city: 'Paris' } } }),
  });
  expect(response.status).toBe(200);
  await member.waitFor({ type: 'partner_updated', action: 'created' }, 10_000);
  // The client hears before the notifier logs its summary and returns: wait for the batch and that line.
  await emulator.mappingsIdle();
  const deadline = Date.now() + 10_000;
  while (!logs().some((e) => e.message === 'notifications sent') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}, 60_000);
afterAll(async () => {
  await member?.disconnect({ abrupt: true }).catch(() => undefined);
  await emulator?.close();
});

describe('structured logs', () => {
  it('carry the request id of the invocation that wrote them, the route and the connection id', () => {
    const connected = logs().find((e) => e.functionName === 'websocket' && e.message === 'connected');
    expect(connected?.data).toMatchObject({
      route: '$connect',
      connectionId: expect.any(String),
      function_request_id: connected?.requestId,
      service: 'perkup-dev',
      userId: 'member-logs',
    });
    const invalidated = logs().find((e) => e.functionName === 'notifier' && e.message === 'cache invalidated');
    expect(invalidated?.data?.function_request_id).toBe(invalidated?.requestId);
    // A later invocation of the same warm container does not inherit the $connect's keys.
    const subscribeLine = logs().find(
      (e) => e.functionName === 'websocket' && e.message === 'Lambda invocation event' && e.requestId !== connected?.requestId,
    );
    expect(subscribeLine?.data).toMatchObject({ route: '$default' });
  });

  it("report the seed's outcomes as fields: notifications sent, gone, failed, with counts", () => {
    const sent = logs().find((e) => e.functionName === 'notifier' && e.message === 'notifications sent');
    expect(sent?.data).toMatchObject({ connections: 1, delivered: 1, gone: 0, failed: 0, eventIds: [expect.any(String)] });
  });

  it('never hold a token, even when whole events are logged', () => {
    const events = logs().filter((e) => e.message === 'Lambda invocation event');
    // The $connect event (token in the query string) and the GraphQL one (Authorization header) were logged…
    const connectEvent = events.find((e) => e.functionName === 'websocket' && e.data?.route === '$connect');
    expect((connectEvent?.data?.event as { queryStringParameters?: unknown })?.queryStringParameters).toEqual({ token: '[redacted]' });
    const graphqlEvent = events.find((e) => e.functionName === 'graphql');
    expect((graphqlEvent?.data?.event as { headers?: Record<string, string> })?.headers?.authorization).toBe('[redacted]');
    // …and no line anywhere holds either token, nor any JWT.
    const everything = JSON.stringify(logs());
    for (const token of [memberToken, adminToken]) expect(everything).not.toContain(token.split('.')[2]);
    expect(everything).not.toMatch(/eyJ[\w-]*\.[\w-]+\.[\w-]*/);
  });

  it('redaction: credential fields whatever their value, JWTs inside any string, nothing else', () => {
    expect(redact('token', 'abc')).toBe('[redacted]');
    expect(redact('Authorization', 'Bearer x')).toBe('[redacted]');
    expect(redact('message', `bad header Bearer ${'eyJhbGciOiJIUzI1NiJ9'}.eyJzdWIiOiJhIn0.sig-nature_1 here`)).toBe(
      'bad header Bearer [redacted JWT] here',
    );
    expect(redact('city', 'Paris')).toBe('Paris');
    expect(redact('token', '')).toBe('');
    expect(redact('count', 3)).toBe(3);
  });
});
