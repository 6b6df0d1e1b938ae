/** `expectCacheInvalidated`: the app logged a cache invalidation with exactly (or at least) these keys. */
import { isDeepStrictEqual } from 'node:util';
import { toMs, type CacheExpectation } from '../format.js';
import { always, poll, StepFailure, type StepContext, type StepKind } from './context.js';

export async function expectCacheInvalidated(e: CacheExpectation, ctx: StepContext): Promise<void> {
  const wanted = [...new Set(e.keys)].sort();
  const mode = e.mode ?? 'exact';
  const hit = await poll(toMs(e.within, ctx.defaultWithinMs), () => {
    const index = ctx
      .insides()
      .cacheInvalidations()
      .findIndex((keys, i) => {
        if (ctx.consumedInvalidations.has(i)) return false;
        const got = [...new Set(keys)].sort();
        return mode === 'exact' ? isDeepStrictEqual(got, wanted) : wanted.every((k) => got.includes(k));
      });
    return index >= 0 ? index : undefined;
  });
  if (hit === undefined) {
    const seen =
      ctx
        .insides()
        .cacheInvalidations()
        .map((keys) => `    [${keys.join(', ')}]`)
        .join('\n') || '    (none)';
    throw new StepFailure(
      `no cache invalidation with ${mode === 'exact' ? 'exactly' : 'at least'} the keys [${wanted.join(', ')}]\n  invalidations seen:\n${seen}`,
    );
  }
  ctx.consumedInvalidations.add(hit);
}

export const expectCacheInvalidatedStep: StepKind<'expectCacheInvalidated'> = {
  action: 'expectCacheInvalidated',
  needsInsides: always,
  changesState: false,
  run: expectCacheInvalidated,
};
