// An in-process world for the refresh core: the daemon's real sessions over a scripted provider that
// revokes on reuse, a store whose operations finish in an order the schedule picks, and a clock that
// moves only when told. Every answer is a step the schedule decides; nothing happens by itself.
import { AuthdError, type Narrowing, narrowingKey } from '../../src/protocol/index.js';
import { Audit } from '../../src/daemon/audit.js';
import type { Clock, Timer } from '../../src/daemon/clock.js';
import type { ProfileConfig } from '../../src/daemon/config/index.js';
import type { Waiter } from '../../src/daemon/device-login.js';
import { idTokenOf } from '../../src/daemon/id-token.js';
import type * as idp from '../../src/daemon/idp.js';
import { ProviderError } from '../../src/daemon/provider-answer.js';
import type { Logger } from '../../src/daemon/log.js';
import { Sessions } from '../../src/daemon/sessions.js';
import { migrate } from '../../src/daemon/store/migrate.js';
import { SwitchableStore } from '../../src/daemon/store/switchable.js';
import type { Store, StoredSession } from '../../src/daemon/store/types.js';

export class FakeClock implements Clock {
  t = 1_800_000_000_000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return { id } as Timer;
  }

  clearTimeout(timer: Timer | undefined): void {
    const id = (timer as { id?: number } | undefined)?.id;
    if (id !== undefined) this.timers = this.timers.filter((x) => x.id !== id);
  }

  /** Moves time forward, firing each timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((x) => x !== due);
      this.t = Math.max(this.t, due.at);
      due.fn();
    }
    this.t = end;
  }
}

const silent: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  fatal: () => undefined,
  unredacted: () => silent,
};

/** scope: the provider refuses a narrowed refresh's scope (invalid_scope). */
type Outcome = 'ok' | 'dead' | 'transient' | 'protocol' | 'refused' | 'scope';

interface PendingCall {
  what: string;
  settle: (outcome: Outcome) => void;
}

function failure(kind: Exclude<Outcome, 'ok'>, retryAfterMs?: number): AuthdError {
  const k = kind === 'dead' ? 'session_dead' : kind === 'refused' ? 'client_refused' : kind === 'scope' ? 'scope_refused' : kind;
  return new ProviderError(k, `scripted ${kind}`, undefined, undefined, retryAfterMs);
}

/** A provider with rotating refresh tokens that revokes a whole family on reuse, as RFC 9700 says. */
export class FakeProvider implements idp.Provider {
  readonly pending: PendingCall[] = [];
  readonly violations: string[] = [];
  /** refresh token → its family; a token is in `presented` once it was sent. */
  private readonly family = new Map<string, number>();
  private readonly presented = new Set<string>();
  readonly revokedFamilies = new Set<number>();
  private readonly accessFamily = new Map<string, number>();
  /** access token → the narrowing it was issued for (narrowingKey), '' for the session's own */
  readonly issuedFor = new Map<string, string>();
  /** ID token → the family of the session it was issued to (at login, or with a refresh of the session's own token) */
  readonly idTokenFamily = new Map<string, number>();
  /** family → the client it was issued to */
  readonly familyClient = new Map<number, string>();
  /** family → newest refresh token issued in it */
  readonly familyLatest = new Map<number, string>();
  private nextFamily = 1;
  /** Tokens issued so far; an access token's number says when it was issued. */
  n = 0;
  secret = 'secret-0';
  lifetime = 60;
  /** ID tokens live a minute, whatever the access tokens do: some are renewed for themselves. */
  readonly idLifetime = 60;
  refreshes = 0;

  constructor(private readonly clock: FakeClock, private readonly rand: () => number) {}

  private issue(fam: number | undefined, narrowing?: Narrowing, clientId?: string): idp.TokenSet {
    const id = ++this.n;
    const set: idp.TokenSet = {
      access_token: `at-${id}-${'x'.repeat(8)}`, token_type: 'Bearer',
      expires_at: this.clock.now() + this.lifetime * 1000 - 1000, lifetime: this.lifetime, subject: 'alice',
    };
    this.issuedFor.set(set.access_token, narrowing ? narrowingKey(narrowing) : '');
    if (fam !== undefined) {
      set.refresh_token = `rt-${id}-${'y'.repeat(8)}`;
      this.family.set(set.refresh_token, fam);
      this.familyLatest.set(fam, set.refresh_token);
      this.accessFamily.set(set.access_token, fam);
    }
    // The session's own token comes with an ID token (scopes openid); a narrower one, like a service's, without.
    if (fam !== undefined && !narrowing && clientId) {
      const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const iat = Math.floor(this.clock.now() / 1000);
      const jwt = `${part({ alg: 'none' })}.${part({ iss: 'https://idp.test', aud: clientId, sub: 'alice', iat, exp: iat + this.idLifetime, n: id })}.sig`;
      set.idToken = idTokenOf(jwt, this.clock.now(), clientId);
      this.idTokenFamily.set(jwt, fam);
    }
    return set;
  }

  /** True if this access token belongs to a family revoked at the provider. */
  accessRevoked(token: string): boolean {
    const fam = this.accessFamily.get(token);
    return fam !== undefined && this.revokedFamilies.has(fam);
  }

  private later<T>(what: string, answer: (o: Outcome) => T | AuthdError): Promise<T> {
    return new Promise((resolve, reject) => {
      this.pending.push({ what, settle: (o) => {
        const r = answer(o);
        if (r instanceof AuthdError) reject(r);
        else resolve(r);
      } });
    });
  }

  refresh = (_p: ProfileConfig, rt: string, narrowing?: Narrowing): Promise<idp.TokenSet> => {
    const fam = this.family.get(rt);
    if (fam !== undefined && this.familyClient.get(fam) !== _p.client_id) {
      this.violations.push(`refresh token ${rt} of client ${this.familyClient.get(fam)} presented as client ${_p.client_id}`);
    }
    if (fam === undefined) this.violations.push('a refresh token the provider never issued was presented');
    else if (this.presented.has(rt)) {
      this.violations.push(`refresh token ${rt} presented twice`);
      this.revokedFamilies.add(fam);
    } else if (this.revokedFamilies.has(fam)) {
      this.violations.push(`refresh token ${rt} presented after its session was revoked`);
    }
    this.presented.add(rt);
    return this.later(narrowing ? 'narrowed refresh' : 'refresh', (o) => {
      if (fam === undefined || this.revokedFamilies.has(fam)) return failure('dead');
      if (o === 'ok') {
        this.refreshes++;
        return this.issue(fam, narrowing, _p.client_id);
      }
      if (o === 'dead') this.revokedFamilies.add(fam);
      // Not processed (a 503, a 429, garbage from a proxy, a scope outside the grant): the same token may be presented again.
      // A failure after the provider rotated (timeouts can do this) would be unavoidable reuse; not modelled.
      else this.presented.delete(rt);
      return failure(o, o === 'transient' && this.rand() < 0.3 ? 5000 : undefined);
    });
  };

  clientCredentials = (_p: ProfileConfig, cred: idp.ClientCredential): Promise<idp.TokenSet> => {
    const secret = 'secret' in cred ? cred.secret : '';
    return this.later('client credentials', (o) => {
      if (secret !== this.secret) return failure('refused');
      return o === 'ok' ? this.issue(undefined) : failure(o === 'dead' || o === 'scope' ? 'refused' : o);
    });
  };

  /** Workload profiles are driven against the real provider (workload-identity.test.ts), not scripted here. */
  workloadToken = (): Promise<idp.TokenSet> => Promise.reject(new Error('the fake provider scripts no token exchange'));

  revoke = async (_p: ProfileConfig, token: string): Promise<boolean> => {
    const fam = this.family.get(token);
    if (fam !== undefined) this.revokedFamilies.add(fam);
    return true;
  };

  startDeviceAuthorization = async (): Promise<import('openid-client').DeviceAuthorizationResponse> =>
    ({ device_code: `dc-${++this.n}`, user_code: 'ABCD-EFGH', verification_uri: 'https://idp.test/device', expires_in: 600 }) as never;

  pollDevice = (_p: ProfileConfig, _da: unknown, signal: AbortSignal): Promise<idp.TokenSet> =>
    new Promise((resolve, reject) => {
      const call: PendingCall = { what: 'device approval', settle: (o) => {
        if (signal.aborted) return;
        if (o === 'ok') {
          const fam = this.nextFamily++;
          this.familyClient.set(fam, _p.client_id);
          resolve(this.issue(fam, undefined, _p.client_id));
        }
        else reject(new AuthdError('login_denied', 'scripted denial'));
      } };
      signal.addEventListener('abort', () => {
        const i = this.pending.indexOf(call);
        if (i >= 0) this.pending.splice(i, 1);
        reject(new AuthdError('login_expired', 'the login code expired before it was approved'));
      });
      this.pending.push(call);
    });
}

/** A store whose operations take effect when the schedule lets them finish, in any order. */
export class SlowStore implements Store {
  readonly kind = 'memory' as const;
  readonly warning = undefined;
  readonly entries = new Map<string, StoredSession>();
  readonly pending: (() => void)[] = [];
  /** A full disk: every write fails (when the schedule lets it finish) until it is freed. */
  full = false;

  constructor(readonly location: string) {}

  private op<T>(fn: () => T, write = false): Promise<T> {
    return new Promise((resolve, reject) => this.pending.push(() => {
      if (write && this.full) reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }));
      else resolve(fn());
    }));
  }

  get(key: string) {
    return this.op(() => structuredClone(this.entries.get(key)));
  }

  put(key: string, value: StoredSession) {
    return this.op(() => {
      this.entries.set(key, structuredClone(value));
    }, true);
  }

  delete(key: string) {
    return this.op(() => this.entries.delete(key));
  }

  keys() {
    return this.op(() => [...this.entries.keys()]);
  }
}

/** A client connection, as the server's: a listener added after it closed is called at once. */
export class Connection implements Waiter {
  private fns: (() => void)[] = [];
  private closed = false;
  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.fns.push(fn);
  }
  close(): void {
    this.closed = true;
    for (const fn of this.fns.splice(0)) fn();
  }
}

export function profiles(): { acme: ProfileConfig; ci: ProfileConfig } {
  const base = { scopes: [], git_hosts: [], git_username: 'oauth2', git_auth: 'basic' as const, client_auth: 'client_secret_basic' as const, timeout: 10, refresh_ahead: true };
  return {
    acme: { ...base, name: 'acme', issuer: 'https://idp.test', client_id: 'authd-cli', flow: 'device', scopes: ['openid', 'offline_access'], resources: ['https://api.test/'] },
    ci: { ...base, name: 'ci', issuer: 'https://idp.test', client_id: 'build-bot', flow: 'client_credentials', client_secret_env: 'CI_SECRET' },
  };
}

export interface World {
  clock: FakeClock;
  provider: FakeProvider;
  stores: SlowStore[];
  store: SwitchableStore;
  sessions: Sessions;
  migrate(): Promise<unknown>;
}

export function makeWorld(rand: () => number): World {
  const clock = new FakeClock();
  const provider = new FakeProvider(clock, rand);
  const first = new SlowStore('a');
  const stores = [first];
  const store = new SwitchableStore(first);
  const sessions = new Sessions({ store, log: silent, audit: new Audit(silent), provider, clock });
  return {
    clock, provider, stores, store, sessions,
    migrate: () => {
      const next = new SlowStore(`s${stores.length}`);
      stores.push(next);
      return store.switchTo(next, (a, b) => migrate(a, b));
    },
  };
}
