// git's credential protocol, the daemon's side: which profile answers for a host, and the storage
// semantics of git's own `store`/`cache` helpers for every other host.
import { createHash } from 'node:crypto';
import { type Config, isLoopbackUrl, type ProfileConfig } from './config/index.js';
import type { GitEntry } from './store/types.js';

export type { GitEntry };

export type Pairs = [string, string][];

/** What git sent. Absent fields are wildcards; an empty string is a value (`username=`). */
export interface GitRequest {
  protocol?: string;
  host?: string;
  path?: string;
  username?: string;
  password?: string;
  credential?: string;
  password_expiry_utc?: string;
  oauth_refresh_token?: string;
  /** git 2.46+: "this credential must not be stored" (a storage helper declines it, as git's cache does). */
  ephemeral?: string;
  capabilities: Set<string>;
}

const FIELDS = ['protocol', 'host', 'path', 'username', 'password', 'credential', 'password_expiry_utc', 'oauth_refresh_token', 'ephemeral'] as const;

/** The request git's pairs (checked in methods.ts) describe; unknown keys are ignored, as git's helpers do. */
export function requestFrom(pairs: Pairs): GitRequest {
  const req: GitRequest = { capabilities: new Set() };
  for (const [key, value] of pairs) {
    if (key === 'capability[]') req.capabilities.add(value);
    else if ((FIELDS as readonly string[]).includes(key)) req[key as (typeof FIELDS)[number]] = value;
  }
  return req;
}

/**
 * The profile whose git_hosts answers for this request: `host` (git includes a non-default port),
 * or `host/prefix` when git sends a path under that prefix. Only over https, or http to loopback:
 * a bearer token is never offered over cleartext to another machine.
 */
export function profileForHost(cfg: Config, req: GitRequest): ProfileConfig | undefined {
  if (!req.host) return undefined;
  const host = req.host.toLowerCase();
  if (req.protocol !== 'https' && !(req.protocol === 'http' && isLoopbackHost(host))) return undefined;
  let best: { profile: ProfileConfig; length: number } | undefined;
  for (const p of cfg.profiles.values()) {
    for (const entry of p.git_hosts) {
      const slash = entry.indexOf('/');
      const entryHost = slash === -1 ? entry : entry.slice(0, slash);
      if (entryHost !== host) continue;
      if (slash !== -1) {
        const prefix = entry.slice(slash + 1);
        const path = req.path?.replace(/^\/+/, '');
        if (path === undefined || !(path === prefix || path.startsWith(`${prefix}/`))) continue;
      }
      // The most specific entry wins: a path prefix over the bare host.
      if (!best || entry.length > best.length) best = { profile: p, length: entry.length };
    }
  }
  return best?.profile;
}

function isLoopbackHost(host: string): boolean {
  try {
    return isLoopbackUrl(new URL(`http://${host}`));
  } catch {
    return false;
  }
}

/** git's credential_match: every field the request has must be equal; the password only when asked. */
export function matches(want: GitRequest, have: GitEntry, matchPassword: boolean): boolean {
  if (want.protocol !== undefined && want.protocol !== have.protocol) return false;
  if (want.host !== undefined && want.host !== have.host) return false;
  if (want.path !== undefined && want.path !== have.path) return false;
  if (want.username !== undefined && want.username !== have.username) return false;
  if (matchPassword && want.password !== undefined && want.password !== have.password) return false;
  return true;
}

export function isExpired(e: GitEntry, nowSeconds = Date.now() / 1000): boolean {
  if (e.password_expiry_utc === undefined) return false;
  const t = Number(e.password_expiry_utc);
  return Number.isFinite(t) && t <= nowSeconds;
}

/** The store key of an entry: one per protocol/host/path/username, so a store overwrites. */
export function entryKey(e: Pick<GitEntry, 'protocol' | 'host' | 'path' | 'username'>): string {
  const id = createHash('sha256').update(JSON.stringify([e.protocol, e.host, e.path ?? null, e.username])).digest('hex');
  return `git:${id.slice(0, 32)}`;
}

/**
 * The entry a `store` describes, or undefined when it describes none: git's own store helper quietly
 * skips a credential without username and password (newer git stores authtype credentials that way).
 * An empty host is a value: git asks for client-certificate passphrases with `host=`.
 */
export function entryFrom(req: GitRequest): GitEntry | undefined {
  if (!req.protocol || req.host === undefined || req.username === undefined || req.password === undefined) return undefined;
  const e: GitEntry = { protocol: req.protocol, host: req.host, username: req.username, password: req.password };
  if (req.path !== undefined) e.path = req.path;
  if (req.password_expiry_utc !== undefined) e.password_expiry_utc = req.password_expiry_utc;
  if (req.oauth_refresh_token !== undefined) e.oauth_refresh_token = req.oauth_refresh_token;
  return e;
}

/** git's boolean spelling of true (git_parse_maybe_bool). */
export function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());
}

/**
 * An entry whose password has expired, as git's cache helper leaves it for git: the username and the
 * refresh token, without the password, so the next helper can refresh (what oauth_refresh_token is for).
 */
export function expiredPairs(e: GitEntry): Pairs {
  const out: Pairs = [['username', e.username]];
  if (e.oauth_refresh_token !== undefined) out.push(['oauth_refresh_token', e.oauth_refresh_token]);
  return out;
}

export function entryPairs(e: GitEntry): Pairs {
  const out: Pairs = [['username', e.username], ['password', e.password]];
  if (e.password_expiry_utc !== undefined) out.push(['password_expiry_utc', e.password_expiry_utc]);
  if (e.oauth_refresh_token !== undefined) out.push(['oauth_refresh_token', e.oauth_refresh_token]);
  return out;
}
