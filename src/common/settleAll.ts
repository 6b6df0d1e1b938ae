/**
 * `Promise.all` that rejects only once every promise has settled, with the first rejection in order. Why: a handler
 * that fails while some of its calls are still in flight returns to a Lambda runtime that freezes them mid-way (they
 * resume, or not, in a later invocation); waiting for all of them first leaves nothing of this work running.
 */
export async function settleAll<T extends readonly unknown[] | []>(promises: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled: readonly PromiseSettledResult<unknown>[] = await Promise.allSettled(promises as readonly unknown[]);
  const values: unknown[] = [];
  for (const result of settled) {
    if (result.status === 'rejected') throw result.reason;
    values.push(result.value);
  }
  return values as { -readonly [K in keyof T]: Awaited<T[K]> };
}
