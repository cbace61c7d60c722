// How get-token prints a token: the formats (--format), kubectl's ExecCredential versions, and the ID
// token's two. Shared by the full client (commands/get-token.ts) and its fast path (get-token-fast.ts),
// so both print the same bytes; the native client (authd-client.c) is tested against them.
import { AuthdError, type IdTokenResult, type TokenResult } from '../protocol/index.js';

export type TokenFormat = 'token' | 'json' | 'header' | 'exec-credential';
export const TOKEN_FORMATS: TokenFormat[] = ['token', 'json', 'header', 'exec-credential'];

/** The ExecCredential versions whose output authd prints: the same shape (status.token, expirationTimestamp). */
export const EXEC_CREDENTIAL_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'] as const;
export type ExecCredentialVersion = (typeof EXEC_CREDENTIAL_VERSIONS)[number];

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

/** An ID token as --id-token prints it: the JWT alone, or JSON. */
export function formatIdToken(t: IdTokenResult, format: TokenFormat): string {
  if (format === 'json') return `${JSON.stringify({ id_token: t.id_token, expires_at: t.expires_at ?? null, profile: t.profile })}\n`;
  return `${t.id_token}\n`;
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
