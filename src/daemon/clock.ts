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
