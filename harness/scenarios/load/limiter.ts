/**
 * At most `limit` tasks in flight; the others wait in FIFO order. A load generator's concurrency bound (handshakes
 * in flight, mutations in flight): `peak` says how many ran at once, so a test can check the bound held.
 */
export function createLimiter(limit: number) {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`in-flight limit must be a positive integer, got ${limit}`);
  let running = 0;
  let peak = 0;
  const waiting: Array<() => void> = [];
  return {
    /** Runs `task` once a slot is free; settles as the task does. */
    async run<T>(task: () => Promise<T>): Promise<T> {
      // A finishing task hands its slot straight to the next waiter (never back to the pool first), so a caller
      // arriving between the hand-over and the waiter's wake-up cannot take it too.
      if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      else running++;
      peak = Math.max(peak, running);
      try {
        return await task();
      } finally {
        const next = waiting.shift();
        if (next) next();
        else running--;
      }
    },
    get running(): number {
      return running;
    },
    get peak(): number {
      return peak;
    },
  };
}
