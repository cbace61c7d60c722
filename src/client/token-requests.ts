// The requests for a token that the CLI and the SDK both make, and the check of what comes back.
import { AuthdError, BEARER_TOKEN, COMPACT_JWS, type IdTokenResult, type Methods, type Narrowing, printable, type TokenResult } from '../protocol/index.js';
import type { Requester } from './command.js';
import { secretsFromEnv } from './trust.js';

/**
 * Sends a request; if the daemon answers that it needs values from the caller's environment (a
 * client_secret_env secret, or a CI platform's ID token request variables), sends those values once
 * and asks again — only for variables the user's own config names, never just because a daemon asks.
 */
export async function requestWithEnvSecret<M extends 'getToken' | 'loginStart' | 'gitCredential'>(
  conn: Requester,
  method: M,
  params: Methods[M]['params'],
  env: Record<string, string | undefined>,
): Promise<Methods[M]['result']> {
  try {
    return await conn.request(method, params);
  } catch (err) {
    const names = err instanceof AuthdError && err.code === 'secret_required' && typeof err.data?.env === 'string'
      ? err.data.env.split(' ') : undefined;
    const values = names ? await secretsFromEnv(names, env) : undefined;
    if (!values) throw err;
    return conn.request(method, { ...params, env: values } as Methods[M]['params']);
  }
}

/**
 * A narrower token (--scope, --resource) was asked for: the answer must say it is one, of those scopes
 * and that resource. A daemon started before --scope existed ignores the request and answers with the
 * session's own token.
 */
export function narrowedAsAsked(t: TokenResult, n: Narrowing | undefined): TokenResult {
  const same = JSON.stringify([t.scopes ?? null, t.resource ?? null, t.audience ?? null]) === JSON.stringify([n?.scopes ?? null, n?.resource ?? null, n?.audience ?? null]);
  if (!n || same) return t;
  throw new AuthdError('not_supported', 'the running daemon answered with the session\'s own token, not one for those scopes: it predates --scope',
    'restart it (`authd daemon stop`; the next command starts the new one)');
}

/**
 * A token is printed, or handed to a program, only if it is an RFC 6750 b64token, whichever daemon
 * sent it (one started before an upgrade checks nothing): a line break in it would add lines to a
 * header, an escape sequence would reach the terminal.
 */
export function bearerOnly(t: TokenResult): TokenResult {
  if (BEARER_TOKEN.test(t.access_token)) return t;
  throw new AuthdError('idp_error', `the token for profile ${t.profile} holds characters a bearer token cannot (RFC 6750); not passing it on`,
    'the provider, or the API key stored for the profile, is at fault; restart the daemon (`authd daemon stop`) if it predates your authd');
}

/** An ID token is printed only as a compact JWT (base64url parts and dots), whichever daemon sent it. */
export function idTokenOnly(t: IdTokenResult): IdTokenResult {
  if (typeof t.id_token === 'string' && COMPACT_JWS.test(t.id_token)) return t;
  throw new AuthdError('idp_error', `the ID token for profile ${t.profile} is not a JWT; not passing it on`,
    'the provider, or a proxy in front of it, is at fault');
}

/**
 * The daemon's warning beside a token (a stored secret past max_age), as the line printed on stderr;
 * '' when there is none. The native client prints the same bytes (authd-client.c).
 */
export function warningLine(t: TokenResult): string {
  return typeof t.warning === 'string' && t.warning !== '' ? `authd: warning: ${printable(t.warning)}\n` : '';
}
