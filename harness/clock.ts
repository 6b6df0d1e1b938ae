/**
 * The emulator's notion of "now". Every emulated timeout (WebSocket idle and max duration, DynamoDB TTL)
 * reads this clock instead of Date.now(), so tests and scenarios can advance ten minutes in a millisecond.
 *
 * Timers scheduled on the clock fire when real time reaches them *or* when `advance()` jumps past them,
 * whichever comes first — never before `now()` has reached their time.
 */
export interface Clock {
  /** Current emulated time in epoch milliseconds. */
  now(): number;
  /** Schedules `fn` at emulated time `at` (epoch ms). Returns a cancel function. */
  at(at: number, fn: () => void): () => void;
  /** Moves emulated time forward by `ms` and runs every timer that became due, in time order. */
  advance(ms: number): void;
}

interface Timer {
  at: number;
  fn: () => void;
  realTimer: NodeJS.Timeout | undefined;
  done: boolean;
}

/** A clock that follows real time plus an offset that `advance()` grows. */
export function createClock(): Clock {
  let offset = 0;
  const timers = new Set<Timer>();
  const now = (): number => Date.now() + offset;

  function fire(timer: Timer): void {
    if (timer.done) return;
    timer.done = true;
    if (timer.realTimer) clearTimeout(timer.realTimer);
    timers.delete(timer);
    timer.fn();
  }

  function arm(timer: Timer): void {
    if (timer.realTimer) clearTimeout(timer.realTimer);
    // setTimeout caps at ~24.8 days; our timers are hours at most, but clamp anyway.
    const delay = Math.min(Math.max(0, timer.at - now()), 2 ** 31 - 1);
    // Node's timers run on libuv's millisecond loop clock, not Date.now(): one can fire a millisecond or so before
    // Date.now() reaches its time. Firing then would hand the callback a "now" before `at` — an SQS message delayed
    // until `at` still invisible, its wake-up spent, the message never received — so a timer early by real time waits.
    timer.realTimer = setTimeout(() => (now() >= timer.at ? fire(timer) : arm(timer)), delay);
    // A pending emulated timeout must never keep the process alive on its own.
    timer.realTimer.unref();
  }

  return {
    now,
    at(at, fn) {
      const timer: Timer = { at, fn, realTimer: undefined, done: false };
      timers.add(timer);
      arm(timer);
      return () => {
        timer.done = true;
        if (timer.realTimer) clearTimeout(timer.realTimer);
        timers.delete(timer);
      };
    },
    advance(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`clock.advance: expected ms >= 0, got ${ms}`);
      offset += ms;
      const due = [...timers].filter((t) => t.at <= now()).sort((a, b) => a.at - b.at);
      for (const timer of due) fire(timer);
      // Timers not yet due keep their absolute emulated time, so their real delay shrinks.
      for (const timer of timers) arm(timer);
    },
  };
}
