/**
 * The emulator's clock (harness/clock.ts): a timer runs once `now()` has reached its time, never before — node's
 * timers run on libuv's loop clock and can fire a millisecond or so before Date.now() gets there. Found as lost
 * notifications in the fault benchmark (figure 10c): a fanout retry sent to SQS with a delay had its only wake-up
 * run while the message was still invisible, and nothing received it afterwards.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createClock } from '../harness/clock.js';
import { createQueues } from '../harness/sqs/queues.js';
import type { QueueDefinition } from '../harness/config/serverless.js';

afterEach(() => vi.restoreAllMocks());

/** From now on Date.now() reads `ms` behind real time, as when a timer fires ahead of the wall clock. */
function wallClockLagsBy(ms: number): void {
  const real = Date.now.bind(Date);
  vi.spyOn(Date, 'now').mockImplementation(() => real() - ms);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `done()` or `ms` have passed (a busy machine may run a timer late; it must not run it early). */
async function until(done: () => boolean, ms: number): Promise<void> {
  for (const deadline = performance.now() + ms; !done() && performance.now() < deadline; ) await sleep(10);
}

describe('clock', () => {
  it('runs a timer only once now() has reached its time, even when the real timer fires first', async () => {
    const clock = createClock();
    const at = clock.now() + 20;
    let ranAt: number | undefined;
    clock.at(at, () => (ranAt = clock.now()));
    wallClockLagsBy(50);
    await until(() => ranAt !== undefined, 3_000);
    expect(ranAt).toBeGreaterThanOrEqual(at);
  });

  it('advance() still runs every timer it jumps past, at once', () => {
    const clock = createClock();
    const ran: number[] = [];
    clock.at(clock.now() + 60_000, () => ran.push(1));
    clock.at(clock.now() + 30_000, () => ran.push(0));
    clock.advance(60_000);
    expect(ran).toEqual([0, 1]);
  });
});

describe('an SQS message sent with a delay', () => {
  const queue: QueueDefinition = {
    logicalId: 'Q',
    QueueName: 'q',
    arn: 'arn:aws:sqs:eu-west-3:123456789012:q',
    url: 'http://sqs.local/123456789012/q',
    VisibilityTimeout: 30,
    MessageRetentionPeriod: 345_600,
    DelaySeconds: 0,
    MaximumMessageSize: 1_048_576,
  };

  it('is received by a consumer waiting on the queue once its delay is over, even when the wake-up fires early', async () => {
    const clock = createClock();
    const queues = createQueues({ queues: [queue], clock });
    const received: string[] = [];
    // As an event source mapping does: receive whenever the queue says something became available.
    queues.onAvailable(queue.arn, () => {
      for (const message of queues.receive(queue.arn, 10)) received.push(message.body);
    });
    queues.send(queue.arn, 'retry shard', 1);
    wallClockLagsBy(50);
    await until(() => received.length > 0, 4_000);
    expect(received).toEqual(['retry shard']);
  });
});
