// A profile's stored session: its shape, and the one queue through which it is read and written,
// in call order, so a logout's delete always lands after a write that began before it.
import { AuthdError } from '../protocol/index.js';
import type { AccessToken } from './access-token.js';
import type { Clock, Timer } from './clock.js';
import type { ProfileConfig } from './config/index.js';
import type { IdToken } from './id-token.js';
import { errText, type Logger } from './log.js';
import type { Store, StoredSession } from './store/types.js';

/** How often a session the store refused is offered to it again. */
const SAVE_RETRY_MS = 30_000;

export interface RecordDeps {
  clock: Clock;
  log: Logger;
  /** Revokes a refresh token nobody will hold any more, best effort. */
  revoke: (p: ProfileConfig, rt: string) => void;
}

/** `t`: the session's own access token, if it has one (a narrower token's refresh may come first); `id`: its ID token. */
export function sessionRecord(p: ProfileConfig, t: AccessToken | undefined, rt: string | undefined, subject?: string, scope?: string, id?: IdToken): StoredSession {
  const record: StoredSession = { v: 1, issuer: p.issuer ?? p.token_endpoint, client_id: p.client_id, refresh_token: rt };
  if (t) {
    record.access_token = t.access_token;
    record.token_type = t.token_type;
  }
  if (t?.expires_at !== undefined) record.expires_at = Math.floor(t.expires_at / 1000);
  if (subject) record.subject = subject;
  if (scope) record.scope = scope;
  if (id) {
    record.id_token = id.id_token;
    if (id.expires_at !== undefined) record.id_token_expires_at = Math.floor(id.expires_at / 1000);
  }
  return record;
}

/** The record was stored for this profile's issuer and client (not for what it was before an edit). */
export function belongsTo(rec: StoredSession, p: ProfileConfig): boolean {
  return rec.issuer === (p.issuer ?? p.token_endpoint) && rec.client_id === p.client_id;
}

export class SessionRecords {
  private io: Promise<unknown> = Promise.resolve();
  /** A rotated session the store refused (disk full, read-only): kept here, and written as soon as it can be. */
  unsaved: StoredSession | undefined;
  unsavedError: string | undefined;
  /** Saves started, and the one `unsaved` came from: an older failure never replaces a newer save. */
  private saves = 0;
  private unsavedSave = 0;
  /** The unsaved session came from a login: whatever it replaces when written is revoked. */
  private unsavedLogin = false;
  /** The last login's save, and the last save that landed: a save after a login that has not landed replaces as the login would. */
  private loginSave = 0;
  private landed = 0;
  /** The refresh tokens saved since the last login: one family, whose earlier rotations are never revoked. */
  private family = new Set<string>();
  private timer: Timer | undefined;

  constructor(
    private readonly store: Store,
    private readonly name: () => string,
    private readonly deps: RecordDeps,
  ) {}

  /**
   * Stores a rotated session; resolves false when the store refused it (it is then kept as `unsaved`
   * while `ours()`). A session of the same provider it replaces is revoked: after a login (`login`)
   * any other one, otherwise only another client's (the same client's is an earlier rotation).
   */
  async save(p: ProfileConfig, record: StoredSession, login: boolean, ours: () => boolean): Promise<boolean> {
    const save = ++this.saves;
    if (login) {
      this.loginSave = save;
      this.family = new Set();
    }
    if (record.refresh_token) this.family.add(record.refresh_token);
    // A rotation of a login the store has not taken yet replaces whatever was stored before that login.
    login ||= this.loginSave > this.landed || (this.unsaved !== undefined && this.unsavedLogin);
    let replaced: StoredSession | undefined;
    try {
      replaced = await this.write(record, true);
    } catch (err) {
      if (ours() && save === this.saves) this.keep(record, err, save, login);
      return false;
    }
    this.landed = Math.max(this.landed, save);
    if (this.unsaved && ours() && this.unsavedSave < save) this.forgetUnsaved();
    this.revokeReplaced(p, record, replaced, login);
    return true;
  }

  /**
   * Writes the session the store refused before, unless it is no longer the one to write when its turn
   * comes, or the profile has moved to another identity whose session is stored (then it is revoked).
   * Throws (store_error) while the store still refuses it.
   */
  async saveUnsaved(p: ProfileConfig, ours: () => boolean): Promise<void> {
    const rec = this.unsaved;
    if (!rec) return;
    let superseded = false;
    try {
      const prev = await this.write((stored) => {
        if (this.unsaved !== rec) return undefined;
        superseded = !belongsTo(rec, p) && stored !== undefined && belongsTo(stored, p);
        return superseded ? undefined : rec;
      });
      if (!superseded) this.revokeReplaced(p, rec, prev, this.unsavedLogin);
    } catch (err) {
      if (ours() && this.unsaved === rec) this.keep(rec, err, this.unsavedSave, this.unsavedLogin);
      throw new AuthdError('store_error', `profile ${p.name}: ${this.unsavedError}`,
        'free space on the disk, or make the state directory writable; authd retries by itself');
    }
    if (this.unsaved !== rec) return;
    this.forgetUnsaved();
    if (superseded && rec.refresh_token) this.deps.revoke(p, rec.refresh_token);
    else this.deps.log.info({ profile: p.name }, 'saved the rotated session');
  }

  /** Login or logout: the unsaved session is not this profile's any more; resolves its refresh token. */
  forgetUnsaved(): string | undefined {
    const rt = this.unsaved?.refresh_token;
    this.unsaved = undefined;
    this.unsavedError = undefined;
    return rt;
  }

  private keep(record: StoredSession, err: unknown, save: number, login: boolean): void {
    this.unsaved = record;
    this.unsavedSave = save;
    this.unsavedLogin = login;
    const why = err instanceof AuthdError ? err.message : ((err as NodeJS.ErrnoException).code ?? 'write failed');
    this.unsavedError = `the session could not be saved (${why}); it is kept in memory and saved as soon as the store takes it`;
    this.deps.log.error({ profile: this.name(), err: errText(err) }, 'could not save the rotated session');
    this.timer ??= this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      this.retry?.();
    }, SAVE_RETRY_MS);
  }

  /** What the retry timer runs (the lifecycle's save, with its own checks). */
  retry: (() => void) | undefined;

  private revokeReplaced(p: ProfileConfig, record: StoredSession, replaced: StoredSession | undefined, login: boolean): void {
    if (replaced?.refresh_token && this.family.has(replaced.refresh_token)) return;
    if (replaced?.refresh_token && replaced.refresh_token !== record.refresh_token && replaced.issuer === record.issuer
      && replaced.client_id && (login || replaced.client_id !== record.client_id)) {
      this.deps.revoke({ ...p, client_id: replaced.client_id }, replaced.refresh_token);
    }
  }

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
