/**
 * dynalite 4 reads tables through streams built on abstract-level iterators, and when such a stream ends or is
 * destroyed it closes the iterator by calling `iterator.return()` if there is one. abstract-level 3's iterators
 * (memory-level's, classic-level's) have `close()` and no `return()`, so every Query and Scan left its iterator open
 * for the life of the store: attached to the database, and holding memory-level's tree as it was at that read, which
 * later writes then copy instead of sharing. In a load run that was ~3.4 KB of heap per subscribed connection and
 * grew with every query. Giving the iterators the `return()` dynalite looks for closes them when their stream ends.
 */
import { createRequire } from 'node:module';

interface ClosableIterator {
  close(): Promise<void>;
  return?: () => Promise<IteratorReturnResult<undefined>>;
}

/** The iterators' common base class prototype in each abstract-level copy dynalite's stores are built on (one, when npm deduplicates them). */
export function dynaliteIteratorBases(): ClosableIterator[] {
  const fromDynalite = createRequire(createRequire(import.meta.url).resolve('dynalite'));
  const bases = new Set<ClosableIterator>();
  // memory-level for in-memory stores; classic-level (through level) for stores on disk.
  for (const [via, store] of [
    ['memory-level', 'memory-level'],
    ['level', 'classic-level'],
  ]) {
    const storePath = createRequire(fromDynalite.resolve(via)).resolve(store);
    const abstract = createRequire(storePath)('abstract-level') as { AbstractValueIterator: { prototype: object } };
    // Entry, key and value iterators all extend it.
    bases.add(Object.getPrototypeOf(abstract.AbstractValueIterator.prototype) as ClosableIterator);
  }
  return [...bases];
}

let patched = false;

/** Idempotent; called before dynalite opens a store. */
export function closeDynaliteIteratorsOnReturn(): void {
  if (patched) return;
  patched = true;
  for (const base of dynaliteIteratorBases()) {
    if (typeof base.return === 'function') continue;
    Object.defineProperty(base, 'return', {
      configurable: true,
      writable: true,
      async value(this: ClosableIterator): Promise<IteratorReturnResult<undefined>> {
        await this.close();
        return { done: true, value: undefined };
      },
    });
  }
}
