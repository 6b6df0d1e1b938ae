/**
 * An ordered record of everything the emulator did: route invocations, management API calls and their
 * status, DynamoDB operations, messages delivered to clients, cache invalidations. Scenarios assert on it and
 * reports draw sequence diagrams from it.
 */
export type EmulatorEvent =
  /** An invocation handed to a container (logged before anything it causes). */
  | { kind: 'invokeStart'; functionName: string; trigger: string; requestId: string; coldStart: boolean }
  /** An invocation's end, with its outcome. */
  | {
      kind: 'invoke';
      functionName: string;
      trigger: string;
      requestId: string;
      coldStart: boolean;
      durationMs: number;
      outcome: 'ok' | 'error' | 'timeout';
      error?: string;
    }
  | { kind: 'management'; method: 'POST' | 'GET' | 'DELETE'; connectionId: string; statusCode: number; errorType?: string; bytes?: number }
  | { kind: 'dynamodb'; operation: string; table?: string; statusCode: number; errorType?: string }
  | { kind: 'delivered'; connectionId: string; data: string }
  | { kind: 'connection'; connectionId: string; state: 'open' | 'refused' | 'closed'; statusCode?: number; reason?: string }
  | { kind: 'cacheInvalidated'; keys: string[] }
  | { kind: 'http'; method: string; path: string; statusCode: number }
  | { kind: 'fault'; description: string }
  /** A change captured in a table's stream. */
  | {
      kind: 'streamRecord';
      table: string;
      eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
      eventID: string;
      sequenceNumber: string;
      keys: Record<string, unknown>;
      ttl?: true;
    }
  /**
   * What an event source mapping did with a batch: invoked the function, or, after the function failed, split it,
   * retried it, sent it to the on-failure destination (or dropped it when there is none).
   */
  | {
      kind: 'batch';
      source: 'dynamodb' | 'sqs';
      functionName: string;
      action: 'invoke' | 'ok' | 'partial' | 'error' | 'bisect' | 'retry' | 'onFailure' | 'dropped';
      size: number;
      ids: string[];
      attempt?: number;
      detail?: string;
    }
  /** An emulated SQS queue's message moved: sent, received, deleted, returned after its visibility timeout, or redriven to its dead-letter queue. */
  | {
      kind: 'sqs';
      queue: string;
      action: 'sent' | 'received' | 'deleted' | 'visible' | 'redriven';
      messageId: string;
      receiveCount?: number;
    }
  /** A line a function wrote to stdout/stderr; structured (JSON) lines keep their fields in `data`. */
  | { kind: 'log'; functionName: string; level: string; message: string; data?: Record<string, unknown>; requestId?: string };

export type LoggedEvent = EmulatorEvent & { seq: number; time: number };

export interface EventLog {
  record(event: EmulatorEvent): void;
  /** Every event so far, oldest first. */
  all(): readonly LoggedEvent[];
  /** The last `n` events, oldest first. */
  tail(n: number): readonly LoggedEvent[];
  /** Calls `listener` for each event recorded from now on. Returns an unsubscribe function. */
  subscribe(listener: (event: LoggedEvent) => void): () => void;
  clear(): void;
}

/** The default `capacity`: at 14 events per subscribed connection, a load run's last ~3,500–7,000 connections. */
export const DEFAULT_EVENT_LOG_CAPACITY = 100_000;

/**
 * Top-level fields whose values come from a small set (table and function names, operations, methods, levels) but
 * arrive as fresh strings — parsed from a request, or copied from a worker thread — on every event: each distinct
 * value is kept once. Fields that identify one thing (connection and request ids, payloads) are not interned.
 */
const INTERNED_FIELDS = ['operation', 'table', 'functionName', 'trigger', 'method', 'errorType', 'level', 'queue'] as const;
/** Beyond this many distinct values (a client inventing table names) new values are kept as they come. */
const MAX_INTERNED = 1_000;

/**
 * How many of the latest distinct delivered payloads are kept once. A fanout posts one payload to many connections,
 * each post arriving as a fresh string decoded from its request body: without this the log held one copy per
 * connection (100,000 events of a 400-byte notification: 40 MB). Consecutive posts of one notification share it.
 */
const RECENT_PAYLOADS = 64;

/**
 * A function's structured log lines repeat most of their fields (a logger's service, function name and ARN…), each
 * line parsed into fresh strings. Per field name, the last short value seen is kept and reused when the next line
 * has the same: constants are stored once, one-off values (request ids) simply take the slot. Bounded in names.
 */
const MAX_LOG_FIELDS = 256;
const MAX_SHARED_LOG_VALUE = 256;

/**
 * Keeps at most `capacity` events, so a load run with tens of thousands of connections cannot grow memory without
 * bound: when full, the oldest half is dropped at once (`seq` keeps counting, so readers can tell). Events are
 * stored as recorded, with their `seq` and `time`; repeated names in them are shared (INTERNED_FIELDS), and so are
 * repeated delivered payloads (RECENT_PAYLOADS) and repeated values in log lines (MAX_LOG_FIELDS).
 */
export function createEventLog(options: { now?: () => number; capacity?: number } = {}): EventLog {
  const now = options.now ?? Date.now;
  const capacity = options.capacity ?? DEFAULT_EVENT_LOG_CAPACITY;
  if (!Number.isInteger(capacity) || capacity < 2)
    throw new RangeError(`event log capacity must be an integer of at least 2, got ${capacity}`);
  let events: LoggedEvent[] = [];
  let seq = 0;
  const listeners = new Set<(event: LoggedEvent) => void>();
  const interned = new Map<string, string>();
  const intern = (value: string): string => {
    const known = interned.get(value);
    if (known !== undefined) return known;
    if (interned.size < MAX_INTERNED) interned.set(value, value);
    return value;
  };
  const recentPayloads = new Map<string, string>();
  const sharedPayload = (payload: string): string => {
    const known = recentPayloads.get(payload);
    if (known !== undefined) return known;
    if (recentPayloads.size >= RECENT_PAYLOADS) recentPayloads.clear();
    recentPayloads.set(payload, payload);
    return payload;
  };
  const lastLogValues = new Map<string, string>();
  const shareLast = (field: string, value: string): string => {
    if (value.length > MAX_SHARED_LOG_VALUE) return value;
    const last = lastLogValues.get(field);
    if (last === value) return last;
    if (last !== undefined || lastLogValues.size < MAX_LOG_FIELDS) lastLogValues.set(field, value);
    return value;
  };
  const shareLogValues = (logged: Extract<LoggedEvent, { kind: 'log' }>): void => {
    // The message under a name no data field can have (a line's own "message" key is taken out of its data).
    logged.message = shareLast('', logged.message);
    const data = logged.data ?? {};
    for (const [field, value] of Object.entries(data)) if (typeof value === 'string') data[field] = shareLast(field, value);
  };
  return {
    record(event) {
      const logged = { ...event, seq: ++seq, time: now() } as LoggedEvent;
      const fields = logged as unknown as Record<string, unknown>;
      for (const field of INTERNED_FIELDS) {
        const value = fields[field];
        if (typeof value === 'string') fields[field] = intern(value);
      }
      if (logged.kind === 'delivered') logged.data = sharedPayload(logged.data);
      else if (logged.kind === 'log') shareLogValues(logged);
      events.push(logged);
      if (events.length > capacity) events = events.slice(events.length - Math.floor(capacity / 2));
      for (const listener of listeners) listener(logged);
    },
    all: () => events,
    tail: (n) => events.slice(Math.max(0, events.length - n)),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    clear() {
      events = [];
    },
  };
}
