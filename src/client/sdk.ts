// The Node SDK: `import { getToken, getIdToken } from 'authd'`. One persistent connection, autostarting the daemon.
import { type GetTokenParams, type IdTokenParams, type IdTokenResult, normalNarrowing, type TokenResult, resolvePaths } from '../protocol/index.js';
import { UntilRejected } from '../protocol/until-rejected.js';
import { type Connection, connect } from './connection.js';
import { bearerOnly, idTokenOnly, narrowedAsAsked, requestWithEnvSecret } from './token-requests.js';

export { AuthdError, type ErrorCode, type IdTokenResult, type TokenResult } from '../protocol/index.js';

export interface GetTokenOptions {
  profile?: string;
  /** Seconds the token must still be valid for; default 60 s (or a quarter of its lifetime). */
  minTtl?: number;
  /** A narrower token from the same session: only these scopes (within what the login was granted)… */
  scopes?: string[];
  /** …and/or for this API (RFC 8707), one of the profile's resources… */
  resource?: string;
  /** …or audience, one of the profile's audiences. */
  audience?: string;
}

/** getIdToken's options: the ID token has no scopes of its own (it is the session's). */
export type GetIdTokenOptions = Pick<GetTokenOptions, 'profile' | 'minTtl'>;

export interface ClientOptions {
  env?: Record<string, string | undefined>;
  /** false: never start the daemon. By default it is started, except at an explicit AUTHD_SOCKET (someone else's). */
  autostart?: boolean;
}

/** A client with its own persistent connection (reconnects after the daemon restarts). */
export class AuthdClient {
  private readonly conn = new UntilRejected<Connection>();
  private readonly env: Record<string, string | undefined>;

  constructor(private readonly opts: ClientOptions = {}) {
    this.env = opts.env ?? process.env;
  }

  private connection(): Promise<Connection> {
    const start = this.opts.autostart === false ? 'never' : 'auto';
    return this.conn.get(() =>
      connect({ env: this.env, start, paths: resolvePaths(this.env) }).then((c) => {
        c.unref();
        return c;
      }));
  }

  /**
   * A fresh access token. `warning`, when present, is for the user (once a day at most: a stored secret
   * older than the profile's max_age); the SDK prints nothing itself.
   */
  async getToken(opts: GetTokenOptions = {}): Promise<TokenResult> {
    const params: GetTokenParams = { caller: { pid: process.pid, cmd: (process.argv[1] ?? 'node').slice(-200) } };
    const profile = opts.profile ?? this.env.AUTHD_PROFILE;
    if (profile) params.profile = profile;
    if (opts.minTtl !== undefined) params.minTtl = opts.minTtl;
    const narrowing = normalNarrowing(opts);
    Object.assign(params, narrowing);
    return narrowedAsAsked(bearerOnly(await this.retrying((conn) => requestWithEnvSecret(conn, 'getToken', params, this.env))), narrowing);
  }

  /**
   * The session's OpenID Connect ID token (as `authd get-token --id-token`), refreshed with the session
   * when it has less than minTtl left. A profile without one is an AuthdError: config_error (no
   * "openid" in its scopes, a service flow) or login_required (the provider issued none).
   */
  async getIdToken(opts: GetIdTokenOptions = {}): Promise<IdTokenResult> {
    const params: IdTokenParams = { caller: { pid: process.pid, cmd: (process.argv[1] ?? 'node').slice(-200) } };
    const profile = opts.profile ?? this.env.AUTHD_PROFILE;
    if (profile) params.profile = profile;
    if (opts.minTtl !== undefined) params.minTtl = opts.minTtl;
    return idTokenOnly(await this.retrying((conn) => conn.request('getIdToken', params)));
  }

  /** One retry on a fresh connection if the daemon went away (restart, upgrade); not if it is there but silent. */
  private async retrying<T>(ask: (conn: Connection) => Promise<T>): Promise<T> {
    try {
      return await ask(await this.connection());
    } catch (err) {
      const e = err as { code?: string; data?: Record<string, string> };
      if (e.code !== 'daemon_unreachable' || e.data?.reason === 'not_answering') throw err;
      const held = this.conn.take();
      if (!held) throw err; // the connection itself failed: nothing to retry on
      held.then((conn) => conn.close(), () => undefined);
      return ask(await this.connection());
    }
  }

  close(): void {
    this.conn.take()?.then((conn) => conn.close(), () => undefined);
  }
}

let shared: AuthdClient | undefined;

/** A fresh access token for the profile (default profile if none), from the per-user daemon. */
export function getToken(opts: GetTokenOptions = {}): Promise<TokenResult> {
  shared ??= new AuthdClient();
  return shared.getToken(opts);
}

/** The session's OpenID Connect ID token for the profile (default profile if none): see AuthdClient.getIdToken. */
export function getIdToken(opts: GetIdTokenOptions = {}): Promise<IdTokenResult> {
  shared ??= new AuthdClient();
  return shared.getIdToken(opts);
}
