import { printable } from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import type { IO } from '../io.js';

export async function run(_opts: Record<string, never>, io: IO, conn: Connection): Promise<number> {
  const { checks } = await conn.request('doctor', {});
  let failed = 0;
  for (const c of checks) {
    const mark = c.ok ? '✓' : c.warn ? '!' : '✗';
    if (!c.ok && !c.warn) failed++;
    io.stdout.write(`${mark} ${c.name}: ${printable(c.detail)}\n`);
    if (!c.ok && c.fix) io.stdout.write(`    fix: ${printable(c.fix)}\n`);
  }
  return failed ? 1 : 0;
}
