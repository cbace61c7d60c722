// A daemon that accepts connections but never answers (stopped with SIGSTOP, wedged) would keep
// every client waiting forever: the kernel accepts for it. While a request waits, a client that has
// heard nothing for half its patience asks `ping`, which a live daemon answers at once even while
// the request itself waits on the provider; silence for all of it means the daemon is not answering.
// Time is monotonic: a laptop's sleep does not count as the daemon's silence. (process.hrtime, not
// `performance`, whose first use loads perf_hooks: ~0.7 ms on every command.)

/** How long a client waits without a word from the daemon (AUTHD_NOT_ANSWERING_MS: for tests, and a TAB's `authd profiles`). */
export const NOT_ANSWERING_MS = 10_000;

/** The longest a timer can wait (setTimeout takes anything longer for 1 ms, with a warning). */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

export function notAnsweringMs(env: Record<string, string | undefined>): number {
  const ms = Number(env.AUTHD_NOT_ANSWERING_MS);
  return Number.isFinite(ms) && ms > 0 ? Math.min(ms, LONGEST_TIMER_MS) : NOT_ANSWERING_MS;
}

export class AnswerWatchdog {
  private lastHeard = 0;
  private timer: NodeJS.Timeout | undefined;
  private probed = false;

  constructor(
    private readonly patienceMs: number,
    /** Sends a request any live daemon answers at once. */
    private readonly probe: () => void,
    /** The daemon said nothing for the whole patience. */
    private readonly giveUp: () => void,
  ) {}

  /** Bytes arrived from the daemon. */
  heard(): void {
    this.lastHeard = monotonicMs();
    this.probed = false;
  }

  /** A request waits for its answer (a no-op while another one already does). */
  waiting(): void {
    if (this.timer) return;
    this.heard();
    this.arm(this.patienceMs / 2);
  }

  /** No request waits any more. */
  idle(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => this.check(), Math.max(1, ms));
    this.timer.unref();
  }

  private check(): void {
    // If this process was itself stopped (Ctrl-Z), the daemon's answer may be waiting unread: timers
    // run before sockets are read, so decide only after the next read.
    setImmediate(() => {
      if (!this.timer) return;
      const silent = monotonicMs() - this.lastHeard;
      if (silent >= this.patienceMs) {
        this.idle();
        this.giveUp();
        return;
      }
      if (silent >= this.patienceMs / 2 && !this.probed) {
        this.probed = true;
        this.probe();
      }
      this.arm((this.probed ? this.patienceMs : this.patienceMs / 2) - silent);
    });
  }
}

function monotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1000 + ns / 1e6;
}
