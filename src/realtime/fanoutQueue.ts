import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Delivery } from './sender.js';

/**
 * The fanout queue's message: a shard of deliveries, with each distinct payload stored once (a batch's
 * cache_invalidated is the same text for thousands of connections).
 */
export interface ShardMessage {
  v: 1;
  /** true when the shard holds posts that failed once already (the fanout worker logs it). */
  retry?: boolean;
  payloads: string[];
  /** connection id and indexes into `payloads`, in order. */
  deliveries: Array<[string, number[]]>;
}

/** SQS's message limit is 1 MiB; shards stay well under the older 256 KiB limit so any queue accepts them. */
export const MAX_SHARD_BYTES = 250 * 1024;

export function encodeShard(deliveries: readonly Delivery[], retry = false): string {
  const index = new Map<string, number>();
  const payloads: string[] = [];
  const encoded: Array<[string, number[]]> = deliveries.map((d) => [
    d.connectionId,
    d.payloads.map((p) => {
      let i = index.get(p);
      if (i === undefined) index.set(p, (i = payloads.push(p) - 1));
      return i;
    }),
  ]);
  const message: ShardMessage = { v: 1, ...(retry ? { retry } : {}), payloads, deliveries: encoded };
  return JSON.stringify(message);
}

export function decodeShard(body: string): { deliveries: Delivery[]; retry: boolean } {
  const message = JSON.parse(body) as ShardMessage;
  if (message.v !== 1 || !Array.isArray(message.payloads) || !Array.isArray(message.deliveries))
    throw new Error('not a fanout shard message');
  return {
    retry: message.retry === true,
    deliveries: message.deliveries.map(([connectionId, indexes]) => ({ connectionId, payloads: indexes.map((i) => message.payloads[i]) })),
  };
}

/** Splits deliveries into shards of at most `size` connections, halving any shard whose message would be too large. */
export function shardBodies(deliveries: readonly Delivery[], size: number, retry = false): string[] {
  const bodies: string[] = [];
  const push = (part: readonly Delivery[]): void => {
    const body = encodeShard(part, retry);
    if (Buffer.byteLength(body) <= MAX_SHARD_BYTES || part.length === 1) bodies.push(body);
    else {
      const half = Math.ceil(part.length / 2);
      push(part.slice(0, half));
      push(part.slice(half));
    }
  };
  for (let i = 0; i < deliveries.length; i += size) push(deliveries.slice(i, i + size));
  return bodies;
}

/**
 * Groups shard bodies into SendMessageBatch calls: at most 10 entries, and at most MAX_SHARD_BYTES in total, since
 * SQS refuses a batch whose messages together exceed the queue's maximum message size (BatchRequestTooLong) —
 * ten 60 KB shards are one message each but not one batch.
 */
export function sendBatches(bodies: readonly string[]): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = Buffer.byteLength(body);
    if (current.length === 10 || (current.length > 0 && bytes + size > MAX_SHARD_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(body);
    bytes += size;
  }
  if (current.length) batches.push(current);
  return batches;
}

export function createFanoutQueue(sqs: SQSClient, queueUrl: string) {
  /** Sends the deliveries as shards; returns how many shards. Throws if any is refused. */
  async function enqueue(deliveries: readonly Delivery[], shardSize: number, options: { retry?: boolean } = {}): Promise<number> {
    const bodies = shardBodies(deliveries, shardSize, options.retry);
    for (const batch of sendBatches(bodies)) {
      const entries = batch.map((MessageBody, n) => ({
        Id: String(n),
        MessageBody,
        // A retry waits a little: the connection answered 429/5xx just now.
        ...(options.retry ? { DelaySeconds: 1 } : {}),
      }));
      const result = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      if (result.Failed?.length)
        throw new Error(`fanout queue refused ${result.Failed.length} shard(s): ${result.Failed.map((f) => f.Message).join('; ')}`);
    }
    return bodies.length;
  }
  return { enqueue };
}

export type FanoutQueue = ReturnType<typeof createFanoutQueue>;
