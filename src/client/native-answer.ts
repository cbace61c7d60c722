// AUTHD_NATIVE_ANSWER (internal, between the two clients): the native client (src/native/authd-client.c)
// asked the daemon and got an error answer; it hands over to the Node client with that answer's `error`
// object, as JSON text, so it is printed without asking again. A get-token is not idempotent on errors
// (the refused refresh may have ended the session, and a second ask would say "not logged in"), nor
// is git's get (the message printed beside it must not repeat).
import { AuthdError, type WireError } from '../protocol/index.js';

/**
 * The error the native client was answered, removed from the environment so nothing started from
 * here inherits it. secret_required never comes this way (that needs the retry with the secret);
 * anything malformed is ignored: ask as usual.
 */
export function nativeAnswer(env: Record<string, string | undefined>): AuthdError | undefined {
  const text = env.AUTHD_NATIVE_ANSWER;
  if (text === undefined) return undefined;
  delete env.AUTHD_NATIVE_ANSWER;
  let wire: unknown;
  try {
    wire = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof wire !== 'object' || wire === null || Array.isArray(wire)) return undefined;
  const err = AuthdError.fromWire(wire as WireError);
  return err.code === 'secret_required' ? undefined : err;
}

/**
 * AUTHD_NATIVE_ASKED=1 (internal, likewise): the native client asked the daemon for git and handed
 * over without an answer it could use (silence, a lost connection, an answer it does not print):
 * the full connection is asked next, not one more ask of one-request.ts's. Removed as it is read.
 */
export function nativeAsked(env: Record<string, string | undefined>): boolean {
  const asked = env.AUTHD_NATIVE_ASKED !== undefined;
  delete env.AUTHD_NATIVE_ASKED;
  return asked;
}
