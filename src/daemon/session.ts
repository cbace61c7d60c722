// One session per profile for the daemon's lifetime: the socket methods over its token lifecycle
// (refresh.ts), its secrets (secrets.ts) and its login in progress (login-slot.ts): by device flow
// (device-login.ts) or in a browser (browser-login.ts).
import {
  AuthdError, type BrowserHint, type CallerInfo, type EnvSecrets, type IdTokenResult, type LoginStartResult, type LoginWaitResult,
  loginHint, type Narrowing, type ProfileStatus, type SecretAge, type TokenResult,
} from '../protocol/index.js';
import type { Audit } from './audit.js';
import { BROWSER_LOGIN_MS, browserLogin } from './browser-login.js';
import { type Clock, systemClock } from './clock.js';
import { identity, isInteractive, type ProfileConfig } from './config/index.js';
import { deviceLogin } from './device-login.js';
import * as idp from './idp.js';
import { type Begin, LoginSlot, type Waiter } from './login-slot.js';
import type { Logger } from './log.js';
import type { AccessToken } from './access-token.js';
import { TokenLifecycle } from './refresh.js';
import { ageWarning, expiredError, secretAge, WARN_EVERY_MS } from './secret-age.js';
import { SecretSource, type StoredSecret, secretKey, secretRequired } from './secrets.js';
import { SubjectTokens } from './subject-token.js';
import type { Store, StoredSession } from './store/types.js';


export interface SessionDeps {
  store: Store;
  log: Logger;
  audit: Audit;
  provider?: idp.Provider;
  browserProvider?: idp.BrowserProvider;
  /** How long a browser login waits for the browser to come back (BROWSER_LOGIN_MS). */
  browserLoginMs?: number;
  clock?: Clock;
}

/** What `authd login` asked for: a flow (--web, --device), and whether it can open a browser. */
export interface LoginChoice {
  flow?: 'browser' | 'device' | undefined;
  browser?: BrowserHint | undefined;
}

export function maskToken(token: string): string {
  return token.length < 12 ? '…' : `${token.slice(0, 4)}…${token.slice(-4)}`;
}

export class Session {
  private readonly secrets: SecretSource;
  private readonly subjectTokens: SubjectTokens;
  private readonly tokens: TokenLifecycle;
  private readonly login: LoginSlot;
  private readonly deviceLogin: Begin;
  private readonly browserLogin: Begin;
  private readonly browserProvider: idp.BrowserProvider;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly audit: Audit;
  private readonly provider: idp.Provider;
  private readonly clock: Clock;
  /** When get-token last warned that the stored secret is older than max_age (Unix ms, this daemon's memory). */
  private secretWarnedAt: number | undefined;

  constructor(public profile: ProfileConfig, deps: SessionDeps) {
    this.store = deps.store;
    this.log = deps.log;
    this.audit = deps.audit;
    this.provider = deps.provider ?? idp;
    const clock = deps.clock ?? systemClock;
    this.clock = clock;
    const current = () => this.profile;
    this.secrets = new SecretSource(current, this.store);
    this.subjectTokens = new SubjectTokens(current);
    this.tokens = new TokenLifecycle(current, {
      store: this.store, log: this.log, provider: this.provider, clock, secrets: this.secrets, subjectTokens: this.subjectTokens,
    });
    this.browserProvider = deps.browserProvider ?? idp;
    this.login = new LoginSlot(current, { clock, log: this.log }, (p, set) => this.approved(p, set));
    this.deviceLogin = deviceLogin({ provider: this.provider, clock });
    this.browserLogin = browserLogin({ provider: this.browserProvider, clock, lifetimeMs: deps.browserLoginMs ?? BROWSER_LOGIN_MS });
  }

  /** The hot path: a cached token is a field read and a comparison. */
  async getToken(minTtlSeconds: number | undefined, env: EnvSecrets | undefined, caller?: CallerInfo, narrowing?: Narrowing): Promise<TokenResult> {
    this.secrets.takeEnv(env);
    if (this.profile.subject_token_source === 'github-actions') this.sameJob(env);
    this.subjectTokens.takeEnv(env);
    // Interactive profiles have no stored secret: their hot path stays a field read and a comparison.
    const secret = this.secrets.usesStored() ? await this.secretInUse() : undefined;
    const t = narrowing
      ? this.tokens.cachedNarrowed(minTtlSeconds, narrowing) ?? (await this.tokens.getNarrowed(minTtlSeconds, narrowing))
      : this.tokens.cached(minTtlSeconds) ?? (await this.tokens.get(minTtlSeconds));
    if (!t.servable) throw unservable(this.profile);
    this.tokens.armRefreshAhead(t, narrowing);
    this.audit.record(this.profile.name, t.fp, caller);
    const r = this.result(t);
    // What a narrower token is for, echoed: a client checks it was served one (narrowedAsAsked).
    if (narrowing) Object.assign(r, narrowing);
    const warning = secret && this.warningDue(secret);
    if (warning) r.warning = warning;
    return r;
  }

  /**
   * A github-actions profile serves a caller only with that caller's own job variables, and only the
   * token obtained with them: a daemon that outlived one job (a self-hosted runner) never hands its
   * token to the next, which gets one of its own.
   */
  private sameJob(env: EnvSecrets | undefined): void {
    const key = SubjectTokens.callerKey(env);
    if (!key) throw SubjectTokens.required(this.profile);
    if (!this.subjectTokens.obtainedForAnother(key)) return;
    if (this.tokens.busy()) {
      throw new AuthdError('idp_unreachable', `profile ${this.profile.name} is getting a token for another GitHub Actions job`,
        'try again in a moment; give each job its own AUTHD_HOME to keep jobs apart');
    }
    this.tokens.forget();
    this.subjectTokens.reset();
  }

  /** The stored secret the next token comes from, if that is where it comes from; refused past its expiry. */
  private async secretInUse(): Promise<StoredSecret | undefined> {
    const s = await this.secrets.storedRecord();
    const expired = s && expiredError(this.profile, s, this.clock.now());
    if (expired) throw expired;
    return s;
  }

  /** Past max_age or close to its expiry: the warning, if get-token has not given it in the last day. */
  private warningDue(s: StoredSecret): string | undefined {
    const now = this.clock.now();
    const warning = ageWarning(this.profile, s, now);
    const last = this.secretWarnedAt;
    // A clock set back is no reason to stay quiet for as long.
    if (!warning || (last !== undefined && now - last < WARN_EVERY_MS && now >= last)) return undefined;
    this.secretWarnedAt = now;
    this.log.warn({ profile: this.profile.name }, 'the stored secret is older than max_age or expires soon');
    return warning;
  }

  /** get-token --id-token: the session's ID token, refreshed with the session. */
  async getIdToken(minTtlSeconds: number | undefined, caller?: CallerInfo): Promise<IdTokenResult> {
    const t = this.tokens.cachedIdToken(minTtlSeconds) ?? (await this.tokens.getIdToken(minTtlSeconds));
    this.audit.record(this.profile.name, t.fp, caller);
    const r: IdTokenResult = { id_token: t.id_token, profile: this.profile.name };
    if (t.expires_at !== undefined) r.expires_at = Math.floor(t.expires_at / 1000);
    return r;
  }

  private result(t: AccessToken): TokenResult {
    const r: TokenResult = { access_token: t.access_token, token_type: t.token_type, profile: this.profile.name };
    if (t.expires_at !== undefined) r.expires_at = Math.floor(t.expires_at / 1000);
    return r;
  }

  /**
   * The config changed. The same identity is updated in place; another issuer, client or flow ends
   * this session at once (a refresh in flight still stores its rotated token for the old identity).
   * A profile that went away keeps its state, in case it comes back.
   */
  reconfigure(p: ProfileConfig | undefined): void {
    if (!p) {
      this.tokens.close();
      return;
    }
    if (identity(p) === identity(this.profile)) {
      if (p.client_secret_env !== this.profile.client_secret_env) this.secrets.forgetEnv();
      this.profile = p;
      return;
    }
    this.login.cancel('the profile was changed in the config');
    this.profile = p;
    this.tokens.forget(false, false);
    this.secrets.reset();
    this.subjectTokens.reset();
  }

  /** `authd secret set` stored a new secret: it is used from the next request on (rotation). */
  secretChanged(): void {
    this.secrets.changed();
    this.tokens.forget();
    this.secretWarnedAt = undefined;
  }

  async loginStart(env: EnvSecrets | undefined, waiter?: Waiter, choice: LoginChoice = {}): Promise<LoginStartResult> {
    const p = this.profile;
    if (!isInteractive(p.flow) && choice.flow) {
      throw new AuthdError('usage', `profile ${p.name} uses the ${p.flow} flow: nobody logs in to it in a browser or with a code`,
        'leave out --web and --device');
    }
    if (!isInteractive(p.flow)) {
      // Verifies the caller's secret now, not one an earlier caller left in memory.
      const fromCaller = this.secrets.takeEnv(env) || this.subjectTokens.takeEnv(env);
      if (p.flow === 'client_credentials' && p.client_secret_env && !fromCaller && p.client_auth !== 'private_key_jwt'
        && !(await this.secrets.storedSecret())) {
        throw secretRequired(p);
      }
      if (!fromCaller) {
        this.secrets.forgetEnv();
        this.subjectTokens.reset();
      }
      // An expired stored secret is not "verified" however the provider would take it.
      if (this.secrets.usesStored()) await this.secretInUse();
      this.tokens.forget();
      const t = await this.tokens.get(undefined).catch((err: unknown) => {
        throw idp.loginAgain(err, p);
      });
      this.tokens.armRefreshAhead(t);
      return { profile: p.name, status: 'logged_in' };
    }
    // Chosen only if no login is in progress; one that is is joined, whichever it is.
    let reason: string | undefined;
    const s = await this.login.start(waiter, async (prof, abort) => {
      const chosen = await this.chooseLogin(prof, choice);
      reason = chosen.reason;
      return (chosen.flow === 'browser' ? this.browserLogin : this.deviceLogin)(prof, abort);
    });
    const { expires_in, joined } = s;
    const r: LoginStartResult = s.info.flow === 'device'
      ? { profile: p.name, status: 'pending', device: { ...s.info.device, expires_in, joined } }
      : { profile: p.name, status: 'pending', browser: { ...s.info.browser, expires_in, joined } };
    if (reason && !joined) r.reason = reason;
    // Said to the user: the session it has now is replaced (and revoked) once this login is approved.
    const { loggedIn, token } = await this.tokens.state();
    if (loggedIn) {
      r.replaces = {};
      if (this.tokens.subject) r.replaces.subject = this.tokens.subject;
      if (token?.expires_at !== undefined) r.replaces.expires_at = Math.floor(token.expires_at / 1000);
    }
    return r;
  }

  /**
   * `authd doctor`: a token as get-token would get it (the cached one, else from the provider), handed
   * to nobody; throws what get-token would. Resolves with its expiry (Unix seconds), if it has one.
   */
  async check(): Promise<{ expires_at?: number }> {
    if (this.secrets.usesStored()) await this.secretInUse();
    const t = this.tokens.cached(undefined) ?? (await this.tokens.get(undefined));
    if (!t.servable) throw unservable(this.profile);
    return t.expires_at === undefined ? {} : { expires_at: Math.floor(t.expires_at / 1000) };
  }

  /**
   * Browser or device flow, and why (said to the user). auto: the browser where the client can open
   * one and the provider has an authorization endpoint; the device flow otherwise, unless the
   * provider has none (the user then opens the URL on this machine themselves).
   */
  private async chooseLogin(p: ProfileConfig, choice: LoginChoice): Promise<{ flow: 'browser' | 'device'; reason: string }> {
    if (choice.flow === 'browser') return { flow: 'browser', reason: '--web' };
    if (choice.flow === 'device') return { flow: 'device', reason: '--device' };
    if (p.flow === 'device' || p.flow === 'browser') return { flow: p.flow, reason: `flow = "${p.flow}" in the config` };
    const hint = choice.browser;
    // A client from before browser logins sends no hint, and shows only a device code.
    if (!hint) return { flow: 'device', reason: 'no browser here' };
    const offers = await this.browserProvider.loginEndpoints(p);
    if (offers.browser && (hint.available || !offers.device)) {
      return { flow: 'browser', reason: hint.available ? hint.reason : 'the provider has no device flow' };
    }
    if (hint.available) return { flow: 'device', reason: 'the provider has no authorization endpoint' };
    return { flow: 'device', reason: hint.reason };
  }

  private async approved(p: ProfileConfig, set: idp.TokenSet): Promise<LoginWaitResult> {
    await this.tokens.adoptLogin(p, set);
    const subject = this.tokens.subject;
    this.log.info({ profile: p.name, subject }, 'logged in');
    const r: LoginWaitResult = { profile: p.name };
    if (subject) r.subject = subject;
    return r;
  }

  async loginWait(waiter?: Waiter): Promise<LoginWaitResult> {
    const ended = await this.login.wait(waiter);
    if (ended) return ended;
    if ((await this.tokens.state()).loggedIn) {
      const r: LoginWaitResult = { profile: this.profile.name };
      if (this.tokens.subject) r.subject = this.tokens.subject;
      return r;
    }
    throw new AuthdError('login_required', `no login in progress for profile ${this.profile.name}`, loginHint(this.profile.name));
  }

  /**
   * Forgets everything at once (no refresh in flight can write it back), deletes it from the store,
   * then revokes at the provider where it can.
   */
  async logout(): Promise<{ revoked: boolean; removed: boolean; note?: string }> {
    const p = this.profile;
    this.login.cancel('the profile was logged out');
    this.login.clearFinished();
    const cred = p.flow === 'client_credentials' ? this.secrets.clientCredential().catch(() => undefined) : undefined;
    const held = this.tokens.forget();
    const revokeAccess = p.flow === 'client_credentials' && held.accessToken !== undefined;
    this.tokens.refreshes = 0;
    this.secrets.reset();
    this.secrets.withdraw();
    this.subjectTokens.reset();
    let stored: StoredSession | undefined;
    let secretRemoved = false;
    let note: string | undefined;
    try {
      stored = await this.tokens.removeStored();
      // A service identity's secret or API key goes too: logging out means this machine forgets it.
      secretRemoved = !isInteractive(p.flow) && (await this.store.delete(secretKey(p.name)));
    } catch (err) {
      // Revoke all the same: a session the store still holds is then dead at the provider too.
      note = `could not delete it from the store: ${err instanceof AuthdError ? err.message : 'store error'}`;
    }
    this.secrets.changed();
    const rt = held.refreshToken ?? held.unsavedRefreshToken ?? stored?.refresh_token;
    // The others too (a session the store never took, one stored for the identity before an edit):
    // nobody will hold them after this.
    for (const other of new Set([held.unsavedRefreshToken, stored?.refresh_token])) {
      if (other && other !== rt) this.provider.revoke({ ...p, client_id: stored?.client_id ?? p.client_id }, other, 'refresh_token').catch(() => undefined);
    }
    let revoked = false;
    try {
      if (rt) revoked = await this.provider.revoke(p, rt, 'refresh_token');
      else if (revokeAccess) revoked = await this.provider.revoke(p, held.accessToken!, 'access_token', await cred);
      if ((rt || revokeAccess) && !revoked) note = join(note, 'the provider offers no revocation endpoint; the token stays valid there until it expires');
    } catch (err) {
      const e = err instanceof AuthdError ? err : idp.classify(err, p, 'revocation');
      note = join(note, `could not revoke at the provider: ${e.message}`);
    }
    this.log.info({ profile: p.name, revoked }, 'logged out');
    const r: { revoked: boolean; removed: boolean; note?: string } = {
      revoked, removed: stored !== undefined || secretRemoved || rt !== undefined || held.accessToken !== undefined,
    };
    if (note) r.note = note;
    return r;
  }

  /**
   * A server rejected this token (git's `erase`): forget it if it is the current one, so the next
   * caller gets a fresh one. The session itself stays: this is not a logout.
   */
  dropToken(token: string | undefined): boolean {
    const dropped = this.tokens.dropToken(token);
    if (dropped) this.log.info({ profile: this.profile.name }, 'access token dropped: a server rejected it');
    return dropped;
  }

  async status(isDefault: boolean): Promise<ProfileStatus> {
    const { loggedIn, token: t, idToken } = await this.tokens.state();
    const key = this.profile.flow === 'api_key' ? await this.secrets.storedSecret().catch(() => undefined) : undefined;
    const s: ProfileStatus = {
      profile: this.profile.name,
      flow: this.profile.flow,
      isDefault,
      loggedIn: loggedIn || key !== undefined,
      refreshes: this.tokens.refreshes,
      loginPending: this.login.inProgress,
    };
    if (this.tokens.subject) s.subject = this.tokens.subject;
    const source = SubjectTokens.describe(this.profile);
    if (source) s.subjectTokenSource = source;
    if (t?.expires_at !== undefined) s.expires_at = Math.floor(t.expires_at / 1000);
    if (t ?? key) s.maskedToken = maskToken(t?.access_token ?? key!);
    if (this.tokens.lastError) s.lastError = this.tokens.lastError;
    if (idToken) s.idToken = idToken.expires_at === undefined ? {} : { expires_at: Math.floor(idToken.expires_at / 1000) };
    const narrowed = this.tokens.narrowings();
    if (narrowed.length) {
      s.narrowed = narrowed.map(({ narrowing, expires_at }) => (expires_at === undefined ? { ...narrowing } : { ...narrowing, expires_at: Math.floor(expires_at / 1000) }));
    }
    const secret = await this.secretStatus();
    if (secret) s.secret = secret;
    return s;
  }

  /** The stored secret's dates and what is wrong with them (status, doctor); undefined: none stored, or none to store. */
  async secretStatus(): Promise<SecretAge | undefined> {
    if (isInteractive(this.profile.flow)) return undefined;
    const stored = await this.secrets.storedRecord().catch(() => undefined);
    return stored && secretAge(this.profile, stored, this.clock.now());
  }

  close(): void {
    this.tokens.close();
    this.login.cancel('the daemon is stopping');
  }

  /** Waits (at most `ms`) until no refresh is in flight and the session is stored. */
  settled(ms: number): Promise<void> {
    return this.tokens.settled(ms);
  }
}

function join(a: string | undefined, b: string): string {
  return a ? `${a}; ${b}` : b;
}

/** A token that is not an RFC 6750 b64token: the provider, or an API key stored before the check, is at fault. */
function unservable(p: ProfileConfig): AuthdError {
  if (p.flow === 'api_key') {
    return new AuthdError('store_error', `the API key stored for profile ${p.name} holds characters a bearer token cannot (RFC 6750); authd does not hand it out`,
      `set it again: authd secret set ${p.name} < key-file`);
  }
  return new AuthdError('idp_error', `the provider gave profile ${p.name} an access token holding characters a bearer token cannot (RFC 6750); authd does not hand it out`,
    'the provider, or a proxy in front of it, is at fault; authd asks for a new token when this one expires');
}
