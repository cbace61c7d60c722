// Time as the session code sees it: injectable, so tests can schedule expiries and timers exactly.

export interface Timer {
  unref?(): unknown;
}

export interface Clock {
  /** Unix ms. */
  now(): number;
  /** A timer that does not keep the process alive. */
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(timer: Timer | undefined): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
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
