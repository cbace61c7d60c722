// A profile's token lifecycle: the only code that holds, refreshes or rotates its refresh token.
// One refresh at a time per profile. Every state change (login, logout, a new secret, a new
// identity) takes effect before its first await; a refresh that returns after one is not served
// (its callers retry against the new state), and after a login or logout not stored either (its
// refresh token is revoked). docs/internals.md has the rules and how they are tested.
import { AuthdError, loginHint, type Narrowing, narrowingKey } from '../protocol/index.js';
import { type AccessToken, accessToken, minTtlMs, refreshAheadDelay, remainingMs } from './access-token.js';
import { Backoff } from './backoff.js';
import { type Clock, type Timer, withDeadline } from './clock.js';
import { identity, isInteractive, isWorkload, type ProfileConfig } from './config/index.js';
import { type IdToken, storedIdToken } from './id-token.js';
import * as idp from './idp.js';
import { failureKind } from './provider-answer.js';
import { errText, type Logger } from './log.js';
import type { SecretSource } from './secrets.js';
import { SubjectTokens, subjectOf } from './subject-token.js';
import { belongsTo, SessionRecords, sessionRecord } from './session-record.js';
import type { Store, StoredSession } from './store/types.js';

export interface LifecycleDeps {
  store: Store;
  log: Logger;
  provider: idp.Provider;
  clock: Clock;
  secrets: SecretSource;
  subjectTokens: SubjectTokens;
}

/** A caller retries this often when state changes under it (each needs a login, logout or edit). */
const MAX_ATTEMPTS = 4;

/** Narrower tokens a session keeps at most (get-token --scope): see slotFor. */
const MAX_NARROWINGS = 32;

/** A narrower token of the session (get-token --scope): in memory only. */
interface NarrowSlot {
  narrowing: Narrowing;
  token?: AccessToken;
  inflight?: Promise<AccessToken | undefined>;
  aheadTimer?: Timer;
}

export class TokenLifecycle {
  private token: AccessToken | undefined;
  private refreshToken: string | undefined;
  /** The session's ID token (get-token --id-token): comes and goes with the session's own token. */
  private idToken: IdToken | undefined;
  /** Whether the last answer for the session's own token carried an ID token; undefined: none seen yet. */
  private idTokenRenews: boolean | undefined;
  subject: string | undefined;
  /** The scope the provider granted the session (its answers' `scope`), kept in the stored record. */
  private grantedScope: string | undefined;
  private loaded = false;
  private loading: Promise<void> | undefined;
  private inflight: Promise<AccessToken | undefined> | undefined;
  /** Bumped by every state change: a refresh started before one is not served. */
  private epoch = 0;
  /** Bumped by login and logout, which own the stored record from then on: such a refresh is not written either. */
  private owner = 0;
  /** A server rejected it (git's erase): never served again, even from the store. */
  private rejected: string | undefined;
  /** The provider declared it dead: never presented again, even if a store read brings it back. */
  private dead: string | undefined;
  private readonly records: SessionRecords;
  private readonly backoff = new Backoff();
  private aheadTimer: Timer | undefined;
  /** Narrower tokens by narrowingKey. Forgotten with the session; never stored. */
  private readonly narrowed = new Map<string, NarrowSlot>();
  /**
   * Every request that presents the refresh token, whatever token it is for, runs after the one
   * before it has been answered and adopted: each rotates the one refresh token.
   */
  private chain: Promise<unknown> = Promise.resolve();
  refreshes = 0;
  lastError: string | undefined;

  constructor(
    private readonly profile: () => ProfileConfig,
    private readonly deps: LifecycleDeps,
  ) {
    this.records = new SessionRecords(deps.store, () => profile().name, {
      clock: deps.clock, log: deps.log, revoke: (p, rt) => this.discard(p, rt),
    });
    this.records.retry = () => this.saveUnsaved().catch(() => undefined);
  }

  /** A request to the provider is in flight or queued. */
  busy(): boolean {
    return this.inflight !== undefined;
  }

  /** `t` if it has more than min_ttl left: a comparison. */
  private fresh<T extends AccessToken | IdToken>(t: T | undefined, minTtlSeconds: number | undefined): T | undefined {
    return t && remainingMs(t, this.deps.clock.now()) > minTtlMs(t, minTtlSeconds ?? this.profile().min_ttl) ? t : undefined;
  }

  /** The hot path: a field read and a comparison. */
  cached(minTtlSeconds: number | undefined): AccessToken | undefined {
    return this.fresh(this.token, minTtlSeconds);
  }

  async get(minTtlSeconds: number | undefined): Promise<AccessToken> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const epoch = this.epoch;
      await this.load();
      const current = this.cached(minTtlSeconds);
      if (current) return current;
      if (epoch !== this.epoch) continue;
      const failed = this.inflight ? undefined : this.backoff.blocking(this.deps.clock.now());
      if (failed) {
        // The provider failed moments ago: do not hammer it; serve what is still valid.
        if (this.valid()) return this.token!;
        throw failed;
      }
      let t: AccessToken | undefined;
      try {
        t = await (isInteractive(this.profile().flow) ? this.patiently(this.startRefresh()) : this.startRefresh());
      } catch (err) {
        // The provider is down or slow: a token that has not expired yet is still worth handing out.
        if (err instanceof AuthdError && err.code === 'idp_unreachable' && this.valid()) return this.token!;
        throw err;
      }
      // Retried when state changed meanwhile, or the token expired waiting for its durable write.
      if (t && epoch === this.epoch && remainingMs(t, this.deps.clock.now()) > 0) return t;
    }
    throw new AuthdError('idp_unreachable', `profile ${this.profile().name} kept changing while its token was being fetched`, 'try again');
  }

  /** A narrower token in memory with more than min_ttl left: a map read and a comparison. */
  cachedNarrowed(minTtlSeconds: number | undefined, n: Narrowing): AccessToken | undefined {
    return this.fresh(this.narrowed.get(narrowingKey(n))?.token, minTtlSeconds);
  }

  /**
   * A narrower token (other scopes, a resource, an audience), obtained with the session's refresh
   * token: one request per narrowing at a time, and every request of the session in one chain.
   */
  async getNarrowed(minTtlSeconds: number | undefined, n: Narrowing): Promise<AccessToken> {
    const p = this.profile();
    if (!isInteractive(p.flow)) {
      throw new AuthdError('not_supported', `--scope, --resource and --audience need a login with a refresh token; profile ${p.name} uses the ${p.flow} flow`,
        `set scopes in profile ${p.name} instead`);
    }
    // Only a resource the login asked for: asked for another, a provider may use the refresh token up before it refuses.
    if (n.resource && !p.resources?.includes(n.resource)) {
      throw new AuthdError('usage', `the login of profile ${p.name} did not ask for resource ${n.resource}`,
        `add it to resources in [profiles.${p.name}] and log in again (authd login -p ${p.name})`);
    }
    if (n.audience && !p.audiences?.includes(n.audience)) {
      throw new AuthdError('usage', `profile ${p.name} does not list audience ${n.audience}`,
        `add it to audiences in [profiles.${p.name}] if the provider lets this login's refresh token serve it (Auth0: the application's multi-resource refresh token policy)`);
    }
    const key = narrowingKey(n);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const epoch = this.epoch;
      await this.load();
      const current = this.cachedNarrowed(minTtlSeconds, n);
      if (current) return current;
      if (epoch !== this.epoch) continue;
      const slot = this.slotFor(key, n);
      // Still this session's (no logout, login or new identity since) and unexpired: worth handing out
      // while the provider is down or slow, as the main path does with its own token.
      const valid = () => epoch === this.epoch && this.narrowed.get(key) === slot && slot.token !== undefined
        && remainingMs(slot.token, this.deps.clock.now()) > 0;
      const failed = slot.inflight ? undefined : this.backoff.blocking(this.deps.clock.now());
      if (failed) {
        if (valid()) return slot.token!;
        throw failed;
      }
      let t: AccessToken | undefined;
      try {
        t = await this.patiently(this.startNarrowed(slot));
      } catch (err) {
        if (err instanceof AuthdError && err.code === 'idp_unreachable' && valid()) return slot.token!;
        // Scopes the grant does not cover: nothing to keep for them.
        if (failureKind(err as AuthdError) === 'scope_refused' && this.narrowed.get(key) === slot && !slot.inflight) this.narrowed.delete(key);
        throw err;
      }
      if (t && epoch === this.epoch && remainingMs(t, this.deps.clock.now()) > 0) return t;
    }
    throw new AuthdError('idp_unreachable', `profile ${p.name} kept changing while its token was being fetched`, 'try again');
  }

  /**
   * The slot of a narrowing, made on first use. At most MAX_NARROWINGS per session (a caller inventing
   * scope sets, say through a forwarded socket, cannot grow memory without bound): the oldest slot with
   * no request in flight makes room.
   */
  private slotFor(key: string, n: Narrowing): NarrowSlot {
    let slot = this.narrowed.get(key);
    if (slot) return slot;
    if (this.narrowed.size >= MAX_NARROWINGS) {
      for (const [k, s] of this.narrowed) {
        if (s.inflight) continue;
        this.deps.clock.clearTimeout(s.aheadTimer);
        this.narrowed.delete(k);
        break;
      }
    }
    slot = { narrowing: n };
    this.narrowed.set(key, slot);
    return slot;
  }

  /** The ID token in memory with more than min_ttl left: a field read and a comparison. */
  cachedIdToken(minTtlSeconds: number | undefined): IdToken | undefined {
    return this.fresh(this.idToken, minTtlSeconds);
  }

  /**
   * The session's ID token, refreshed as its access token is: by a refresh of the session (the one in
   * flight, else a new one in the chain), whose answer is stored before the token is served.
   */
  async getIdToken(minTtlSeconds: number | undefined): Promise<IdToken> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const epoch = this.epoch;
      const p = this.profile();
      if (!isInteractive(p.flow)) throw noIdToken(p);
      await this.load();
      const current = this.cachedIdToken(minTtlSeconds);
      if (current) return current;
      if (epoch !== this.epoch) continue;
      if (!this.idToken && !p.scopes.includes('openid')) throw noIdToken(p);
      // A provider that renews no ID token on refresh would be asked again on every call: not asked at all.
      if (this.refreshToken && this.idTokenRenews === false) throw notRenewed(p, this.idToken, this.deps.clock.now());
      const valid = () => this.idToken !== undefined && remainingMs(this.idToken, this.deps.clock.now()) > 0;
      const failed = this.inflight ? undefined : this.backoff.blocking(this.deps.clock.now());
      if (failed) {
        if (valid()) return this.idToken!;
        throw failed;
      }
      let t: AccessToken | undefined;
      try {
        t = await this.patiently(this.startRefresh());
      } catch (err) {
        if (err instanceof AuthdError && err.code === 'idp_unreachable' && valid()) return this.idToken!;
        throw err;
      }
      if (t && epoch === this.epoch) {
        if (valid()) return this.idToken!;
        if (this.idTokenRenews === false) throw notRenewed(p, this.idToken, this.deps.clock.now());
      }
    }
    throw new AuthdError('idp_unreachable', `profile ${this.profile().name} kept changing while its ID token was being fetched`, 'try again');
  }

  private startNarrowed(slot: NarrowSlot): Promise<AccessToken | undefined> {
    const epoch = this.epoch;
    const owner = this.owner;
    slot.inflight ??= this.serialize(() => this.acquire(epoch, owner, slot)).finally(() => {
      slot.inflight = undefined;
    });
    return slot.inflight;
  }

  /**
   * Waits for the refresh in flight at most the profile's timeout. The refresh itself goes on: once
   * sent, the provider may have consumed the refresh token, so its answer must be heard (the fetch
   * waits far longer: provider-fetch.ts).
   */
  private patiently(inflight: Promise<AccessToken | undefined>): Promise<AccessToken | undefined> {
    const p = this.profile();
    return withDeadline(this.deps.clock, inflight, p.timeout * 1000, () => new AuthdError('idp_unreachable',
      `the provider has not answered the token request of profile ${p.name} within ${p.timeout}s; authd goes on waiting for it`,
      'try again shortly'));
  }

  private startRefresh(): Promise<AccessToken | undefined> {
    const epoch = this.epoch;
    const owner = this.owner;
    this.inflight ??= this.serialize(() => this.acquire(epoch, owner)).finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Runs `fn` once every request queued before it has settled (see `chain`). */
  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** One request to the provider, whatever the number of callers waiting for it; `slot`: for a narrower token. */
  private async acquire(epoch: number, owner: number, slot?: NarrowSlot): Promise<AccessToken | undefined> {
    const p = this.profile();
    const started = this.deps.clock.now();
    // Queued behind another request of the session while the state changed: callers retry against the new one.
    if (epoch !== this.epoch || owner !== this.owner) return undefined;
    if (isInteractive(p.flow) && this.records.unsaved) {
      // No new rotation before the last one is stored: it would be lost the same way.
      await this.saveUnsaved();
      if (epoch !== this.epoch || owner !== this.owner) return undefined;
    }
    const before = { rt: this.refreshToken, subject: this.subject, secret: undefined as string | undefined, idToken: this.idToken };
    let set: idp.TokenSet;
    try {
      set = await this.fetch(p, before, slot?.narrowing);
    } catch (err) {
      const e = err instanceof AuthdError ? err : idp.classify(err, p, 'token');
      const current = epoch === this.epoch;
      if (owner === this.owner) this.onFailure(e, p, before, current);
      if (!current) return undefined; // the state it failed for is gone: callers retry against the new one
      throw e;
    }
    if (owner !== this.owner) {
      this.discard(p, set.refresh_token);
      return undefined;
    }
    const t = await this.adopt(p, set, owner, before, slot);
    if (t) this.deps.log.info({ profile: p.name, flow: p.flow, narrowed: slot !== undefined, ms: this.deps.clock.now() - started }, 'token acquired');
    return t;
  }

  private async fetch(p: ProfileConfig, used: { rt?: string; secret?: string }, narrowing?: Narrowing): Promise<idp.TokenSet> {
    if (p.flow === 'client_credentials') {
      const cred = await this.deps.secrets.clientCredential();
      if ('secret' in cred) used.secret = cred.secret;
      return this.deps.provider.clientCredentials(p, cred);
    }
    if (p.flow === 'api_key') return { access_token: await this.deps.secrets.apiKey(), token_type: 'Bearer' };
    if (isWorkload(p.flow)) {
      // Fetched anew for every token (a file only when it changed): a CI job's or a pod's token is short-lived.
      const subjectToken = await this.deps.subjectTokens.token();
      const set = await this.deps.provider.workloadToken(p, subjectToken, SubjectTokens.describe(p) ?? 'its subject token source');
      set.subject ??= subjectOf(subjectToken);
      return set;
    }
    const rt = used.rt;
    if (!rt) throw new AuthdError('login_required', `profile ${p.name} is not logged in`, loginHint(p.name));
    const set = await this.deps.provider.refresh(p, rt, narrowing);
    this.refreshes++;
    return set;
  }

  /** `current`: no state change since the request began (else only the store is tidied). */
  private onFailure(e: AuthdError, p: ProfileConfig, used: { rt?: string; secret?: string }, current: boolean): void {
    const kind = failureKind(e);
    // A narrower token the grant does not cover: that request failed, the session is as it was.
    if (kind === 'scope_refused') return;
    const rt = used.rt;
    if (kind === 'session_dead' && isInteractive(p.flow) && rt) {
      // The provider rejected the refresh token: the session is dead. Forget it, so nobody replays it.
      this.dead = rt;
      if (this.refreshToken === rt) this.forget();
      this.records.remove(rt).catch((err: unknown) => this.deps.log.error({ profile: p.name, err: errText(err) }, 'could not delete the dead session'));
    }
    if (!current) return;
    this.lastError = e.message;
    if (kind === 'transient' || kind === 'protocol') {
      // Back off (at least as long as the provider asked) rather than send it every caller's request.
      const wait = this.backoff.fail(e, this.deps.clock.now(), e instanceof idp.ProviderError ? e.retryAfterMs : undefined);
      this.deps.log.warn({ profile: p.name, code: e.code, backoffMs: wait }, e.message);
      return;
    }
    this.deps.log.warn({ profile: p.name, code: e.code }, e.message);
    if (kind === 'client_refused') this.deps.secrets.forgetEnv(used.secret);
  }

  /**
   * Takes a token response begun under `p`. The rotated refresh token is written to the
   * store, durably, before any caller sees the new access token; under the identity it was issued
   * for, even if the profile has changed since. Undefined: a state change won meanwhile.
   */
  private async adopt(p: ProfileConfig, set: idp.TokenSet, owner: number, before: { rt?: string; subject?: string; idToken?: IdToken }, slot?: NarrowSlot): Promise<AccessToken | undefined> {
    const t = accessToken(set);
    // A provider that ignored the narrower scopes (or widened them) gave a token that is not what was
    // asked: it is not served for them. No scope in the answer means as requested (RFC 6749 §5.1).
    const wider = slot?.narrowing.scopes && set.scope !== undefined
      ? set.scope.split(' ').filter((sc) => sc && !slot.narrowing.scopes!.includes(sc)) : [];
    const subject = set.subject ?? before.subject;
    // An answer without an ID token keeps the one before (OpenID Connect Core §12.2); a narrower token's never replaces it.
    const idToken = isInteractive(p.flow) ? (slot ? before.idToken : set.idToken ?? before.idToken) : undefined;
    if (isInteractive(p.flow)) {
      const rt = set.refresh_token ?? before.rt;
      // The old one is spent: from here on only the new one is ever presented, even if the write fails.
      if (identity(p) === identity(this.profile())) this.refreshToken = rt;
      // A narrower token is not the session's: the record keeps the session's own token, scope and ID token.
      if (!slot) this.grantedScope = set.scope ?? this.grantedScope;
      const record = sessionRecord(p, slot ? this.token : t, rt, subject, this.grantedScope, idToken);
      // Refused by the store, the session lives in memory until the store takes it: served, not refreshed again.
      await this.records.save(p, record, before.rt === undefined, () => owner === this.owner);
      // A login or logout came during the write and owns the record now: what this write put there goes
      // (unless the newcomer's own write already replaced it), then the refresh token is revoked.
      if (owner !== this.owner) {
        this.records.remove(rt).then(() => this.discard(p, rt), () => undefined);
        return undefined;
      }
    }
    // Another identity now: the record stays the old identity's, to resume if the edit is undone. (Undone
    // already: the store may have been read meanwhile, before this write; memory takes the new token.)
    if (identity(p) !== identity(this.profile())) return undefined;
    if (isInteractive(p.flow)) {
      const rt = set.refresh_token ?? before.rt;
      // Memory moved on during the write (the session died, or rotated again): that state stands.
      const now = this.refreshToken;
      if (rt === this.dead || (now !== undefined && now !== rt && now !== before.rt)) return undefined;
      this.refreshToken = rt;
    }
    this.subject = subject;
    if (slot && wider.length) {
      throw new AuthdError('idp_error', `the provider answered the request of profile ${p.name} for scopes ${slot.narrowing.scopes!.join(' ')} with a token for ${wider.join(' ')} too; not handing it out`,
        'the provider does not narrow scopes on a refresh: use a profile per set of scopes');
    }
    if (slot) {
      // Still the session's narrowing (not forgotten by a state change during the write).
      if (this.narrowed.get(narrowingKey(slot.narrowing)) === slot) slot.token = t;
    } else {
      this.token = t;
      this.idToken = idToken;
      this.idTokenRenews = set.idToken !== undefined;
    }
    this.backoff.reset();
    this.lastError = this.records.unsavedError ?? set.clockSkew;
    if (set.clockSkew) this.deps.log.warn({ profile: p.name }, `${set.clockSkew}: check the clock`);
    return t;
  }

  /** Writes the session the store refused before; throws (store_error) while it still cannot. */
  private async saveUnsaved(): Promise<void> {
    const owner = this.owner;
    await this.records.saveUnsaved(this.profile(), () => owner === this.owner);
    if (!this.records.unsaved && this.lastError?.startsWith('the session could not be saved')) this.lastError = undefined;
  }

  /** A refresh token nobody will present (its refresh lost to a state change): revoke it, best effort. */
  private discard(p: ProfileConfig, rt: string | undefined): void {
    if (!rt) return;
    this.deps.provider.revoke(p, rt, 'refresh_token').catch((err: unknown) =>
      this.deps.log.warn({ profile: p.name, err: errText(err) }, 'could not revoke a superseded refresh token'));
  }

  /** A device login for `p` succeeded: its session replaces whatever was here, which is revoked. */
  async adoptLogin(p: ProfileConfig, set: idp.TokenSet): Promise<AccessToken> {
    const held = this.forget();
    this.discard(p, held.refreshToken);
    if (held.unsavedRefreshToken !== held.refreshToken) this.discard(p, held.unsavedRefreshToken);
    const t = await this.adopt(p, set, held.owner, {});
    if (!t) throw new AuthdError('login_required', `profile ${p.name} was logged out or changed while the login finished`, loginHint(p.name));
    return t;
  }

  /** Reads the stored session once; a record for another issuer or client is ignored. */
  private load(): Promise<void> {
    if (this.loaded) return Promise.resolve();
    const loading = (async () => {
      const epoch = this.epoch;
      const p = this.profile();
      const stored = isInteractive(p.flow) ? await this.records.read() : undefined;
      if (epoch !== this.epoch) return;
      this.loaded = true;
      // A session the store has not taken yet (a full disk) is newer than what the store holds.
      const unsaved = this.records.unsaved;
      const rec = unsaved && belongsTo(unsaved, p) ? unsaved : stored;
      if (!rec?.refresh_token || rec.refresh_token === this.dead) return;
      if (!belongsTo(rec, p)) {
        this.deps.log.warn({ profile: p.name }, 'stored session is for another issuer or client; ignoring it');
        return;
      }
      this.refreshToken = rec.refresh_token;
      this.subject = rec.subject;
      this.grantedScope = rec.scope;
      if (rec.id_token) this.idToken = storedIdToken(rec.id_token, rec.id_token_expires_at);
      if (rec.access_token && rec.expires_at && rec.access_token !== this.rejected) {
        this.token = accessToken({ access_token: rec.access_token, token_type: rec.token_type ?? 'Bearer', expires_at: rec.expires_at * 1000 });
      }
    })().finally(() => {
      if (this.loading === loading) this.loading = undefined;
    });
    this.loading ??= loading;
    return this.loading;
  }

  /**
   * A state change, before anything is awaited: memory forgets the session, and a refresh in flight
   * is not served. `known` false: read the store again (a new identity); `owns` false: a refresh in
   * flight still stores its token (under the identity it began with). Returns what was held.
   */
  forget(known = true, owns = true): { epoch: number; owner: number; refreshToken?: string; accessToken?: string; unsavedRefreshToken?: string } {
    const held = { refreshToken: this.refreshToken, accessToken: this.token?.access_token, unsavedRefreshToken: this.records.unsaved?.refresh_token };
    this.epoch++;
    if (owns) this.owner++;
    this.loading = undefined;
    this.token = undefined;
    this.refreshToken = undefined;
    this.idToken = undefined;
    this.idTokenRenews = undefined;
    this.subject = undefined;
    this.grantedScope = undefined;
    this.loaded = known;
    this.backoff.reset();
    this.lastError = undefined;
    if (owns) this.records.forgetUnsaved();
    this.close();
    this.narrowed.clear();
    return { epoch: this.epoch, owner: this.owner, ...held };
  }

  /** Removes the stored record after every earlier write; resolves with what it held. */
  removeStored(): Promise<StoredSession | undefined> {
    return this.records.remove();
  }

  /** Refresh shortly before callers would have to wait — but only for a token someone is using. */
  armRefreshAhead(t: AccessToken, n?: Narrowing): void {
    if (n) {
      this.armNarrowedAhead(t, n);
      return;
    }
    if (!this.profile().refresh_ahead || this.aheadTimer) return;
    const delay = refreshAheadDelay(t, this.profile().min_ttl, this.deps.clock.now());
    if (delay === undefined) return;
    this.aheadTimer = this.deps.clock.setTimeout(() => {
      this.aheadTimer = undefined;
      if (this.token === t && !this.inflight) this.startRefresh().catch(() => undefined);
    }, delay);
  }

  private armNarrowedAhead(t: AccessToken, n: Narrowing): void {
    const slot = this.narrowed.get(narrowingKey(n));
    if (!slot || slot.token !== t || !this.profile().refresh_ahead || slot.aheadTimer) return;
    const delay = refreshAheadDelay(t, this.profile().min_ttl, this.deps.clock.now());
    if (delay === undefined) return;
    slot.aheadTimer = this.deps.clock.setTimeout(() => {
      slot.aheadTimer = undefined;
      if (slot.token === t && !slot.inflight && this.narrowed.get(narrowingKey(n)) === slot) this.startNarrowed(slot).catch(() => undefined);
    }, delay);
  }

  /** The narrower tokens held, for `status`: what each is for and until when. */
  narrowings(): { narrowing: Narrowing; expires_at?: number }[] {
    // Expired ones too, as status shows the session's own token: "expired" until the next get-token.
    return [...this.narrowed.values()].filter((s) => s.token)
      .map((s) => (s.token!.expires_at === undefined ? { narrowing: s.narrowing } : { narrowing: s.narrowing, expires_at: s.token!.expires_at }));
  }

  /** A server rejected this access token (git's `erase`): the next caller gets a fresh one. */
  dropToken(token: string | undefined): boolean {
    if (!token || this.token?.access_token !== token) return false;
    this.rejected = token;
    this.token = undefined;
    this.close();
    return true;
  }

  async state(): Promise<{ loggedIn: boolean; token: AccessToken | undefined; idToken: IdToken | undefined }> {
    await this.load().catch(() => undefined);
    return { loggedIn: this.refreshToken !== undefined || this.valid(), token: this.token, idToken: this.idToken };
  }

  /** Stops the refresh-ahead timers; the state stays. */
  close(): void {
    this.deps.clock.clearTimeout(this.aheadTimer);
    this.aheadTimer = undefined;
    for (const slot of this.narrowed.values()) {
      this.deps.clock.clearTimeout(slot.aheadTimer);
      slot.aheadTimer = undefined;
    }
  }

  /** Resolves once no refresh is in flight and every write has landed (or `ms` passed): a stop waits for it. */
  async settled(ms: number): Promise<void> {
    const done = (async () => {
      while (this.inflight) await this.inflight.catch(() => undefined);
      await this.chain;
      await this.saveUnsaved().catch(() => undefined);
      await this.records.idle();
    })();
    await withDeadline(this.deps.clock, done, ms, () => new Error('late')).catch(() => undefined);
  }

  /** The token in memory has not expired (it may be short of a caller's min_ttl). */
  private valid(): boolean {
    return this.token !== undefined && remainingMs(this.token, this.deps.clock.now()) > 0;
  }
}

/** Asked for the ID token of a session that cannot have one: the config is what to change (exit 2). */
function noIdToken(p: ProfileConfig): AuthdError {
  if (!isInteractive(p.flow)) {
    return new AuthdError('config_error', `profile ${p.name} uses the ${p.flow} flow: no user logs in, so there is no ID token`,
      'use a profile a user logs in to (flow auto, browser or device) with "openid" in its scopes');
  }
  return new AuthdError('config_error', `profile ${p.name} has no ID token: its scopes do not include "openid", so the provider issues none`,
    `add "openid" to scopes in [profiles.${p.name}], then run \`authd login -p ${p.name}\``);
}

/** The provider gave the session no ID token, or did not renew an expired one when refreshing: a login may (exit 3). */
function notRenewed(p: ProfileConfig, held: IdToken | undefined, now: number): AuthdError {
  if (held) {
    const state = remainingMs(held, now) > 0 ? 'has less time left than asked for' : 'has expired';
    return new AuthdError('login_required', `the ID token of profile ${p.name} ${state}, and its provider issues no new one when the session is refreshed`,
      `run \`authd login -p ${p.name}\` for a new one`);
  }
  return new AuthdError('login_required', `the provider issued no ID token to the session of profile ${p.name}, although its scopes include "openid"`,
    `run \`authd login -p ${p.name}\`; if it still issues none, the provider does not speak OpenID Connect to client ${p.client_id}`);
}
