// An access token as the daemon serves it, and the arithmetic of its lifetime: when it is fresh
// enough for a caller, and when to refresh it ahead of them. No refresh tokens here.
import { BEARER_TOKEN } from '../protocol/index.js';
import { fingerprint } from './audit.js';
import type { TokenSet } from './idp.js';

export interface AccessToken {
  access_token: string;
  token_type: string;
  /** Unix ms, or undefined: the provider did not say, so it is served until rejected. */
  expires_at?: number;
  /** Lifetime in ms as the provider stated it, for the default min_ttl and the refresh-ahead point. */
  lifetime?: number;
  /** For the audit trail, computed once per token. */
  fp: string;
  /**
   * An RFC 6750 b64token, checked once per token: only such a token goes out. A line break in one would
   * add lines to `--format header` and to git's answer (`quit=1`, `username=`), an escape sequence
   * would reach a terminal.
   */
  servable: boolean;
}

export function accessToken(set: Pick<TokenSet, 'access_token' | 'token_type' | 'expires_at' | 'lifetime'>): AccessToken {
  const t: AccessToken = {
    access_token: set.access_token, token_type: set.token_type, fp: fingerprint(set.access_token), servable: BEARER_TOKEN.test(set.access_token),
  };
  if (set.expires_at !== undefined) t.expires_at = set.expires_at;
  if (set.lifetime !== undefined) t.lifetime = set.lifetime * 1000;
  return t;
}

/** What the lifetime arithmetic reads: an access token's, or an ID token's (id-token.ts). */
export type Lifetime = Pick<AccessToken, 'expires_at' | 'lifetime'>;

export function remainingMs(t: Lifetime, now: number): number {
  return t.expires_at === undefined ? Number.POSITIVE_INFINITY : t.expires_at - now;
}

/** How long a token must still live to be served to a caller asking for `minTtlSeconds` (or the profile's). */
export function minTtlMs(t: Lifetime, minTtlSeconds: number | undefined): number {
  // Default: 60 s, or a quarter of the token's lifetime if that is shorter.
  if (minTtlSeconds === undefined) return t.lifetime === undefined ? 60_000 : Math.min(60_000, t.lifetime / 4);
  // Asking for as much as even a fresh token has would refresh on every call: then half its lifetime.
  return t.lifetime !== undefined && minTtlSeconds * 1000 >= t.lifetime ? t.lifetime / 2 : minTtlSeconds * 1000;
}

/** Ms from `now` until a refresh ahead of callers is due (a little before the default min_ttl); undefined: never. */
export function refreshAheadDelay(t: AccessToken, minTtlSeconds: number | undefined, now: number): number | undefined {
  if (t.expires_at === undefined || t.lifetime === undefined) return undefined;
  const margin = Math.min(30_000, t.lifetime / 4);
  const delay = t.expires_at - minTtlMs(t, minTtlSeconds) - margin - now;
  return delay > 0 ? delay : undefined;
}
