import type { Connection } from '../connection.js';
import type { IO } from '../io.js';

export async function run(opts: { profile: string }, io: IO, conn: Connection): Promise<number> {
  const r = await conn.request('use', { profile: opts.profile });
  io.stderr.write(`✓ Default profile is now ${r.defaultProfile}\n`);
  return 0;
}
