// Who was handed which token: profile, the caller as it describes itself, time, and a fingerprint.
import { createHash } from 'node:crypto';
import type { AuditEntry, CallerInfo } from '../protocol/index.js';
import type { Logger } from './log.js';

const KEEP = 20;
/** Serving the same token to the same caller again within this window adds to one log line's count. */
const WINDOW_MS = 1000;

/** A short, one-way fingerprint: enough to match log lines to a token, useless to anyone holding it. */
export function fingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

interface Pending {
  profile: string;
  fp: string;
  caller: CallerInfo | undefined;
  first: number;
  count: number;
}

export class Audit {
  private readonly recent: AuditEntry[] = [];
  private readonly log: Logger;
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;

  constructor(log: Logger) {
    // An audit line holds a profile, a fingerprint and the caller, never a secret, so it skips the
    // redaction pass, which is most of a log call's cost on the token path.
    this.log = log.unredacted();
  }

  /**
   * Every serving is counted; the log gets one line per profile, token and caller per second (with
   * the count and the first time), so a busy client cannot flood the disk.
   */
  record(profile: string, fp: string, caller: CallerInfo | undefined): void {
    const now = Date.now();
    const key = `${profile}\0${fp}\0${caller?.pid ?? ''}\0${caller?.cmd ?? ''}\0${caller?.forwarded ? 'forwarded' : ''}`;
    const p = this.pending.get(key);
    if (p) {
      p.count++;
    } else {
      this.pending.set(key, { profile, fp, caller, first: now, count: 1 });
      const entry: AuditEntry = { time: new Date(now).toISOString(), profile, fingerprint: fp };
      if (caller) entry.caller = caller;
      this.recent.push(entry);
      if (this.recent.length > KEEP) this.recent.shift();
    }
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), WINDOW_MS);
      this.timer.unref();
    }
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const p of this.pending.values()) {
      this.log.info({ audit: 'served', profile: p.profile, fp: p.fp, caller: p.caller, count: p.count, since: new Date(p.first).toISOString() }, 'token served');
    }
    this.pending.clear();
  }

  last(n: number): AuditEntry[] {
    return this.recent.slice(-n);
  }
}
