// Device-login bookkeeping for one profile: the pending login that every `authd login` joins, the
// clients waiting on it (the login is cancelled when the last one goes away), and how it ended.
import type { DeviceAuthorizationResponse } from 'openid-client';
import { AuthdError, type DeviceCodeInfo, type LoginWaitResult, loginHint, printable } from '../protocol/index.js';
import type { Clock } from './clock.js';
import type { ProfileConfig } from './config/index.js';
import * as idp from './idp.js';
import type { Logger } from './log.js';
import { ProviderError } from './provider-answer.js';

/** A client connection that can go away (Ctrl-C on `authd login`). */
export interface Waiter {
  onClose(fn: () => void): void;
}

interface Pending {
  info: Omit<DeviceCodeInfo, 'joined' | 'expires_in'>;
  /** Unix ms when the provider's code expires. */
  deadline: number;
  done: Promise<LoginWaitResult>;
  abort: AbortController;
  waiters: Set<Waiter>;
  cancelled?: string;
  settled?: boolean;
}

/** How long a finished login's outcome is kept for a `loginWait` that arrives a moment late. */
const FINISHED_LOGIN_MS = 30_000;

export class DeviceLogin {
  private pending: Promise<Pending> | undefined;
  /** The login `pending` resolved to, once the provider gave its code. */
  private active: Pending | undefined;
  private finished: { done: Promise<LoginWaitResult>; at: number } | undefined;

  constructor(
    private readonly profile: () => ProfileConfig,
    private readonly deps: { provider: idp.Provider; clock: Clock; log: Logger },
    /** Takes the approved login's tokens, for the profile it was started with; resolves with who logged in. */
    private readonly approved: (p: ProfileConfig, set: idp.TokenSet) => Promise<LoginWaitResult>,
  ) {}

  get inProgress(): boolean {
    return this.pending !== undefined;
  }

  /** Starts a login, or joins the one in progress; the code shows the time actually left. */
  async start(waiter: Waiter | undefined): Promise<DeviceCodeInfo> {
    const joined = this.pending !== undefined;
    if (!this.pending) {
      const started: Promise<Pending> = this.begin().catch((err: unknown) => {
        if (this.pending === started) this.pending = undefined;
        throw err;
      });
      this.pending = started;
    }
    const pending = await this.pending;
    this.watch(pending, waiter);
    const left = Math.max(0, Math.ceil((pending.deadline - this.deps.clock.now()) / 1000));
    return { ...pending.info, expires_in: left, joined };
  }

  /** How the login ends; undefined when none is in progress or just ended. */
  async wait(waiter: Waiter | undefined): Promise<LoginWaitResult | undefined> {
    const pending = this.pending;
    if (pending) {
      const p = await pending;
      this.watch(p, waiter);
      return p.done;
    }
    const finished = this.finished;
    if (finished && this.deps.clock.now() - finished.at < FINISHED_LOGIN_MS) return finished.done;
    return undefined;
  }

  /** Ends the login in progress (logout, a new identity, the daemon stopping) at once; nothing is stored. */
  cancel(why: string): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.then((p) => this.end(p, why), () => undefined);
  }

  /** Forgets how the last login ended (logout). */
  clearFinished(): void {
    this.finished = undefined;
  }

  private watch(p: Pending, waiter: Waiter | undefined): void {
    if (!waiter || p.waiters.has(waiter)) return;
    p.waiters.add(waiter);
    waiter.onClose(() => {
      p.waiters.delete(waiter);
      if (p.waiters.size === 0) this.end(p, 'every `authd login` waiting for it was stopped');
    });
  }

  private end(p: Pending, why: string): void {
    if (this.active === p) {
      this.active = undefined;
      this.pending = undefined;
    }
    if (p.settled || p.cancelled || p.abort.signal.aborted) return;
    p.cancelled = why;
    p.abort.abort();
  }

  private async begin(): Promise<Pending> {
    const prof = this.profile();
    const da: DeviceAuthorizationResponse = await this.deps.provider.startDeviceAuthorization(prof);
    const abort = new AbortController();
    const info = shownToUser(da, prof);
    const expiry = this.deps.clock.setTimeout(() => abort.abort(), da.expires_in * 1000);
    this.deps.log.info({ profile: prof.name }, 'device login started');
    const p: Pending = { info, deadline: this.deps.clock.now() + da.expires_in * 1000, abort, waiters: new Set(), done: undefined! };
    p.done = (async (): Promise<LoginWaitResult> => {
      try {
        const set = await this.deps.provider.pollDevice(prof, da, abort.signal);
        if (p.cancelled) throw cancelled(prof.name, p.cancelled);
        return await this.approved(prof, set);
      } catch (err) {
        const e = p.cancelled ? cancelled(prof.name, p.cancelled) : err instanceof AuthdError ? err : idp.classify(err, prof, 'device login');
        this.deps.log.warn({ profile: prof.name, code: e.code }, `device login failed: ${e.message}`);
        throw e;
      } finally {
        this.deps.clock.clearTimeout(expiry);
      }
    })();
    const settle = () => {
      p.settled = true;
      if (this.active !== p) return; // cancelled: a newer login may be under way
      this.active = undefined;
      this.pending = undefined;
      this.finished = { done: p.done, at: this.deps.clock.now() };
    };
    this.active = p;
    p.done.then(settle, settle);
    return p;
  }
}

/**
 * What the user is shown of the provider's answer, checked where it enters: the URLs must be http(s)
 * (they are opened in a browser), and nothing may carry control characters to the terminal.
 */
function shownToUser(da: DeviceAuthorizationResponse, p: ProfileConfig): Pending['info'] {
  const url = webUrl(da.verification_uri);
  const code = printable(da.user_code).trim().slice(0, 64);
  if (!url || !code) {
    throw new ProviderError('protocol', `the provider gave an unusable answer to the device authorization request of profile ${p.name} (${url ? 'no user code' : 'a verification_uri that is not an http(s) URL'})`,
      `check the issuer and endpoint settings of profile ${p.name}`);
  }
  const info: Pending['info'] = { verification_uri: url, user_code: code };
  const complete = webUrl(da.verification_uri_complete);
  if (complete) info.verification_uri_complete = complete;
  return info;
}

/** An http(s) URL as the URL parser writes it (control characters and spaces percent-encoded), else undefined. */
function webUrl(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    const u = new URL(v);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : undefined;
  } catch {
    return undefined;
  }
}

function cancelled(profile: string, why: string): AuthdError {
  return new AuthdError('login_expired', `the login for profile ${profile} was cancelled: ${why}`, loginHint(profile));
}
