// Every open client connection, for two limits. One idle for IDLE_TIMEOUT_MS is closed (a program
// that makes an SDK client per request and never closes them). At MAX_CONNECTIONS a new one is let
// in by closing the one idle the longest, rather than refused: refusing let 4,096 idle connections
// lock every command out. A connection is busy while a request on it waits for its answer (a login
// waits minutes): busy ones are never closed here. The SDK reconnects by itself after a close.
import type net from 'node:net';
import type { Logger } from './log.js';
import { type ConnectionActivity, MAX_CONNECTIONS, PARTIAL_FRAME_TIMEOUT_MS } from './server.js';

export const IDLE_TIMEOUT_MS = 5 * 60_000;

/** AUTHD_IDLE_TIMEOUT_MS (for tests), else IDLE_TIMEOUT_MS. */
export function idleTimeoutMs(env: Record<string, string | undefined>): number {
  const ms = Number(env.AUTHD_IDLE_TIMEOUT_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : IDLE_TIMEOUT_MS;
}

/**
 * AUTHD_TEST_PARTIAL_FRAME_MS (for tests, so they need not wait 10 s for a half-written frame to be
 * dropped), else PARTIAL_FRAME_TIMEOUT_MS. It can only shorten the wait, to no less than 100 ms: never
 * let a slow writer hold a connection longer.
 */
export function partialFrameMs(env: Record<string, string | undefined>): number {
  const ms = Number(env.AUTHD_TEST_PARTIAL_FRAME_MS);
  return Number.isFinite(ms) && ms > 0 ? Math.min(Math.max(ms, 100), PARTIAL_FRAME_TIMEOUT_MS) : PARTIAL_FRAME_TIMEOUT_MS;
}

interface Entry extends ConnectionActivity {
  socket: net.Socket;
  busy: number;
  lastActive: number;
}

export class ConnectionTable {
  private readonly open = new Set<Entry>();
  private readonly sweeper: NodeJS.Timeout;
  private evicted = 0;
  private evictionLoggedAt = 0;

  constructor(
    private readonly log: Logger,
    private readonly idleMs = IDLE_TIMEOUT_MS,
    private readonly max = MAX_CONNECTIONS,
  ) {
    this.sweeper = setInterval(() => this.closeIdle(), Math.max(50, idleMs / 4));
    this.sweeper.unref();
  }

  /** A new connection; at the limit, the longest-idle one makes room (or, all busy, this one is refused). */
  add(socket: net.Socket): ConnectionActivity {
    if (this.open.size >= this.max && !this.evictLongestIdle()) {
      this.log.warn({ open: this.open.size }, 'refused a connection: every connection has a request waiting');
      socket.destroy();
    }
    const entry: Entry = {
      socket,
      busy: 0,
      lastActive: Date.now(),
      begin() {
        entry.busy++;
        entry.lastActive = Date.now();
      },
      end() {
        if (entry.busy > 0) entry.busy--;
        entry.lastActive = Date.now();
      },
    };
    this.open.add(entry);
    socket.once('close', () => this.open.delete(entry));
    return entry;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private evictLongestIdle(): boolean {
    let oldest: Entry | undefined;
    for (const e of this.open) if (e.busy === 0 && (!oldest || e.lastActive < oldest.lastActive)) oldest = e;
    if (!oldest) return false;
    this.drop(oldest);
    this.evicted++;
    const now = Date.now();
    if (now - this.evictionLoggedAt > 60_000) {
      this.log.warn({ open: this.max, closed: this.evicted }, 'at the connection limit: closed the longest-idle connections to let new ones in');
      this.evictionLoggedAt = now;
      this.evicted = 0;
    }
    return true;
  }

  /** Closes the connections idle for `idleMs` (default: the table's idle timeout); 0 closes every idle one. */
  closeIdle(idleMs = this.idleMs): void {
    const before = Date.now() - idleMs;
    for (const e of this.open) if (e.busy === 0 && e.lastActive <= before) this.drop(e);
  }

  private drop(e: Entry): void {
    this.open.delete(e);
    e.socket.destroy();
  }
}
