// A profile's stored session: its shape, and the one queue through which it is read and written,
// in call order, so a logout's delete always lands after a write that began before it.
import type { AccessToken } from './access-token.js';
import type { ProfileConfig } from './config.js';
import type { Store, StoredSession } from './store/types.js';

export function sessionRecord(p: ProfileConfig, t: AccessToken, rt: string | undefined, subject?: string, scope?: string): StoredSession {
  const record: StoredSession = {
    v: 1, issuer: p.issuer ?? p.token_endpoint, client_id: p.client_id, refresh_token: rt,
    access_token: t.access_token, token_type: t.token_type,
  };
  if (t.expires_at !== undefined) record.expires_at = Math.floor(t.expires_at / 1000);
  if (subject) record.subject = subject;
  if (scope) record.scope = scope;
  return record;
}

/** The record was stored for this profile's issuer and client (not for what it was before an edit). */
export function belongsTo(rec: StoredSession, p: ProfileConfig): boolean {
  return rec.issuer === (p.issuer ?? p.token_endpoint) && rec.client_id === p.client_id;
}

export class SessionRecords {
  private io: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly name: () => string,
  ) {}

  read(): Promise<StoredSession | undefined> {
    return this.serial((key) => this.store.get(key));
  }

  /**
   * Writes `rec` (a function: what it returns, given the stored record, when the write's turn comes;
   * undefined: nothing to write). With `previous` (always for a function), resolves with the record it replaced.
   */
  write(rec: StoredSession | ((prev: StoredSession | undefined) => StoredSession | undefined), previous = false): Promise<StoredSession | undefined> {
    return this.serial(async (key) => {
      const prev = previous || typeof rec === 'function' ? await this.store.get(key) : undefined;
      const value = typeof rec === 'function' ? rec(prev) : rec;
      if (value) await this.store.put(key, value);
      return prev;
    });
  }

  /** Deletes the record; resolves with what it held. With `onlyIf`, only a record holding that refresh token. */
  remove(onlyIf?: string): Promise<StoredSession | undefined> {
    return this.serial(async (key) => {
      const rec = await this.store.get(key);
      if (rec && (onlyIf === undefined || rec.refresh_token === onlyIf)) await this.store.delete(key);
      return rec;
    });
  }

  /** Resolves when every read and write asked for so far has finished. */
  idle(): Promise<void> {
    return this.io.then(() => undefined);
  }

  private serial<T>(fn: (key: string) => Promise<T>): Promise<T> {
    const key = this.name();
    const r = this.io.then(() => fn(key));
    this.io = r.catch(() => undefined);
    return r;
  }
}
