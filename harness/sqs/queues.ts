/**
 * Amazon SQS, as far as the app's design uses it, in memory: standard queues declared in serverless.yml
 * (`AWS::SQS::Queue`), messages that a receive hides for the queue's visibility timeout (on the emulator's clock),
 * come back if not deleted, and after `maxReceiveCount` receives move to the dead-letter queue of the RedrivePolicy.
 * Handlers reach it through the SDK (the AWS JSON protocol, answered in-process); event source mappings and tests
 * call it directly. Not emulated: FIFO queues, message attributes, long polling on the wire (a receive answers at
 * once), retention expiry.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { EventLog } from '../eventLog.js';
import type { QueueDefinition } from '../config/serverless.js';
import type { HttpLikeRequest, HttpLikeResponse } from '../lambda/types.js';

export interface QueueMessage {
  messageId: string;
  body: string;
  md5OfBody: string;
  sentAt: number;
  firstReceivedAt?: number;
  receiveCount: number;
  visibleAt: number;
  receiptHandle?: string;
}

/** A received message, as a consumer sees it. */
export interface ReceivedMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
  md5OfBody: string;
  attributes: { ApproximateReceiveCount: string; SentTimestamp: string; SenderId: string; ApproximateFirstReceiveTimestamp: string };
}

interface Queue {
  definition: QueueDefinition;
  messages: QueueMessage[];
}

/** The legacy (query protocol) codes SQS sends in `x-amzn-query-error`, where they differ from the JSON type. */
const QUERY_ERROR_CODES: Partial<Record<QueueError['code'], string>> = {
  QueueDoesNotExist: 'AWS.SimpleQueueService.NonExistentQueue',
  BatchRequestTooLong: 'AWS.SimpleQueueService.BatchRequestTooLong',
  TooManyEntriesInBatchRequest: 'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
  EmptyBatchRequest: 'AWS.SimpleQueueService.EmptyBatchRequest',
};

const md5 = (text: string): string => createHash('md5').update(text).digest('hex');

export class QueueError extends Error {
  constructor(
    readonly code:
      | 'QueueDoesNotExist'
      | 'InvalidParameterValue'
      | 'ReceiptHandleIsInvalid'
      | 'InvalidAction'
      | 'BatchRequestTooLong'
      | 'TooManyEntriesInBatchRequest'
      | 'EmptyBatchRequest',
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

export function createQueues(options: { queues: QueueDefinition[]; clock: Clock; eventLog?: EventLog }) {
  const { clock } = options;
  const queues = new Map<string, Queue>(options.queues.map((definition) => [definition.arn, { definition, messages: [] }]));
  const listeners = new Map<string, Set<() => void>>();
  const wakeTimers = new Set<() => void>();

  function find(ref: string): Queue {
    const queue = queues.get(ref) ?? [...queues.values()].find((q) => q.definition.url === ref || q.definition.QueueName === ref);
    if (!queue) throw new QueueError('QueueDoesNotExist', `The specified queue does not exist: ${ref}`);
    return queue;
  }

  function notify(queue: Queue): void {
    for (const listener of listeners.get(queue.definition.arn) ?? []) listener();
  }

  /** Wakes consumers when a hidden message becomes visible again. */
  function wakeAt(queue: Queue, at: number): void {
    const cancel = clock.at(at, () => {
      wakeTimers.delete(cancel);
      for (const m of queue.messages)
        if (m.receiptHandle && m.visibleAt <= clock.now()) {
          options.eventLog?.record({
            kind: 'sqs',
            queue: queue.definition.QueueName,
            action: 'visible',
            messageId: m.messageId,
            receiveCount: m.receiveCount,
          });
          m.receiptHandle = undefined;
        }
      notify(queue);
    });
    wakeTimers.add(cancel);
  }

  function send(ref: string, body: string, delaySeconds?: number): { messageId: string; md5OfBody: string } {
    const queue = find(ref);
    if (typeof body !== 'string' || body.length === 0)
      throw new QueueError('InvalidParameterValue', 'The request must contain the parameter MessageBody.');
    const limit = queue.definition.MaximumMessageSize;
    if (Buffer.byteLength(body) > limit)
      throw new QueueError(
        'InvalidParameterValue',
        `One or more parameters are invalid. Reason: Message must be shorter than ${limit} bytes.`,
      );
    const delay = (delaySeconds ?? queue.definition.DelaySeconds) * 1000;
    const message: QueueMessage = {
      messageId: randomUUID(),
      body,
      md5OfBody: md5(body),
      sentAt: clock.now(),
      receiveCount: 0,
      visibleAt: clock.now() + delay,
    };
    queue.messages.push(message);
    options.eventLog?.record({ kind: 'sqs', queue: queue.definition.QueueName, action: 'sent', messageId: message.messageId });
    if (delay > 0) wakeAt(queue, message.visibleAt);
    else notify(queue);
    return { messageId: message.messageId, md5OfBody: message.md5OfBody };
  }

  /**
   * Up to `max` visible messages, each hidden for `visibilityTimeoutSeconds` (the queue's by default). A message
   * received more than its redrive policy's maxReceiveCount times moves to the dead-letter queue instead. `fits`,
   * when given, sees each message as it would be received and ends the batch at the first it refuses (that one stays
   * visible, unreceived).
   */
  function receive(
    ref: string,
    max = 1,
    visibilityTimeoutSeconds?: number,
    fits?: (message: ReceivedMessage) => boolean,
  ): ReceivedMessage[] {
    const queue = find(ref);
    const now = clock.now();
    const hideMs = (visibilityTimeoutSeconds ?? queue.definition.VisibilityTimeout) * 1000;
    const out: ReceivedMessage[] = [];
    for (const message of [...queue.messages]) {
      if (out.length >= max) break;
      if (message.visibleAt > now) continue;
      const redrive = queue.definition.redrive;
      if (redrive && message.receiveCount >= redrive.maxReceiveCount) {
        queue.messages.splice(queue.messages.indexOf(message), 1);
        const dlq = find(redrive.deadLetterTargetArn);
        dlq.messages.push({ ...message, receiveCount: 0, visibleAt: now, receiptHandle: undefined });
        options.eventLog?.record({
          kind: 'sqs',
          queue: queue.definition.QueueName,
          action: 'redriven',
          messageId: message.messageId,
          receiveCount: message.receiveCount,
        });
        notify(dlq);
        continue;
      }
      const receiveCount = message.receiveCount + 1;
      const firstReceivedAt = message.firstReceivedAt ?? now;
      const received: ReceivedMessage = {
        messageId: message.messageId,
        receiptHandle: Buffer.from(`${message.messageId}:${randomUUID()}`).toString('base64'),
        body: message.body,
        md5OfBody: message.md5OfBody,
        attributes: {
          ApproximateReceiveCount: String(receiveCount),
          SentTimestamp: String(message.sentAt),
          SenderId: 'AROAEMULATOR:emulator',
          ApproximateFirstReceiveTimestamp: String(firstReceivedAt),
        },
      };
      // Full (an event source mapping's 6 MB batch): this message and the ones behind it stay visible, unreceived.
      if (fits && !fits(received)) break;
      message.receiveCount = receiveCount;
      message.firstReceivedAt = firstReceivedAt;
      message.visibleAt = now + hideMs;
      message.receiptHandle = received.receiptHandle;
      wakeAt(queue, message.visibleAt);
      options.eventLog?.record({
        kind: 'sqs',
        queue: queue.definition.QueueName,
        action: 'received',
        messageId: message.messageId,
        receiveCount: message.receiveCount,
      });
      out.push(received);
    }
    return out;
  }

  /** Deletes a received message; a receipt handle from an earlier receive no longer deletes it (as on AWS, roughly). */
  function remove(ref: string, receiptHandle: string): void {
    const queue = find(ref);
    const index = queue.messages.findIndex((m) => m.receiptHandle === receiptHandle);
    if (index < 0) {
      if (!/^[A-Za-z0-9+/=]+$/.test(receiptHandle))
        throw new QueueError('ReceiptHandleIsInvalid', `The input receipt handle "${receiptHandle}" is not a valid receipt handle.`);
      return; // already deleted or received again by someone else: SQS answers success
    }
    const [message] = queue.messages.splice(index, 1);
    options.eventLog?.record({ kind: 'sqs', queue: queue.definition.QueueName, action: 'deleted', messageId: message.messageId });
  }

  /** Makes a received message visible again after `seconds` (0 = now). */
  function changeVisibility(ref: string, receiptHandle: string, seconds: number): void {
    const queue = find(ref);
    const message = queue.messages.find((m) => m.receiptHandle === receiptHandle);
    if (!message)
      throw new QueueError('ReceiptHandleIsInvalid', `The input receipt handle "${receiptHandle}" is not a valid receipt handle.`);
    message.visibleAt = clock.now() + seconds * 1000;
    wakeAt(queue, message.visibleAt);
  }

  /** The SQS API over the AWS JSON 1.0 protocol (what SDK v3 clients speak), for handlers' SDK calls. */
  async function handle(request: HttpLikeRequest): Promise<HttpLikeResponse> {
    const action = (request.headers['x-amz-target'] ?? '').replace(/^AmazonSQS\./, '');
    const json = (statusCode: number, body: unknown, extra: Record<string, string> = {}): HttpLikeResponse => ({
      statusCode,
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-requestid': randomUUID(), ...extra },
      body: Buffer.from(JSON.stringify(body)),
    });
    try {
      const input = JSON.parse(Buffer.from(request.body).toString('utf8') || '{}') as Record<string, unknown>;
      const url = String(input.QueueUrl ?? '');
      switch (action) {
        case 'SendMessage': {
          const sent = send(url, input.MessageBody as string, input.DelaySeconds as number | undefined);
          return json(200, { MessageId: sent.messageId, MD5OfMessageBody: sent.md5OfBody });
        }
        case 'SendMessageBatch': {
          const entries = (input.Entries ?? []) as Array<{ Id: string; MessageBody: string; DelaySeconds?: number }>;
          if (entries.length === 0)
            throw new QueueError('EmptyBatchRequest', 'There should be at least one SendMessageBatchRequestEntry in the request.');
          if (entries.length > 10)
            throw new QueueError(
              'TooManyEntriesInBatchRequest',
              `Maximum number of entries per request are 10. You have sent ${entries.length}.`,
            );
          // The limit is the queue's maximum message size, for the batch's messages together.
          const limit = find(url).definition.MaximumMessageSize;
          const total = entries.reduce((n, e) => n + Buffer.byteLength(e.MessageBody ?? ''), 0);
          if (total > limit)
            throw new QueueError(
              'BatchRequestTooLong',
              `Batch requests cannot be longer than ${limit} bytes. You have sent ${total} bytes.`,
            );
          const Successful = entries.map((e) => {
            const sent = send(url, e.MessageBody, e.DelaySeconds);
            return { Id: e.Id, MessageId: sent.messageId, MD5OfMessageBody: sent.md5OfBody };
          });
          return json(200, { Successful, Failed: [] });
        }
        case 'ReceiveMessage': {
          const messages = receive(url, Number(input.MaxNumberOfMessages ?? 1), input.VisibilityTimeout as number | undefined);
          return json(200, {
            Messages: messages.map((m) => ({
              MessageId: m.messageId,
              ReceiptHandle: m.receiptHandle,
              MD5OfBody: m.md5OfBody,
              Body: m.body,
              Attributes: m.attributes,
            })),
          });
        }
        case 'DeleteMessage':
          remove(url, String(input.ReceiptHandle));
          return json(200, {});
        case 'ChangeMessageVisibility':
          changeVisibility(url, String(input.ReceiptHandle), Number(input.VisibilityTimeout));
          return json(200, {});
        case 'GetQueueUrl':
          return json(200, { QueueUrl: find(String(input.QueueName)).definition.url });
        default:
          throw new QueueError('InvalidAction', `The action ${action} is not valid for this endpoint (not emulated).`);
      }
    } catch (error) {
      if (error instanceof QueueError) {
        const query = QUERY_ERROR_CODES[error.code] ?? error.code;
        return json(
          400,
          { __type: `com.amazonaws.sqs#${error.code}`, message: error.message },
          { 'x-amzn-query-error': `${query};Sender` },
        );
      }
      return json(400, { __type: 'com.amazonaws.sqs#InvalidParameterValue', message: (error as Error).message });
    }
  }

  return {
    definitions: options.queues,
    send,
    receive,
    delete: remove,
    changeVisibility,
    handle,
    /** Every message still in the queue (visible or not), oldest first. */
    messages: (ref: string): readonly QueueMessage[] => find(ref).messages,
    /** Calls `listener` whenever the queue may have visible messages (a send, a message coming back). */
    onAvailable(ref: string, listener: () => void): () => void {
      const arn = find(ref).definition.arn;
      let set = listeners.get(arn);
      if (!set) listeners.set(arn, (set = new Set()));
      set.add(listener);
      return () => set.delete(listener);
    },
    /** Empties every queue (between scenarios). */
    clear(): void {
      for (const queue of queues.values()) queue.messages.length = 0;
      for (const cancel of wakeTimers) cancel();
      wakeTimers.clear();
    },
  };
}

export type Queues = ReturnType<typeof createQueues>;
