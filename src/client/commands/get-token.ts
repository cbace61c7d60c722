import { AuthdError, type TokenResult } from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import { callerInfo, type IO } from '../io.js';
import { bearerOnly, requestWithEnvSecret } from './shared.js';

export type TokenFormat = 'token' | 'json' | 'header' | 'exec-credential';
export const TOKEN_FORMATS: TokenFormat[] = ['token', 'json', 'header', 'exec-credential'];

/** The ExecCredential versions whose output authd prints: the same shape (status.token, expirationTimestamp). */
export const EXEC_CREDENTIAL_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'] as const;
export type ExecCredentialVersion = (typeof EXEC_CREDENTIAL_VERSIONS)[number];

export interface GetTokenOptions {
  profile?: string;
  minTtl?: number;
  format: TokenFormat;
  /** For `exec-credential`: the version kubectl asked for (see execCredentialVersion). */
  execCredentialVersion?: ExecCredentialVersion;
}

export async function run(opts: GetTokenOptions, io: IO, conn: Connection): Promise<number> {
  const params: { profile?: string; minTtl?: number; caller: { pid: number; cmd: string } } = {
    caller: callerInfo('authd get-token'),
  };
  if (opts.profile) params.profile = opts.profile;
  if (opts.minTtl !== undefined) params.minTtl = opts.minTtl;
  const token = bearerOnly(await requestWithEnvSecret(conn, 'getToken', params, io.env));
  io.stdout.write(formatToken(token, opts.format, opts.execCredentialVersion));
  return 0;
}

/**
 * The ExecCredential version kubectl wants: since 1.20 it passes an ExecCredential of that version in
 * KUBERNETES_EXEC_INFO (kubectl before 1.22 knows only v1beta1). Absent or unreadable: v1, the
 * current one. A version authd does not print (v1alpha1, gone since kubectl 1.24) is refused.
 */
export function execCredentialVersion(env: Record<string, string | undefined>): ExecCredentialVersion {
  const info = env.KUBERNETES_EXEC_INFO;
  let asked: unknown;
  try {
    asked = info ? (JSON.parse(info) as { apiVersion?: unknown } | null)?.apiVersion : undefined;
  } catch {
    asked = undefined;
  }
  if (typeof asked !== 'string' || asked === '') return EXEC_CREDENTIAL_VERSIONS[0];
  const known = EXEC_CREDENTIAL_VERSIONS.find((v) => v === asked);
  if (known) return known;
  throw new AuthdError('usage', `kubectl asks for an ExecCredential of apiVersion ${JSON.stringify(asked.slice(0, 60))}, which authd does not speak`,
    `set users[].user.exec.apiVersion in the kubeconfig to ${EXEC_CREDENTIAL_VERSIONS.join(' or ')} (v1beta1 for kubectl before 1.22)`);
}

export function formatToken(t: TokenResult, format: TokenFormat, execVersion: ExecCredentialVersion = EXEC_CREDENTIAL_VERSIONS[0]): string {
  switch (format) {
    case 'token':
      return `${t.access_token}\n`;
    case 'header':
      return `Authorization: ${t.token_type.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer'} ${t.access_token}\n`;
    case 'json':
      return `${JSON.stringify({ access_token: t.access_token, token_type: t.token_type, expires_at: t.expires_at ?? null, profile: t.profile })}\n`;
    case 'exec-credential': {
      const status: { token: string; expirationTimestamp?: string } = { token: t.access_token };
      if (t.expires_at !== undefined) status.expirationTimestamp = new Date(t.expires_at * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      return `${JSON.stringify({ apiVersion: execVersion, kind: 'ExecCredential', status })}\n`;
    }
    default:
      throw new AuthdError('usage', `unknown format ${format}`);
  }
}
