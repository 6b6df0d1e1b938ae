/**
 * Lambda event source mappings, as AWS documents them, for the `stream` (DynamoDB) and `sqs` events of
 * serverless.yml, on the emulator's clock.
 *
 * DynamoDB stream (one shard per table here, one batch in flight per shard as with ParallelizationFactor 1):
 * - a batch holds up to `batchSize` records; with `maximumBatchingWindow` the mapping waits up to that long for a
 *   full batch, else it invokes as soon as records are there;
 * - success checkpoints past the batch. With `functionResponseType: ReportBatchItemFailures` the answer
 *   `{batchItemFailures: [{itemIdentifier: <SequenceNumber>}]}` checkpoints before the lowest failed sequence number
 *   and retries from it; an empty or null list is success; an empty, null or unknown itemIdentifier fails the
 *   whole batch;
 * - an error or timeout with `bisectBatchOnFunctionError` splits the batch in two and retries each half in order.
 *   AWS does not document how splits count against the retry quota; here a split is the batch's retry, and a
 *   batch that cannot be split (one record) is retried `maximumRetryAttempts` times (-1: until it expires);
 * - a batch out of retries goes to `destinations.onFailure` as AWS's invocation record (DDBStreamBatchInfo: where
 *   the records are, not the records), and the shard moves on.
 *
 * SQS: receives up to `batchSize` messages (hidden for the queue's visibility timeout), invokes — batches run in
 * parallel, bounded by the function's container pool — deletes them on success; with ReportBatchItemFailures only
 * the messages not listed. Failed messages come back after the visibility timeout, and the queue's redrive policy
 * moves them to its dead-letter queue.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { EventLog } from '../eventLog.js';
import type { SqsEventDefinition, StreamEventDefinition } from '../config/serverless.js';
import type { StreamRecord, Streams } from '../dynamodb/streams.js';
import type { Queues, ReceivedMessage } from '../sqs/queues.js';
import type { InvocationResult, Invoke } from './types.js';
import { MAX_SYNC_REQUEST_BYTES } from './invokeApi.js';

/**
 * A batch holds as many records as fit in one synchronous invocation's payload (6 MB, AWS: "up to the payload limit
 * for synchronous invocation"), whatever the batch size says. Sizes are measured on the event's own JSON, as the
 * invoker measures it before refusing a larger one, so a batch the mapping sends is never refused: a refused batch
 * would come back forever where AWS would have sent fewer records.
 */
const EMPTY_EVENT_BYTES = Buffer.byteLength(JSON.stringify({ Records: [] }));
const recordBytes = new WeakMap<object, number>();
function bytesOf(record: object): number {
  let bytes = recordBytes.get(record);
  if (bytes === undefined) recordBytes.set(record, (bytes = Buffer.byteLength(JSON.stringify(record))));
  return bytes;
}
/**
 * A running total for one batch: `fits(record)` adds the record (and its comma) when the event stays within 6 MB.
 * The first record always goes (one is never near 6 MB: a stream record's item is at most 400 KB, a message 1 MiB),
 * so it is measured only once a second one is offered: a batch of one (the fanout queue's batchSize 1) costs no
 * extra serialization.
 */
function batchPayload(): { fits: (record: object) => boolean } {
  let empty = true;
  let first: object | undefined;
  let total = EMPTY_EVENT_BYTES;
  return {
    fits(record) {
      if (empty) {
        empty = false;
        first = record;
        return true;
      }
      if (first) {
        total += bytesOf(first);
        first = undefined;
      }
      const next = total + 1 + bytesOf(record);
      if (next > MAX_SYNC_REQUEST_BYTES) return false;
      total = next;
      return true;
    },
  };
}

interface Common {
  functionName: string;
  functionArn: string;
  invoke: Invoke;
  clock: Clock;
  eventLog?: EventLog;
  /** Delay before the first retry of a failed batch, doubling up to 1 s (AWS retries at once, then backs off). */
  retryDelayMs?: number;
}

/** A record poisoned by a fault: batches holding it fail as if the handler threw on it. */
export type RecordFault = { matches: (record: StreamRecord) => boolean; description: string };

type ItemFailures = { ok: true; failed: string[] } | { ok: false; reason: string };

/** Reads `{batchItemFailures: [...]}`: AWS's success and failure conditions for a partial batch response. */
export function parseBatchItemFailures(value: unknown, ids: readonly string[]): ItemFailures {
  if (value === null || value === undefined) return { ok: true, failed: [] };
  if (typeof value !== 'object') return { ok: true, failed: [] };
  const list = (value as { batchItemFailures?: unknown }).batchItemFailures;
  if (list === null || list === undefined) return { ok: true, failed: [] };
  if (!Array.isArray(list)) return { ok: false, reason: 'batchItemFailures is not a list' };
  const failed: string[] = [];
  for (const entry of list) {
    const id = (entry as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !ids.includes(id))
      return { ok: false, reason: `invalid itemIdentifier ${JSON.stringify(id)}` };
    failed.push(id);
  }
  return { ok: true, failed };
}

const sleepOn = (clock: Clock, ms: number): Promise<void> => new Promise((resolve) => clock.at(clock.now() + ms, resolve));

export function createStreamMapping(
  options: Common & { definition: StreamEventDefinition; streams: Streams; queues?: Queues; region: string; faults: RecordFault[] },
) {
  const { definition, clock, functionName } = options;
  const stream = options.streams.streamOfArn(definition.arn);
  if (!stream) throw new Error(`${functionName}: events.stream ${definition.arn} is not the stream of a table with a StreamSpecification`);
  const arrivals = new WeakMap<StreamRecord, number>();
  // LATEST: records from now on; TRIM_HORIZON: everything the stream still holds.
  let next = definition.startingPosition === 'LATEST' ? stream.records.length : 0;
  let running = false;
  /** Records before this index were dropped unseen by `discardWaiting` (a reset): never delivered. */
  let discarded = 0;
  let windowTimer: (() => void) | undefined;
  let stopped = false;
  let idle: Promise<void> = Promise.resolve();
  let settle: () => void = () => undefined;

  const log = (
    action: Extract<Parameters<EventLog['record']>[0], { kind: 'batch' }>['action'],
    records: StreamRecord[],
    extra: { attempt?: number; detail?: string } = {},
  ): void =>
    options.eventLog?.record({
      kind: 'batch',
      source: 'dynamodb',
      functionName,
      action,
      size: records.length,
      ids: records.map((r) => r.dynamodb.SequenceNumber),
      ...extra,
    });

  async function invoke(records: StreamRecord[]): Promise<InvocationResult> {
    log('invoke', records);
    const poisoned = options.faults.find((f) => records.some(f.matches));
    if (poisoned) {
      const error = { name: 'Error', message: `injected fault: ${poisoned.description}` };
      options.eventLog?.record({
        kind: 'invoke',
        functionName,
        trigger: `stream ${stream!.tableName}`,
        requestId: randomUUID(),
        coldStart: false,
        durationMs: 0,
        outcome: 'error',
        error: `${error.name}: ${error.message}`,
      });
      return { ok: false, kind: 'error', error, requestId: randomUUID(), coldStart: false, durationMs: 0 };
    }
    return options.invoke(functionName, { Records: records }, `stream ${stream!.tableName}`);
  }

  async function onFailure(records: StreamRecord[], result: InvocationResult, attempts: number): Promise<void> {
    if (!definition.onFailureArn || !options.queues)
      return log('dropped', records, { detail: 'retries exhausted, no on-failure destination' });
    const first = records[0];
    const last = records[records.length - 1];
    const iso = (r: StreamRecord): string =>
      new Date(r.dynamodb.ApproximateCreationDateTime * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const invocationRecord = {
      requestContext: {
        requestId: result.requestId,
        functionArn: options.functionArn,
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: attempts,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: new Date(clock.now()).toISOString(),
      DDBStreamBatchInfo: {
        shardId: stream!.shardId,
        startSequenceNumber: first.dynamodb.SequenceNumber,
        endSequenceNumber: last.dynamodb.SequenceNumber,
        approximateArrivalOfFirstRecord: iso(first),
        approximateArrivalOfLastRecord: iso(last),
        batchSize: records.length,
        streamArn: stream!.arn,
      },
    };
    options.queues.send(definition.onFailureArn, JSON.stringify(invocationRecord));
    log('onFailure', records, { detail: definition.onFailureArn });
  }

  /** Delivers `records` until they succeed or run out of retries. */
  async function deliver(records: StreamRecord[]): Promise<void> {
    let current = records;
    let retries = 0;
    let invocations = 0;
    const retryDelay = (): number => Math.min(1000, (options.retryDelayMs ?? 50) * 2 ** Math.max(0, retries - 1));
    while (current.length && !stopped) {
      const result = await invoke(current);
      invocations++;
      let remaining: StreamRecord[] | undefined;
      let failure: string | undefined;
      if (result.ok) {
        if (!definition.reportBatchItemFailures) return log('ok', current);
        const ids = current.map((r) => r.dynamodb.SequenceNumber);
        const parsed = parseBatchItemFailures(result.value, ids);
        if (parsed.ok && parsed.failed.length === 0) return log('ok', current);
        if (parsed.ok) {
          // Checkpoint before the lowest failed sequence number; retry from there (bisecting at it, if bisect is on).
          const lowest = parsed.failed.reduce((a, b) => (BigInt(a) < BigInt(b) ? a : b));
          remaining = current.slice(ids.indexOf(lowest));
          log('partial', current, { detail: `retry from #${lowest}` });
        } else failure = parsed.reason;
      } else failure = `${result.error.name}: ${result.error.message}`;

      if (!remaining) {
        log('error', current, { detail: failure });
        if (definition.bisectBatchOnFunctionError && current.length > 1) {
          const half = Math.ceil(current.length / 2);
          log('bisect', current, { detail: `${half} + ${current.length - half}` });
          await deliver(current.slice(0, half));
          await deliver(current.slice(half));
          return;
        }
        remaining = current;
      }
      retries++;
      if (definition.maximumRetryAttempts >= 0 && retries > definition.maximumRetryAttempts)
        return onFailure(remaining, result, invocations);
      log('retry', remaining, { attempt: retries + 1 });
      await sleepOn(clock, retryDelay());
      current = remaining;
    }
  }

  function takeBatch(): StreamRecord[] {
    const batch: StreamRecord[] = [];
    const payload = batchPayload();
    for (let i = next; i < stream!.records.length && batch.length < definition.batchSize; i++) {
      if (!payload.fits(stream!.records[i])) break;
      batch.push(stream!.records[i]);
    }
    return batch;
  }

  async function pump(): Promise<void> {
    if (running || stopped) return;
    running = true;
    idle = new Promise((resolve) => (settle = resolve));
    try {
      // The stream may have been trimmed (reset between scenarios): never point past its end.
      next = Math.min(next, stream!.records.length);
      discarded = Math.min(discarded, stream!.records.length);
      while (!stopped && Math.max(next, discarded) < stream!.records.length) {
        next = Math.max(next, discarded);
        const pending = stream!.records.length - next;
        const windowMs = definition.maximumBatchingWindowSeconds * 1000;
        const firstArrival = arrivals.get(stream!.records[next]) ?? clock.now();
        if (windowMs > 0 && pending < definition.batchSize && clock.now() < firstArrival + windowMs) {
          windowTimer ??= clock.at(firstArrival + windowMs, () => {
            windowTimer = undefined;
            void pump();
          });
          break;
        }
        const batch = takeBatch();
        await deliver(batch);
        // Records may have been cleared meanwhile (reset): the checkpoint is where the batch ended, if still there.
        const at = stream!.records.indexOf(batch[batch.length - 1]);
        next = at >= 0 ? at + 1 : stream!.records.length;
      }
    } finally {
      // Records dropped while a batch was in flight are passed over (idle() waits for nothing there).
      next = Math.max(next, Math.min(discarded, stream!.records.length));
      running = false;
      settle();
    }
  }

  const unsubscribe = options.streams.onRecord(stream.arn, (record) => {
    arrivals.set(record, clock.now());
    // After the current turn: a BatchWriteItem appends its records together, and they belong in one batch.
    queueMicrotask(() => void pump());
  });

  return {
    functionName,
    arn: definition.arn,
    /** Resolves when every record in the stream has been handled: none in flight, none waiting for the window. */
    async idle(): Promise<void> {
      while (!stopped && (running || next < stream.records.length)) {
        if (running) await idle;
        else await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    /** Skips whatever the stream holds (after a reset). */
    rewindToEnd(): void {
      next = stream.records.length;
      discarded = next;
    },
    /**
     * Drops the records waiting for the batching window, and those behind a batch in flight (which finishes): at a
     * reset nobody is left to receive what their batch would send, and idle() would otherwise wait out the window.
     */
    discardWaiting(): void {
      windowTimer?.();
      windowTimer = undefined;
      discarded = stream.records.length;
      if (!running) next = Math.max(next, discarded);
    },
    stop(): void {
      stopped = true;
      windowTimer?.();
      unsubscribe();
    },
  };
}

export function createSqsMapping(options: Common & { definition: SqsEventDefinition; queues: Queues; region: string }) {
  const { definition, queues, functionName } = options;
  const queue = queues.definitions.find((q) => q.arn === definition.arn);
  if (!queue) throw new Error(`${functionName}: events.sqs ${definition.arn} is not a queue of serverless.yml`);
  let stopped = false;
  const inFlight = new Set<Promise<void>>();

  const log = (action: 'invoke' | 'ok' | 'partial' | 'error', messages: ReceivedMessage[], detail?: string): void =>
    options.eventLog?.record({
      kind: 'batch',
      source: 'sqs',
      functionName,
      action,
      size: messages.length,
      ids: messages.map((m) => m.messageId),
      ...(detail ? { detail } : {}),
    });

  const toRecord = (m: ReceivedMessage) => ({
    messageId: m.messageId,
    receiptHandle: m.receiptHandle,
    body: m.body,
    attributes: m.attributes,
    messageAttributes: {},
    md5OfBody: m.md5OfBody,
    eventSource: 'aws:sqs',
    eventSourceARN: queue!.arn,
    awsRegion: options.region,
  });

  async function run(messages: ReceivedMessage[]): Promise<void> {
    log('invoke', messages);
    const result = await options.invoke(functionName, { Records: messages.map(toRecord) }, `sqs ${queue!.QueueName}`);
    if (!result.ok) return log('error', messages, `${result.error.name}: ${result.error.message}`); // they come back after the visibility timeout
    let keep = new Set<string>();
    if (definition.reportBatchItemFailures) {
      const parsed = parseBatchItemFailures(
        result.value,
        messages.map((m) => m.messageId),
      );
      if (!parsed.ok) return log('error', messages, parsed.reason);
      keep = new Set(parsed.failed);
    }
    for (const m of messages) if (!keep.has(m.messageId)) queues.delete(queue!.arn, m.receiptHandle);
    log(keep.size ? 'partial' : 'ok', messages, keep.size ? `${keep.size} left for a retry` : undefined);
  }

  function poll(): void {
    while (!stopped) {
      const payload = batchPayload();
      const messages = queues.receive(queue!.arn, definition.batchSize, undefined, (m) => payload.fits(toRecord(m)));
      if (!messages.length) return;
      const job = run(messages).finally(() => inFlight.delete(job));
      inFlight.add(job);
    }
  }

  const unsubscribe = queues.onAvailable(queue.arn, () => queueMicrotask(poll));
  return {
    functionName,
    arn: definition.arn,
    idle: async (): Promise<void> => {
      while (inFlight.size) await Promise.all([...inFlight]);
    },
    stop(): void {
      stopped = true;
      unsubscribe();
    },
  };
}

export type StreamMapping = ReturnType<typeof createStreamMapping>;
export type SqsMapping = ReturnType<typeof createSqsMapping>;
