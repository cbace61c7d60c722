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

/** What the forwarded side may do within FORWARD_WINDOW_MS that makes the daemon ask the provider. */
export const FORWARD_NARROWINGS = 8;
export const FORWARD_ERASES = 8;
export const FORWARD_WINDOW_MS = 10 * 60_000;

/**
 * What the forwarded side may ask of the provider with the user's session. A narrower token
 * (--scope, --resource, --audience) not asked for before is a request at the provider made with the
 * user's refresh token, and so is the get after git's erase (the rejected token is dropped): a host or
 * container cycling through scope sets, or erasing the token it was given over and over, could have
 * the user's client rate-limited or locked out at the provider. So, through the restricted socket
 * and for every forward together, within FORWARD_WINDOW_MS: FORWARD_NARROWINGS different narrowings
 * (one asked within that time passes again; a refused one counts too), FORWARD_ERASES erases. The
 * machine's own user has no such limit.
 */
export class ForwardBudget {
  /** When each key was last admitted. */
  private readonly admitted = new Map<string, number>();

  constructor(private readonly size: number, private readonly now: () => number) {}

  /** Whether `key` may go ahead (a key admitted within the window always may); else ms until room. */
  admit(key: string): true | number {
    const now = this.now();
    let oldest = now;
    for (const [k, at] of this.admitted) {
      if (now - at >= FORWARD_WINDOW_MS) this.admitted.delete(k);
      else oldest = Math.min(oldest, at);
    }
    if (!this.admitted.has(key) && this.admitted.size >= this.size) return oldest + FORWARD_WINDOW_MS - now;
    this.admitted.set(key, now);
    return true;
  }
}

function overBudget(what: string, limit: number, waitMs: number, hint: string): AuthdError {
  const minutes = Math.max(1, Math.ceil(waitMs / 60_000));
  return new AuthdError('restricted', `more than ${limit} ${what} through forwarded authd sockets within ${FORWARD_WINDOW_MS / 60_000} minutes`,
    `${hint}, or wait ${minutes} minute${minutes === 1 ? '' : 's'}: each new one is a request at the provider with your session, so forwards may make only so many`);
}

export function restrictedHandlers(full: Handlers, policy: ForwardPolicy, now: () => number = () => performance.now()): Handlers {
  const narrowings = new ForwardBudget(FORWARD_NARROWINGS, now);
  const erases = new ForwardBudget(FORWARD_ERASES, now);
  let erased = 0;
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
      const admitted = p.scopes || p.resource || p.audience ? narrowings.admit(`${profile}\0${narrowingKey(p)}`) : true;
      if (admitted !== true) {
        throw overBudget('different narrower tokens (--scope, --resource, --audience) asked', FORWARD_NARROWINGS, admitted,
          "ask again for one asked for lately, or for the session's own token (no --scope)");
      }
      return full.getToken({ ...p, profile, caller: forwarded(p.caller) }, conn);
    },
    gitCredential: (p, conn) => {
      // Storage is never offered: for any other host, and for store, the empty answer git gets for a host
      // nobody has a credential for (it moves on, quietly). erase goes through for a forwarded host: it
      // drops the access token its server rejected (only that exact one), so the next get refreshes.
      if (p.action === 'store' || !policy.forwardsGit(p.attrs)) return { attrs: [] };
      if (p.env) throw refused('a client secret from the environment');
      if (p.action === 'erase') {
        const admitted = erases.admit(String(erased++));
        if (admitted !== true) throw overBudget('erases of a rejected token by git', FORWARD_ERASES, admitted, 'check why the server rejects the token');
      }
      return full.gitCredential({ ...p, caller: forwarded(p.caller) }, conn);
    },
  };
  return { ...(handlers as Handlers), ...restricted };
}
