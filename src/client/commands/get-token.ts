import { AuthdError, type TokenResult } from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import { callerInfo, type IO } from '../io.js';
import { requestWithEnvSecret } from './shared.js';

export type TokenFormat = 'token' | 'json' | 'header' | 'exec-credential';
export const TOKEN_FORMATS: TokenFormat[] = ['token', 'json', 'header', 'exec-credential'];

export interface GetTokenOptions {
  profile?: string;
  minTtl?: number;
  format: TokenFormat;
}

export async function run(opts: GetTokenOptions, io: IO, conn: Connection): Promise<number> {
  const params: { profile?: string; minTtl?: number; caller: { pid: number; cmd: string } } = {
    caller: callerInfo('authd get-token'),
  };
  if (opts.profile) params.profile = opts.profile;
  if (opts.minTtl !== undefined) params.minTtl = opts.minTtl;
  const token = await requestWithEnvSecret(conn, 'getToken', params, io.env);
  io.stdout.write(formatToken(token, opts.format));
  return 0;
}

export function formatToken(t: TokenResult, format: TokenFormat): string {
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
      return `${JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status })}\n`;
    }
    default:
      throw new AuthdError('usage', `unknown format ${format}`);
  }
}
