/**
 * `GET /_emulator/events`: the emulator's event log as JSON, for tools outside the process (a bench timing where a
 * fanout's time went, a test runner in another language) that cannot subscribe to it in-process. Filters:
 * - `kind=invokeStart,streamRecord` — only these kinds;
 * - `function=notifier` — only events of that function (invocations, batches, logs);
 * - `after=<seq>` — only events recorded after that sequence number (each event carries its `seq`);
 * - `limit=<n>` — at most the last n matching events (default and maximum 10,000).
 * The log keeps the most recent events only (see EventLog), so a long run answers with its tail.
 */
import type { EmulatorEvent, EventLog, LoggedEvent } from './eventLog.js';
import type { HttpLikeResponse } from './lambda/types.js';

export const EVENTS_PATH = '/_emulator/events';
const MAX_EVENTS = 10_000;
const KINDS: ReadonlySet<EmulatorEvent['kind']> = new Set([
  'invokeStart',
  'invoke',
  'management',
  'dynamodb',
  'delivered',
  'connection',
  'cacheInvalidated',
  'http',
  'fault',
  'streamRecord',
  'batch',
  'sqs',
  'log',
]);

const json = (statusCode: number, body: unknown): HttpLikeResponse => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify(body)),
});

const wholeNumber = (text: string | null): number | undefined | 'invalid' => {
  if (text === null) return undefined;
  const n = Number(text);
  return Number.isInteger(n) && n >= 0 ? n : 'invalid';
};

export function serveEventLog(eventLog: EventLog, query: string): HttpLikeResponse {
  const params = new URLSearchParams(query);
  const kinds = params.get('kind')?.split(',').filter(Boolean);
  const unknown = kinds?.filter((kind) => !KINDS.has(kind as EmulatorEvent['kind']));
  if (unknown?.length) return json(400, { message: `unknown event kind ${unknown.join(', ')}; kinds: ${[...KINDS].join(', ')}` });
  const after = wholeNumber(params.get('after'));
  const limit = wholeNumber(params.get('limit'));
  if (after === 'invalid' || limit === 'invalid' || limit === 0)
    return json(400, { message: 'after must be a whole number ≥ 0 and limit a whole number ≥ 1' });
  const functionName = params.get('function');
  const wanted = (event: LoggedEvent): boolean =>
    (after === undefined || event.seq > after) &&
    (!kinds || kinds.includes(event.kind)) &&
    (functionName === null || ('functionName' in event && event.functionName === functionName));
  const events = eventLog.all().filter(wanted);
  return json(200, { events: events.slice(Math.max(0, events.length - Math.min(limit ?? MAX_EVENTS, MAX_EVENTS))) });
}
