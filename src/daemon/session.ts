// One session per profile: the only code that holds or rotates that profile's tokens.
import type { DeviceAuthorizationResponse } from 'openid-client';
import { readFileSync } from 'node:fs';
import {
  AuthdError, type CallerInfo, type DeviceCodeInfo, type EnvSecrets, type LoginStartResult, type LoginWaitResult, loginHint,
  type ProfileStatus, type TokenResult,
} from '../protocol/index.js';
import { type Audit, fingerprint } from './audit.js';
import type { ProfileConfig } from './config.js';
import * as idp from './idp.js';
import type { Logger } from './log.js';
import { checkPrivateFile } from './perms.js';
import type { Store, StoredSession } from './store/types.js';

interface AccessToken {
  access_token: string;
  token_type: string;
  /** Unix ms, or undefined: the provider did not say, so it is served until rejected. */
  expires_at?: number;
  /** Lifetime in ms as issued, for the default min_ttl and the refresh-ahead point. */
  lifetime?: number;
  /** For the audit trail, computed once per token. */
  fp: string;
}

interface PendingLogin {
  info: Omit<DeviceCodeInfo, 'joined'>;
  done: Promise<LoginWaitResult>;
  abort: AbortController;
}

const MAX_BACKOFF_MS = 30_000;
const FIRST_BACKOFF_MS = 250;
const FINISHED_LOGIN_MS = 30_000;

export function secretKey(profile: string): string {
  return `secret:${profile}`;
}

export function maskToken(token: string): string {
  return token.length < 12 ? '…' : `${token.slice(0, 4)}…${token.slice(-4)}`;
}

export class Session {
  private token: AccessToken | undefined;
  private refreshToken: string | undefined;
  private subject: string | undefined;
  private loaded: Promise<void> | undefined;
  private inflight: Promise<AccessToken> | undefined;
  /** Bumped by login and logout, so a refresh started before them cannot overwrite their result. */
  private generation = 0;
  private pendingLogin: Promise<PendingLogin> | undefined;
  /** The login that just ended, so a `loginWait` arriving a moment late still learns how it ended. */
  private finishedLogin: { done: Promise<LoginWaitResult>; at: number } | undefined;
  /** A client secret from the caller's environment (client_secret_env): memory only. */
  private envSecret: string | undefined;
  private backoffMs = 0;
  private backoffUntil = 0;
  private lastTransient: AuthdError | undefined;
  private aheadTimer: NodeJS.Timeout | undefined;
  refreshes = 0;
  lastError: string | undefined;

  /** The client secret, private key or API key kept in the store (`authd secret set`), read once. */
  private storedSecret: Promise<string | undefined> | undefined;
  private privateKey: Promise<idp.ClientCredential> | undefined;

  constructor(
    public profile: ProfileConfig,
    private readonly store: Store,
    private readonly log: Logger,
    private readonly audit: Audit,
  ) {}

  /** The hot path: a cached token is a field read and a comparison. */
  async getToken(minTtlSeconds: number | undefined, env: EnvSecrets | undefined, caller?: CallerInfo): Promise<TokenResult> {
    this.takeEnvSecret(env);
    let t = this.token;
    if (!t || remainingMs(t) <= this.minTtlMs(t, minTtlSeconds)) t = await this.ensureFresh(minTtlSeconds);
    this.armRefreshAhead(t);
    this.audit.record(this.profile.name, t.fp, caller);
    return this.result(t);
  }

  private result(t: AccessToken): TokenResult {
    const r: TokenResult = { access_token: t.access_token, token_type: t.token_type, profile: this.profile.name };
    if (t.expires_at !== undefined) r.expires_at = Math.floor(t.expires_at / 1000);
    return r;
  }

  private minTtlMs(t: AccessToken, minTtlSeconds: number | undefined): number {
    const asked = minTtlSeconds ?? this.profile.min_ttl;
    // Default: 60 s, or a quarter of the token's lifetime if that is shorter.
    if (asked === undefined) return t.lifetime === undefined ? 60_000 : Math.min(60_000, t.lifetime / 4);
    // Asking for more than even a fresh token has would refresh on every call: then half its lifetime.
    return t.lifetime !== undefined && asked * 1000 >= t.lifetime ? t.lifetime / 2 : asked * 1000;
  }

  private async ensureFresh(minTtlSeconds: number | undefined): Promise<AccessToken> {
    await this.load();
    const current = this.token;
    if (current && remainingMs(current) > this.minTtlMs(current, minTtlSeconds)) return current;
    if (!this.inflight && Date.now() < this.backoffUntil && this.lastTransient) {
      // The provider failed moments ago: do not hammer it; serve what is still valid.
      if (current && remainingMs(current) > 0) return current;
      throw this.lastTransient;
    }
    if (!this.inflight) {
      const gen = this.generation;
      this.inflight = this.acquire(gen).finally(() => {
        this.inflight = undefined;
      });
    }
    try {
      return await this.inflight;
    } catch (err) {
      // IdP down or slow: a token that has not expired yet is still worth handing out.
      if (err instanceof AuthdError && err.code === 'idp_unreachable' && current && remainingMs(current) > 0) {
        return current;
      }
      throw err;
    }
  }

  /** One request to the provider, whatever the number of callers waiting for it. */
  private async acquire(gen: number): Promise<AccessToken> {
    const p = this.profile;
    const started = Date.now();
    let set: idp.TokenSet;
    try {
      if (p.flow === 'client_credentials') {
        set = await idp.clientCredentials(p, await this.clientCredential());
      } else if (p.flow === 'api_key') {
        const key = await this.loadStoredSecret();
        if (!key) {
          throw new AuthdError('login_required', `no API key is set for profile ${p.name}`,
            `run \`authd secret set ${p.name}\` (it reads the key from stdin)`);
        }
        set = { access_token: key, token_type: 'Bearer' };
      } else if (p.flow === 'device') {
        const rt = this.refreshToken;
        if (!rt) {
          throw new AuthdError('login_required', `profile ${p.name} is not logged in`, loginHint(p.name));
        }
        set = await idp.refresh(p, rt);
        this.refreshes++;
      } else {
        throw new AuthdError('not_supported', `flow ${String(p.flow)} is not supported`);
      }
    } catch (err) {
      const e = err instanceof AuthdError ? err : idp.classify(err, p, 'token');
      // A secret the provider refused is forgotten, so the next caller is asked for its current one.
      if (p.flow === 'client_credentials' && e instanceof idp.ProviderError && e.kind === 'client_refused') this.envSecret = undefined;
      this.onFailure(e, gen);
      throw e;
    }
    if (gen !== this.generation) {
      // A login or logout happened meanwhile; its state wins.
      throw new AuthdError('login_required', `profile ${p.name} changed while refreshing`, loginHint(p.name));
    }
    const t = await this.adopt(set);
    this.log.info({ profile: p.name, flow: p.flow, ms: Date.now() - started }, 'token acquired');
    return t;
  }

  private onFailure(e: AuthdError, gen: number): void {
    this.lastError = e.message;
    if (e.code === 'idp_unreachable') {
      this.lastTransient = e;
      this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs ? this.backoffMs * 2 : FIRST_BACKOFF_MS);
      this.backoffUntil = Date.now() + this.backoffMs;
      this.log.warn({ profile: this.profile.name, code: e.code, backoffMs: this.backoffMs }, e.message);
      return;
    }
    this.log.warn({ profile: this.profile.name, code: e.code }, e.message);
    if (e.code === 'login_required' && this.profile.flow === 'device' && gen === this.generation && this.refreshToken) {
      // The provider rejected the refresh token: the session is dead. Forget it, so nobody replays it.
      this.generation++;
      this.token = undefined;
      this.refreshToken = undefined;
      this.store.delete(this.profile.name).catch((err: unknown) =>
        this.log.error({ profile: this.profile.name, err: errorText(err) }, 'could not delete dead session'));
    }
  }

  /**
   * Takes a token response. The rotated refresh token is written to the store, durably, before
   * any caller sees the new access token.
   */
  private async adopt(set: idp.TokenSet): Promise<AccessToken> {
    const t: AccessToken = { access_token: set.access_token, token_type: set.token_type, fp: fingerprint(set.access_token) };
    if (set.expires_at !== undefined) t.expires_at = set.expires_at;
    if (set.lifetime !== undefined) t.lifetime = set.lifetime * 1000;
    if (set.subject) this.subject = set.subject;
    if (this.profile.flow === 'device') {
      const rt = set.refresh_token ?? this.refreshToken;
      const record: StoredSession = {
        v: 1,
        issuer: this.profile.issuer ?? this.profile.token_endpoint,
        client_id: this.profile.client_id,
        refresh_token: rt,
        access_token: t.access_token,
        token_type: t.token_type,
      };
      if (t.expires_at !== undefined) record.expires_at = Math.floor(t.expires_at / 1000);
      if (this.subject) record.subject = this.subject;
      if (set.scope) record.scope = set.scope;
      this.refreshToken = rt;
      await this.store.put(this.profile.name, record);
    }
    this.token = t;
    this.backoffMs = 0;
    this.backoffUntil = 0;
    this.lastTransient = undefined;
    this.lastError = undefined;
    return t;
  }

  /** Reads the stored session once; a record for another issuer or client is ignored. */
  private load(): Promise<void> {
    this.loaded ??= (async () => {
      if (this.profile.flow !== 'device') return;
      const rec = await this.store.get(this.profile.name);
      if (!rec?.refresh_token) return;
      if (rec.issuer !== (this.profile.issuer ?? this.profile.token_endpoint) || rec.client_id !== this.profile.client_id) {
        this.log.warn({ profile: this.profile.name }, 'stored session is for another issuer or client; ignoring it');
        return;
      }
      this.refreshToken = rec.refresh_token;
      this.subject = rec.subject;
      if (rec.access_token && rec.expires_at) {
        this.token = {
          access_token: rec.access_token,
          token_type: rec.token_type ?? 'Bearer',
          expires_at: rec.expires_at * 1000,
          fp: fingerprint(rec.access_token),
        };
      }
    })().catch((err: unknown) => {
      this.loaded = undefined;
      throw err;
    });
    return this.loaded;
  }

  /** Refresh shortly before callers would have to wait — but only for a token someone is using. */
  private armRefreshAhead(t: AccessToken): void {
    if (!this.profile.refresh_ahead || this.aheadTimer || t.expires_at === undefined || t.lifetime === undefined) return;
    const margin = Math.min(30_000, t.lifetime / 4);
    const at = t.expires_at - this.minTtlMs(t, undefined) - margin;
    const delay = at - Date.now();
    if (delay <= 0) return;
    this.aheadTimer = setTimeout(() => {
      this.aheadTimer = undefined;
      if (this.token !== t || this.inflight) return;
      const gen = this.generation;
      this.inflight = this.acquire(gen).finally(() => {
        this.inflight = undefined;
      });
      this.inflight.catch(() => undefined);
    }, delay);
    this.aheadTimer.unref();
  }

  private takeEnvSecret(env: EnvSecrets | undefined): void {
    const name = this.profile.client_secret_env;
    if (name && env && typeof env[name] === 'string' && env[name] !== '') this.envSecret = env[name];
  }

  private loadStoredSecret(): Promise<string | undefined> {
    this.storedSecret ??= this.store.get(secretKey(this.profile.name)).then(
      (rec) => rec?.secret,
      (err: unknown) => {
        this.storedSecret = undefined;
        throw err;
      },
    );
    return this.storedSecret;
  }

  /** `authd secret set` stored a new secret: use it from the next request on (rotation). */
  secretChanged(): void {
    this.storedSecret = undefined;
    this.privateKey = undefined;
    this.token = undefined;
    this.generation++;
  }

  /** The caller's env var, else the stored secret; for private_key_jwt the key file or the stored key. */
  private async clientCredential(): Promise<idp.ClientCredential> {
    const p = this.profile;
    if (p.client_auth === 'private_key_jwt') {
      this.privateKey ??= this.loadPrivateKey().catch((err: unknown) => {
        this.privateKey = undefined;
        throw err;
      });
      return this.privateKey;
    }
    if (this.envSecret) return { secret: this.envSecret };
    const stored = await this.loadStoredSecret();
    if (stored) return { secret: stored };
    const name = p.client_secret_env;
    if (name) {
      throw new AuthdError('secret_required', `profile ${p.name} needs its client secret from $${name}`,
        `set ${name} in the environment of the command, or store it with \`authd secret set ${p.name}\``, { env: name });
    }
    throw new AuthdError('config_error', `profile ${p.name} has no client secret`,
      `run \`authd secret set ${p.name}\` (it reads stdin), or set client_secret_env in the profile`);
  }

  private async loadPrivateKey(): Promise<idp.ClientCredential> {
    const p = this.profile;
    if (p.private_key_file) {
      // Like ssh with its keys: a private key others can read is refused.
      if (!checkPrivateFile(p.private_key_file, 'private key file')) {
        throw new AuthdError('config_error', `the private key file ${p.private_key_file} of profile ${p.name} does not exist`);
      }
      return idp.importPrivateKey(readFileSync(p.private_key_file, 'utf8'), `the private key file ${p.private_key_file}`);
    }
    const stored = await this.loadStoredSecret();
    if (!stored) {
      throw new AuthdError('config_error', `profile ${p.name} has no private key for private_key_jwt`,
        `set private_key_file in the profile, or run \`authd secret set ${p.name} < key.pem\``);
    }
    return idp.importPrivateKey(stored, `the private key stored for profile ${p.name}`);
  }

  async loginStart(env: EnvSecrets | undefined): Promise<LoginStartResult> {
    this.takeEnvSecret(env);
    const p = this.profile;
    if (p.flow === 'client_credentials') {
      // Verifies the caller's secret, not one an earlier caller left in memory.
      const name = p.client_secret_env;
      const fromCaller = name !== undefined && env !== undefined && typeof env[name] === 'string' && env[name] !== '';
      if (name && !fromCaller && p.client_auth !== 'private_key_jwt' && !(await this.loadStoredSecret())) {
        throw new AuthdError('secret_required', `profile ${p.name} needs its client secret from $${name}`,
          `set ${name} in the environment of the command, or store it with \`authd secret set ${p.name}\``, { env: name });
      }
      if (!fromCaller) this.envSecret = undefined;
      this.generation++;
      const t = await this.acquire(this.generation);
      this.armRefreshAhead(t);
      return { profile: p.name, status: 'logged_in' };
    }
    if (p.flow === 'api_key') {
      // Nothing to ask a provider: the key is there or it is not.
      this.generation++;
      await this.acquire(this.generation);
      return { profile: p.name, status: 'logged_in' };
    }
    const joining = this.pendingLogin !== undefined;
    this.pendingLogin ??= this.beginDeviceLogin().catch((err: unknown) => {
      this.pendingLogin = undefined;
      throw err;
    });
    const pending = await this.pendingLogin;
    return { profile: p.name, status: 'pending', device: { ...pending.info, joined: joining } };
  }

  private async beginDeviceLogin(): Promise<PendingLogin> {
    const p = this.profile;
    const da: DeviceAuthorizationResponse = await idp.startDeviceAuthorization(p);
    const abort = new AbortController();
    const expiry = setTimeout(() => abort.abort(), da.expires_in * 1000);
    expiry.unref();
    const info: Omit<DeviceCodeInfo, 'joined'> = {
      verification_uri: da.verification_uri,
      user_code: da.user_code,
      expires_in: da.expires_in,
    };
    if (da.verification_uri_complete) info.verification_uri_complete = da.verification_uri_complete;
    this.log.info({ profile: p.name }, 'device login started');
    const done = (async (): Promise<LoginWaitResult> => {
      try {
        const set = await idp.pollDevice(p, da, abort.signal);
        this.generation++;
        this.token = undefined;
        this.loaded = Promise.resolve();
        await this.adopt(set);
        this.log.info({ profile: p.name, subject: this.subject }, 'logged in');
        const r: LoginWaitResult = { profile: p.name };
        if (this.subject) r.subject = this.subject;
        return r;
      } catch (err) {
        const e = err instanceof AuthdError ? err : idp.classify(err, p, 'device login');
        this.lastError = e.message;
        this.log.warn({ profile: p.name, code: e.code }, `device login failed: ${e.message}`);
        throw e;
      } finally {
        clearTimeout(expiry);
      }
    })();
    const settle = () => {
      this.pendingLogin = undefined;
      this.finishedLogin = { done, at: Date.now() };
    };
    done.then(settle, settle);
    return { info, done, abort };
  }

  async loginWait(): Promise<LoginWaitResult> {
    const pending = this.pendingLogin;
    if (pending) return (await pending).done;
    const finished = this.finishedLogin;
    if (finished && Date.now() - finished.at < FINISHED_LOGIN_MS) return finished.done;
    await this.load();
    if (this.refreshToken || this.token) {
      const r: LoginWaitResult = { profile: this.profile.name };
      if (this.subject) r.subject = this.subject;
      return r;
    }
    throw new AuthdError('login_required', `no login in progress for profile ${this.profile.name}`, loginHint(this.profile.name));
  }

  /** Revokes at the provider where it can, then forgets everything, store included. */
  async logout(): Promise<{ revoked: boolean; removed: boolean; note?: string }> {
    const pending = this.pendingLogin;
    if (pending) (await pending.catch(() => undefined))?.abort.abort();
    await this.inflight?.catch(() => undefined);
    await this.load().catch(() => undefined);
    this.generation++;
    const rt = this.refreshToken;
    const at = this.token?.access_token;
    let revoked = false;
    let note: string | undefined;
    try {
      if (rt) revoked = await idp.revoke(this.profile, rt, 'refresh_token');
      else if (at && this.profile.flow === 'client_credentials') {
        revoked = await idp.revoke(this.profile, at, 'access_token', await this.clientCredential());
      }
      if ((rt || (at && this.profile.flow === 'client_credentials')) && !revoked) {
        note = 'the provider offers no revocation endpoint; the token stays valid there until it expires';
      }
    } catch (err) {
      const e = err instanceof AuthdError ? err : idp.classify(err, this.profile, 'revocation');
      note = `could not revoke at the provider: ${e.message}`;
    }
    let removed = await this.store.delete(this.profile.name);
    // A service identity's secret or API key goes too: logging out means this machine forgets it.
    if (this.profile.flow !== 'device') removed = (await this.store.delete(secretKey(this.profile.name))) || removed;
    this.storedSecret = undefined;
    this.privateKey = undefined;
    this.token = undefined;
    this.refreshToken = undefined;
    this.subject = undefined;
    this.envSecret = undefined;
    this.finishedLogin = undefined;
    this.lastError = undefined;
    this.refreshes = 0;
    clearTimeout(this.aheadTimer);
    this.aheadTimer = undefined;
    this.log.info({ profile: this.profile.name, revoked }, 'logged out');
    const r: { revoked: boolean; removed: boolean; note?: string } = { revoked, removed: removed || rt !== undefined || at !== undefined };
    if (note) r.note = note;
    return r;
  }

  /**
   * A server rejected this token (git's `erase`): forget it if it is the current one, so the next
   * caller gets a fresh one. The session itself stays: this is not a logout.
   */
  dropToken(token: string | undefined): boolean {
    if (!token || this.token?.access_token !== token) return false;
    this.token = undefined;
    clearTimeout(this.aheadTimer);
    this.aheadTimer = undefined;
    this.log.info({ profile: this.profile.name }, 'access token dropped: a server rejected it');
    return true;
  }

  async status(isDefault: boolean): Promise<ProfileStatus> {
    await this.load().catch(() => undefined);
    const t = this.token;
    const key = this.profile.flow === 'api_key' ? await this.loadStoredSecret().catch(() => undefined) : undefined;
    const s: ProfileStatus = {
      profile: this.profile.name,
      flow: this.profile.flow,
      isDefault,
      loggedIn: this.refreshToken !== undefined || key !== undefined || (t !== undefined && remainingMs(t) > 0),
      refreshes: this.refreshes,
      loginPending: this.pendingLogin !== undefined,
    };
    if (this.subject) s.subject = this.subject;
    if (t?.expires_at !== undefined) s.expires_at = Math.floor(t.expires_at / 1000);
    if (t ?? key) s.maskedToken = maskToken(t?.access_token ?? key!);
    if (this.lastError) s.lastError = this.lastError;
    return s;
  }

  close(): void {
    clearTimeout(this.aheadTimer);
    this.pendingLogin?.then((p) => p.abort.abort(), () => undefined);
  }
}

function remainingMs(t: AccessToken): number {
  return t.expires_at === undefined ? Number.POSITIVE_INFINITY : t.expires_at - Date.now();
}

export function errorText(err: unknown): string {
  if (err instanceof AuthdError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.name : 'error';
}
