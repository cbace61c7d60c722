// The restricted socket's methods (gpg-agent's extra socket is the model): what an SSH host or a
// container the socket is forwarded to may ask. get-token, and git's get (and erase) for a mapped
// host, for profiles with forward = true; ping, so a client can tell a slow daemon from a dead one.
// Nothing else: no login or logout, no secrets in or out, no git storage, no status of any profile.
import { AuthdError, type CallerInfo, type MethodName } from '../protocol/index.js';
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

export function restrictedHandlers(full: Handlers, policy: ForwardPolicy): Handlers {
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
      return full.getToken({ ...p, profile: policy.forwardedProfile(p.profile), caller: forwarded(p.caller) }, conn);
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
