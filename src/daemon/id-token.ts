// A session's OpenID Connect ID token as the daemon keeps and serves it (get-token --id-token): the
// JWT the provider issued at login or with a refresh, and its lifetime. Read, never verified here:
// it came straight from the token endpoint, as the access token did; whoever it is shown to verifies it.
import { COMPACT_JWS } from '../protocol/index.js';
import { fingerprint } from './audit.js';

export interface IdToken {
  id_token: string;
  /** Unix ms, counted as an access token's is (from when the request was sent); undefined: no `exp`. */
  expires_at?: number;
  /** Ms, exp − iat: for the default min_ttl. */
  lifetime?: number;
  /** For the audit trail. */
  fp: string;
}

interface Claims {
  aud?: unknown;
  exp?: unknown;
  iat?: unknown;
}

/** The payload of a compact JWS, unverified; undefined when it is not one (nothing else is kept, so nothing else is printed). */
export function claimsOf(jwt: string): Claims | undefined {
  if (jwt.length > 16_384 || !COMPACT_JWS.test(jwt)) return undefined;
  try {
    const c = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as unknown;
    return c && typeof c === 'object' && !Array.isArray(c) ? (c as Claims) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The ID token of a token response to a request sent at `sentAt` (Unix ms) by `clientId`, if it is
 * one to keep: a compact JWS whose audience holds the client. Its lifetime (exp − iat) is counted
 * from `sentAt` on this machine's clock, as expires_in is, so a skewed clock neither shortens nor
 * stretches it.
 */
export function idTokenOf(jwt: unknown, sentAt: number, clientId: string): IdToken | undefined {
  if (typeof jwt !== 'string') return undefined;
  const c = claimsOf(jwt);
  if (!c) return undefined;
  const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
  if (!aud.includes(clientId)) return undefined;
  const t: IdToken = { id_token: jwt, fp: fingerprint(jwt) };
  if (typeof c.exp !== 'number') return t;
  const lifetime = typeof c.iat === 'number' && c.exp > c.iat ? c.exp - c.iat : c.exp - sentAt / 1000;
  if (lifetime <= 0) return undefined;
  t.expires_at = sentAt + lifetime * 1000 - Math.min(1000, lifetime * 250);
  t.lifetime = lifetime * 1000;
  return t;
}

/** An ID token read back from the store, with the expiry stored beside it (Unix seconds). */
export function storedIdToken(jwt: string, expiresAt: number | undefined): IdToken | undefined {
  const c = claimsOf(jwt);
  if (!c) return undefined;
  const t: IdToken = { id_token: jwt, fp: fingerprint(jwt) };
  if (expiresAt !== undefined) t.expires_at = expiresAt * 1000;
  if (typeof c.exp === 'number' && typeof c.iat === 'number' && c.exp > c.iat) t.lifetime = (c.exp - c.iat) * 1000;
  return t;
}
