// What a narrower token may be asked for (get-token --scope): checked the same way by the client,
// before it asks, and by the daemon, where the request enters.
//
// Only scopes, for now. A resource (RFC 8707) or audience must be one the login was granted, and a
// provider may use up the refresh token before it refuses one that was not (oidc-provider 9 rotates
// it, then answers invalid_target): the session would be lost. That needs the login to ask for the
// resources first (a later step).
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
export function normalNarrowing(n: { scopes?: unknown }): Narrowing | undefined {
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
  return out.scopes ? out : undefined;
}

/** The name one narrowing is cached under: the same scopes in any order are one. */
export function narrowingKey(n: Narrowing): string {
  return JSON.stringify([n.scopes ?? null]);
}
