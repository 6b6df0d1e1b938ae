/**
 * A token bucket on the emulator's clock: AWS's rate quotas (500 new WebSocket connections/s, the account's
 * `@connections` throttle) are token buckets, and tests move the clock instead of waiting.
 */
export interface TokenBucket {
  /** Takes one token; false when the bucket is empty (the request is throttled). */
  take(): boolean;
}

export function createTokenBucket(settings: { rate: number; burst: number }, now: () => number): TokenBucket {
  let tokens = settings.burst;
  let refilledAt = now();
  return {
    take() {
      const at = now();
      tokens = Math.min(settings.burst, tokens + ((at - refilledAt) / 1000) * settings.rate);
      refilledAt = at;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
