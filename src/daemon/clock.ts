// Time as the session code sees it: injectable, so tests can schedule expiries and timers exactly.

export interface Timer {
  unref?(): unknown;
}

export interface Clock {
  /** Unix ms. */
  now(): number;
  /** A timer that does not keep the process alive. Any delay: one longer than Node's maximum is re-armed. */
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer | undefined): void;
}

/**
 * The longest delay a Node timer holds (2^31-1 ms, 24.8 days). A longer one fires after 1 ms with a
 * warning: a provider's 30-day access token then meant a refresh on every call.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer longer than MAX_TIMER_MS runs as a chain of timers; `current` is the one armed now. */
interface ChainedTimer extends Timer {
  current: NodeJS.Timeout | undefined;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const timer: ChainedTimer = { current: undefined };
    const arm = (left: number) => {
      timer.current = left > MAX_TIMER_MS ? setTimeout(() => arm(left - MAX_TIMER_MS), MAX_TIMER_MS) : setTimeout(fn, left);
      timer.current.unref();
    };
    arm(Number.isNaN(ms) ? 0 : Math.max(0, ms));
    return timer;
  },
  clearTimeout: (timer) => clearTimeout((timer as ChainedTimer | undefined)?.current),
};

/** `promise`, or `late()` thrown once `ms` have passed on `clock` (the promise itself goes on). */
export function withDeadline<T>(clock: Clock, promise: Promise<T>, ms: number, late: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(late()), ms);
    promise.then((v) => {
      clock.clearTimeout(timer);
      resolve(v);
    }, (err: unknown) => {
      clock.clearTimeout(timer);
      reject(err);
    });
  });
}
