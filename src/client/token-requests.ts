// The requests for a token that the CLI and the SDK both make, and the check of what comes back.
import { AuthdError, BEARER_TOKEN, type Methods, printable, type TokenResult } from '../protocol/index.js';
import type { Requester } from './command.js';
import { secretFromEnv } from './trust.js';

/**
 * Sends a request; if the daemon answers that it needs a client secret from the caller's environment
 * (client_secret_env), sends that variable's value once and asks again — only for a variable the
 * user's own config names, never just because a daemon asks.
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
    const name = err instanceof AuthdError && err.code === 'secret_required' ? err.data?.env : undefined;
    const value = typeof name === 'string' ? await secretFromEnv(name, env) : undefined;
    if (!name || !value) throw err;
    return conn.request(method, { ...params, env: { [name]: value } } as Methods[M]['params']);
  }
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

/**
 * The daemon's warning beside a token (a stored secret past max_age), as the line printed on stderr;
 * '' when there is none. The native client prints the same bytes (authd-client.c).
 */
export function warningLine(t: TokenResult): string {
  return typeof t.warning === 'string' && t.warning !== '' ? `authd: warning: ${printable(t.warning)}\n` : '';
}
