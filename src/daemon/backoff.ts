// How long a profile leaves its provider alone after a failure: doubling from 250 ms to 30 s, and
// never sooner than the provider's Retry-After.
import type { AuthdError } from '../protocol/index.js';

const FIRST_MS = 250;
const MAX_MS = 30_000;

export class Backoff {
  private ms = 0;
  private until = 0;
  private failure: AuthdError | undefined;

  /** Records a failure at `now`; returns how long to wait. */
  fail(e: AuthdError, now: number, retryAfterMs = 0): number {
    this.failure = e;
    this.ms = Math.min(MAX_MS, this.ms ? this.ms * 2 : FIRST_MS);
    const wait = Math.max(this.ms, retryAfterMs);
    this.until = now + wait;
    return wait;
  }

  /** The failure to answer with instead of asking the provider again, while the wait lasts. */
  blocking(now: number): AuthdError | undefined {
    return now < this.until ? this.failure : undefined;
  }

  reset(): void {
    this.ms = 0;
    this.until = 0;
    this.failure = undefined;
  }
}
