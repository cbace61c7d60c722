// The restricted socket's methods (gpg-agent's extra socket is the model): what an SSH host or a
// container the socket is forwarded to may ask. get-token, and git's get (and erase) for a mapped
// host, for profiles with forward = true; ping, so a client can tell a slow daemon from a dead one.
// Nothing else: no login or logout, no secrets in or out, no git storage, no status of any profile.
import { AuthdError, type CallerInfo, type MethodName, narrowingKey } from '../protocol/index.js';
import type { Handlers } from './methods.js';

/** The daemon's answers to "may this be served through the restricted socket?" */
export interface ForwardPolicy {
  /** The profile a get-token names (or the default one) when it has forward = true; else throws `restricted`. */
  forwardedProfile(asked: string | undefined): string;
  /** Whether git's request is for a host of a profile with forward = true. */
  forwardsGit(attrs: [string, string][]): boolean;
}

/** What each refused method is to the user, for the refusal. Every method is listed: a new one is refused until it is decided here. */
const REFUSED: Record<Exclude<MethodName, 'ping' | 'getToken' | 'gitCredential'>, string> = {
  // Not decided for forwarding yet: an ID token says who the user is, to whoever it is shown.
  getIdToken: 'authd get-token --id-token',
  loginStart: 'authd login',
  loginWait: 'authd login',
  logout: 'authd logout',
  status: 'authd status',
  profiles: 'authd profiles',
  use: 'authd use',
  profileAdd: 'authd profile add',
  profileRemove: 'authd profile remove',
  doctor: 'authd doctor',
  gitHosts: 'authd git',
  secretSet: 'authd secret set',
  storeMigrate: 'authd store migrate',
  shutdown: 'authd daemon stop',
};

const HINT = "it serves only get-token and git's get, for profiles with forward = true; run this on the machine where authd runs";

export function refused(what: string): AuthdError {
  return new AuthdError('restricted', `${what} is not available through a forwarded authd socket`, HINT);
}

const forwarded = (caller: CallerInfo | undefined): CallerInfo => ({ ...caller, forwarded: true });

/** Different narrower tokens (--scope, --resource, --audience) the forwarded side may ask for within NARROWING_WINDOW_MS. */
export const FORWARD_NARROWINGS = 8;
export const NARROWING_WINDOW_MS = 10 * 60_000;

/**
 * What the forwarded side may ask of the provider with the user's session. Each narrower token it has
 * not asked for before is a request at the provider, made with the user's refresh token (and the
 * session keeps at most 32: one asked past that makes another go, to be asked again): a host or
 * container cycling through scope sets could have the user's client rate-limited or locked out at the
 * provider. So it may ask for FORWARD_NARROWINGS different ones (the same one again always passes)
 * within NARROWING_WINDOW_MS; the machine's own user has no such limit.
 */
export class NarrowingBudget {
  /** When each narrowing (by profile and narrowingKey) was last asked for. */
  private readonly asked = new Map<string, number>();

  constructor(private readonly now: () => number) {}

  admit(key: string): boolean {
    const now = this.now();
    for (const [k, at] of this.asked) if (now - at >= NARROWING_WINDOW_MS) this.asked.delete(k);
    if (!this.asked.has(key) && this.asked.size >= FORWARD_NARROWINGS) return false;
    this.asked.set(key, now);
    return true;
  }
}

export function restrictedHandlers(full: Handlers, policy: ForwardPolicy, now: () => number = () => performance.now()): Handlers {
  const budget = new NarrowingBudget(now);
  const handlers = {} as Record<MethodName, unknown>;
  for (const [method, what] of Object.entries(REFUSED)) {
    handlers[method as MethodName] = () => {
      throw refused(what);
    };
  }
  const restricted: Pick<Handlers, 'ping' | 'getToken' | 'gitCredential'> = {
    // The version only: the far side has no use for this machine's pid or paths.
    ping: async (p, conn) => ({ pid: 0, version: (await full.ping(p, conn)).version, socket: '', restricted: true }),
    getToken: (p, conn) => {
      if (p.env) throw refused('a client secret from the environment');
      const profile = policy.forwardedProfile(p.profile);
      if ((p.scopes || p.resource || p.audience) && !budget.admit(`${profile}\0${narrowingKey(p)}`)) {
        throw new AuthdError('restricted', `more than ${FORWARD_NARROWINGS} different narrower tokens (--scope, --resource, --audience) asked through a forwarded authd socket within ${NARROWING_WINDOW_MS / 60_000} minutes`,
          'ask again for one already in use, or for the session\'s own token (no --scope), or wait: each new one is a request at the provider with your session, so a forward may ask for only so many');
      }
      return full.getToken({ ...p, profile, caller: forwarded(p.caller) }, conn);
    },
    gitCredential: (p, conn) => {
      // Storage is never offered: for any other host, and for store, the empty answer git gets for a host
      // nobody has a credential for (it moves on, quietly). erase goes through for a forwarded host: it
      // drops the access token its server rejected (only that exact one), so the next get refreshes.
      if (p.action === 'store' || !policy.forwardsGit(p.attrs)) return { attrs: [] };
      if (p.env) throw refused('a client secret from the environment');
      return full.gitCredential({ ...p, caller: forwarded(p.caller) }, conn);
    },
  };
  return { ...(handlers as Handlers), ...restricted };
}
