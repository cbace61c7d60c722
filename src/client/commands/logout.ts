import { printable } from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import type { IO } from '../io.js';

export interface LogoutOptions {
  profile?: string;
  all: boolean;
}

export async function run(opts: LogoutOptions, io: IO, conn: Connection): Promise<number> {
  const params: { profile?: string; all?: boolean } = opts.all ? { all: true } : {};
  if (opts.profile && !opts.all) params.profile = opts.profile;
  const r = await conn.request('logout', params);
  for (const p of r.profiles) {
    if (!p.removed) {
      io.stderr.write(`profile ${p.profile} was not logged in\n`);
      continue;
    }
    io.stderr.write(`✓ Logged out of ${p.profile}${p.revoked ? ' (revoked at the provider)' : ''}\n`);
    if (p.note) io.stderr.write(`  ${printable(p.note)}\n`);
  }
  return 0;
}
