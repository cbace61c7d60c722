// What a narrower token may be asked for (get-token --scope, --resource): checked the same way by the
// client, before it asks, and by the daemon, where the request enters.
//
// A resource (RFC 8707) must be one the login asked for (the profile's `resources`), an audience one
// of the profile's `audiences` (Auth0's multi-resource refresh token policy): the daemon checks that
// before it asks the provider, which may use up the refresh token before it refuses one the grant
// lacks (oidc-provider 9 rotates it, then answers invalid_target), losing the session.
import { AuthdError } from './errors.js';
import type { Narrowing } from './types.js';

/** RFC 6749 §3.3 scope-token: 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/;
const MAX_SCOPES = 32;

function usage(message: string, hint?: string): never {
  throw new AuthdError('usage', message, hint);
}

/**
 * The narrowing in its one normal form (scopes sorted, without repeats; nothing empty), or a usage
 * error naming what is wrong. Undefined when it asks for nothing: the session's own token.
 */
export function normalNarrowing(n: { scopes?: unknown; resource?: unknown; audience?: unknown }): Narrowing | undefined {
  const out: Narrowing = {};
  if (n.scopes !== undefined && n.scopes !== null) {
    if (!Array.isArray(n.scopes) || n.scopes.length === 0 || n.scopes.length > MAX_SCOPES) {
      usage(`--scope must name 1 to ${MAX_SCOPES} scopes`);
    }
    for (const s of n.scopes) {
      if (typeof s !== 'string' || !SCOPE_TOKEN.test(s)) {
        usage(`${typeof s === 'string' ? JSON.stringify(s.slice(0, 60)) : 'a value'} is not a scope`, 'scopes are separated by spaces and hold no quotes or backslashes (RFC 6749 §3.3)');
      }
    }
    out.scopes = [...new Set(n.scopes as string[])].sort();
  }
  if (n.resource !== undefined && n.resource !== null) {
    const r = n.resource;
    if (typeof r !== 'string' || r.length > 2048 || /[\x00-\x20\x7f]/.test(r) || !URL.canParse(r)) {
      usage('--resource must be an absolute URI (RFC 8707), e.g. https://api.example.com/');
    }
    if (new URL(r).hash || r.includes('#')) usage('--resource must not have a fragment (#…) (RFC 8707 §2)');
    out.resource = r;
  }
  if (n.audience !== undefined && n.audience !== null) {
    const a = n.audience;
    if (typeof a !== 'string' || a.length === 0 || a.length > 2048 || /[\x00-\x20\x7f]/.test(a)) {
      usage('--audience must be one value without spaces, e.g. https://api.example.com');
    }
    out.audience = a;
  }
  return out.scopes || out.resource || out.audience ? out : undefined;
}

/** The name one narrowing is cached under: the same scopes in any order are one. */
export function narrowingKey(n: Narrowing): string {
  return JSON.stringify([n.scopes ?? null, n.resource ?? null, n.audience ?? null]);
}
