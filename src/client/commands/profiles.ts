import type { Connection } from '../connection.js';
import type { IO } from '../io.js';
import { table } from './shared.js';

export async function run(opts: { json: boolean }, io: IO, conn: Connection): Promise<number> {
  const r = await conn.request('profiles', {});
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return 0;
  }
  if (r.profiles.length === 0) {
    io.stderr.write(`no profiles configured in ${r.configPath}\n`);
    return 0;
  }
  const rows = [['', 'PROFILE', 'FLOW', 'ISSUER']];
  for (const p of r.profiles) rows.push([p.isDefault ? '*' : '', p.name, p.flow, p.issuer ?? '-']);
  io.stdout.write(table(rows));
  return 0;
}
