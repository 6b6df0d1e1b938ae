import type { LoggedEvent } from '../eventLog.js';
import { describeStreamEvent } from '../lambda/eventSourceEvents.js';

const time = (epochMs: number): string => new Date(epochMs).toISOString().slice(11, 23);
/** A request id, shortened: enough to tell concurrent invocations apart on a console. */
const rid = (requestId: string): string => `[${requestId.slice(0, 8)}]`;
const short = (text: string, max = 120): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** One readable console line per emulator event, or undefined for events too chatty to print (DynamoDB calls). */
export function describeEvent(event: LoggedEvent, options: { verbose?: boolean } = {}): string | undefined {
  const at = time(event.time);
  switch (event.kind) {
    case 'invokeStart':
      // The start line comes before anything the invocation causes; the end line closes it with the same id.
      return `${at} λ ${event.functionName} ${event.trigger} start${event.coldStart ? ' (cold)' : ''} ${rid(event.requestId)}`;
    case 'invoke':
      return `${at} λ ${event.functionName} ${event.trigger} ${event.outcome}${event.coldStart ? ' (cold)' : ''} ${event.durationMs} ms ${rid(event.requestId)}${event.error ? ` — ${short(event.error)}` : ''}`;
    case 'management':
      return `${at} ⇢ ${event.method} @connections/${event.connectionId} → ${event.statusCode}${event.errorType ? ` ${event.errorType}` : ''}`;
    case 'delivered':
      return `${at} → ${event.connectionId} ${short(event.data)}`;
    case 'connection':
      return `${at} ⚡ ${event.connectionId} ${event.state}${event.statusCode !== undefined ? ` ${event.statusCode}` : ''}${event.reason ? ` ${event.reason}` : ''}`;
    case 'cacheInvalidated':
      return `${at} ✗ cache ${event.keys.join(', ')}`;
    case 'http':
      return `${at} ${event.method} ${event.path} → ${event.statusCode}`;
    case 'fault':
      return `${at} ! fault ${event.description}`;
    case 'log': {
      // Structured INFO/DEBUG lines are chatty (every request logs a few); warnings, errors and a developer's plain
      // console.log lines are what one looks for.
      const structured = event.data !== undefined;
      const show = options.verbose || !structured || /^(WARN|ERROR|CRITICAL)/i.test(event.level);
      return show
        ? `${at} ${structured ? event.level : '›'} ${event.functionName}${event.requestId ? ` ${rid(event.requestId)}` : ''}: ${short(event.message, 300)}${structured && Object.keys(event.data!).length ? ` ${short(JSON.stringify(event.data), 200)}` : ''}`
        : undefined;
    }
    case 'streamRecord':
    case 'batch':
    case 'sqs':
      return `${at} ≋ ${describeStreamEvent(event)}`;
    case 'dynamodb':
      return event.statusCode >= 400
        ? `${at} ▣ DynamoDB ${event.operation} ${event.table ?? ''} → ${event.statusCode} ${event.errorType ?? ''}`
        : undefined;
  }
}
