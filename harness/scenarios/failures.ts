/** How a failed step and the emulator's recent events read in a report. */
import type { LoggedEvent } from '../eventLog.js';
import { ExpectationFailure, type Frame } from './client.js';
import { renderMismatch } from './diff.js';
import { describeStreamEvent } from '../lambda/eventSourceEvents.js';

export const indent = (text: string): string =>
  text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');

/** The failure's message, plus for a frame expectation the diff against the nearest frame and every frame received. */
export function describeFailure(error: Error): string {
  if (error instanceof ExpectationFailure) {
    const { pattern, nearest, received } = error.detail;
    const parts = [error.message];
    if (pattern !== undefined) {
      parts.push(
        nearest !== undefined
          ? renderMismatch('nearest frame', pattern, nearest)
          : `  expected a frame matching ${JSON.stringify(pattern)}; none came`,
      );
    }
    if (received?.length)
      parts.push(
        `  frames received in the window:\n${received.map((f: Frame) => `    +${f.at}ms ${f.consumed ? '(consumed) ' : ''}${f.text.slice(0, 300)}`).join('\n')}`,
      );
    else if (pattern !== undefined) parts.push('  frames received in the window: none');
    return parts.join('\n');
  }
  return error.message;
}

export function formatEvent(e: LoggedEvent): string {
  switch (e.kind) {
    case 'invokeStart':
      return `λ ${e.functionName} ${e.trigger} start${e.coldStart ? ' (cold)' : ''} [${e.requestId.slice(0, 8)}]`;
    case 'invoke':
      return `λ ${e.functionName} ${e.trigger} → ${e.outcome}${e.coldStart ? ' (cold)' : ''}${e.error ? ` ${e.error}` : ''}`;
    case 'management':
      return `@connections ${e.method} ${e.connectionId} → ${e.statusCode}${e.errorType ? ` ${e.errorType}` : ''}`;
    case 'dynamodb':
      return `DynamoDB ${e.operation} ${e.table ?? ''} → ${e.statusCode}`;
    case 'delivered':
      return `delivered to ${e.connectionId}: ${e.data.slice(0, 160)}`;
    case 'connection':
      return `connection ${e.connectionId} ${e.state}${e.statusCode !== undefined ? ` ${e.statusCode}` : ''}${e.reason ? ` ${e.reason}` : ''}`;
    case 'cacheInvalidated':
      return `cache invalidated [${e.keys.join(', ')}]`;
    case 'http':
      return `HTTP ${e.method} ${e.path} → ${e.statusCode}`;
    case 'fault':
      return `fault: ${e.description}`;
    case 'log':
      return `log ${e.functionName} ${e.level} ${e.message}`;
    case 'streamRecord':
    case 'batch':
    case 'sqs':
      return describeStreamEvent(e);
  }
}
