import type { LoggedEvent } from '../eventLog.js';

/** Stream records, event source mapping batches and queue moves, one readable line each (console and reports). */
export function describeStreamEvent(e: Extract<LoggedEvent, { kind: 'streamRecord' | 'batch' | 'sqs' }>): string {
  if (e.kind === 'streamRecord')
    return `stream ${e.table} ${e.eventName} #${e.sequenceNumber}${e.ttl ? ' (TTL)' : ''} ${JSON.stringify(e.keys)}`;
  if (e.kind === 'batch')
    return `batch ${e.source}→${e.functionName} ${e.action} ×${e.size}${e.attempt ? ` attempt ${e.attempt}` : ''}${e.detail ? ` ${e.detail}` : ''}`;
  return `sqs ${e.queue} ${e.action} ${e.messageId}${e.receiveCount ? ` (receive ${e.receiveCount})` : ''}`;
}
