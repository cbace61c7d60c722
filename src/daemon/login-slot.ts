// The one login in progress of a profile, whatever its flow (device-login.ts, browser-login.ts):
// every `authd login` joins it, it is cancelled when the last client waiting for it goes away, and
// how it ended is kept a moment for a `loginWait` that arrives late.
import { AuthdError, type DeviceCodeInfo, type LoginWaitResult, loginHint } from '../protocol/index.js';
import type { Clock } from './clock.js';
import type { ProfileConfig } from './config/index.js';
import * as idp from './idp.js';
import type { Logger } from './log.js';

/** A client connection that can go away (Ctrl-C on `authd login`). */
export interface Waiter {
  onClose(fn: () => void): void;
}

/** What the user is shown of a login in progress, and joins. */
export type LoginInfo =
  | { flow: 'device'; device: Omit<DeviceCodeInfo, 'joined' | 'expires_in'> }
  | { flow: 'browser'; browser: { url: string; redirect_uri: string } };

/** A login its flow has begun: shown to the user, then waited for. */
export interface Begun {
  info: LoginInfo;
  /** Unix ms when it expires. */
  deadline: number;
  /** The provider's tokens once the user approved; called once. Fails when the login does (`abort` included). */
  tokens(): Promise<idp.TokenSet>;
  /** How the login ended, tokens stored or not; called once, last. */
  ended(outcome: { subject?: string } | { error: AuthdError }): void;
}

/** Begins a login; `abort` fires when it is cancelled (and may be fired by the flow when it expires). */
export type Begin = (p: ProfileConfig, abort: AbortController) => Promise<Begun>;

interface Pending {
  begun: Begun;
  done: Promise<LoginWaitResult>;
  abort: AbortController;
  waiters: Set<Waiter>;
  cancelled?: string;
  settled?: boolean;
}

/** How long a finished login's outcome is kept for a `loginWait` that arrives a moment late. */
const FINISHED_LOGIN_MS = 30_000;

export class LoginSlot {
  private pending: Promise<Pending> | undefined;
  /** The login `pending` resolved to, once its flow began it. */
  private active: Pending | undefined;
  private finished: { done: Promise<LoginWaitResult>; at: number } | undefined;

  constructor(
    private readonly profile: () => ProfileConfig,
    private readonly deps: { clock: Clock; log: Logger },
    /** Takes the approved login's tokens, for the profile it was started with; resolves with who logged in. */
    private readonly approved: (p: ProfileConfig, set: idp.TokenSet) => Promise<LoginWaitResult>,
  ) {}

  get inProgress(): boolean {
    return this.pending !== undefined;
  }

  /**
   * Joins the login in progress, whatever its flow, or begins one with `begin` (which is then not
   * called). `expires_in`: the seconds actually left.
   */
  async start(waiter: Waiter | undefined, begin: Begin): Promise<{ info: LoginInfo; expires_in: number; joined: boolean }> {
    const joined = this.pending !== undefined;
    if (!this.pending) {
      const started: Promise<Pending> = this.begin(begin).catch((err: unknown) => {
        if (this.pending === started) this.pending = undefined;
        throw err;
      });
      this.pending = started;
    }
    const pending = await this.pending;
    this.watch(pending, waiter);
    const left = Math.max(0, Math.ceil((pending.begun.deadline - this.deps.clock.now()) / 1000));
    return { info: pending.begun.info, expires_in: left, joined };
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

  private async begin(begin: Begin): Promise<Pending> {
    const prof = this.profile();
    const abort = new AbortController();
    const begun = await begin(prof, abort);
    const what = begun.info.flow === 'device' ? 'device login' : 'browser login';
    this.deps.log.info({ profile: prof.name }, `${what} started`);
    const p: Pending = { begun, abort, waiters: new Set(), done: undefined! };
    p.done = (async (): Promise<LoginWaitResult> => {
      try {
        const set = await begun.tokens();
        if (p.cancelled) throw cancelled(prof.name, p.cancelled);
        const r = await this.approved(prof, set);
        begun.ended(r.subject === undefined ? {} : { subject: r.subject });
        return r;
      } catch (err) {
        const e = p.cancelled ? cancelled(prof.name, p.cancelled) : err instanceof AuthdError ? err : idp.classify(err, prof, what);
        this.deps.log.warn({ profile: prof.name, code: e.code }, `${what} failed: ${e.message}`);
        begun.ended({ error: e });
        throw e;
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

function cancelled(profile: string, why: string): AuthdError {
  return new AuthdError('login_expired', `the login for profile ${profile} was cancelled: ${why}`, loginHint(profile));
}
