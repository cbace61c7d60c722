import type { Connection } from '../connection.js';
import type { IO } from '../io.js';

export async function run(opts: { to: 'keyring' | 'file' }, io: IO, conn: Connection): Promise<number> {
  const r = await conn.request('storeMigrate', { to: opts.to });
  io.stderr.write(`✓ Moved ${r.moved} ${r.moved === 1 ? 'entry' : 'entries'} from the ${r.from} store to the ${r.to} store\n`);
  if (r.configUpdated) io.stderr.write(`  (set store = "${r.to}" in the config)\n`);
  return 0;
}
