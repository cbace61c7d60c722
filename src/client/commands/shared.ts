import { AuthdError, type Methods } from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import { secretFromEnv } from '../trust.js';

/**
 * Sends a request; if the daemon answers that it needs a client secret from the caller's environment
 * (client_secret_env), sends that variable's value once and asks again — only for a variable the
 * user's own config names, never just because a daemon asks.
 */
export async function requestWithEnvSecret<M extends 'getToken' | 'loginStart' | 'gitCredential'>(
  conn: Connection,
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

export function formatDuration(seconds: number): string {
  if (seconds <= 0) return 'expired';
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(seconds / 86_400)}d`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
  return `${lines.join('\n')}\n`;
}
