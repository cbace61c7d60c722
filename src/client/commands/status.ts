import { printable, type StatusResult } from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import type { IO } from '../io.js';
import { formatDuration, table } from './shared.js';

export async function run(opts: { json: boolean }, io: IO, conn: Connection): Promise<number> {
  const s = await conn.request('status', {});
  io.stdout.write(opts.json ? `${JSON.stringify(s, null, 2)}\n` : render(s));
  return 0;
}

export function render(s: StatusResult): string {
  const d = s.daemon;
  const now = Date.now() / 1000;
  let out = `daemon   running, pid ${d.pid}, up ${d.uptimeSeconds < 1 ? '0s' : formatDuration(d.uptimeSeconds)}, version ${d.version}\n`;
  out += `socket   ${d.socket}\nstore    ${d.store}\nconfig   ${d.configPath}\n`;
  if (d.protection) out += `${d.protectionWarning ? 'warning  ' : 'security '}${printable(d.protection)}\n`;
  if (d.storeWarning) out += `warning  ${printable(d.storeWarning)}\n`;
  if (d.configError) out += `error    ${printable(d.configError)}\n`;
  if (s.profiles.length === 0) return `${out}\nno profiles configured\n`;
  const rows = [['', 'PROFILE', 'FLOW', 'STATE', 'SUBJECT', 'EXPIRES', 'TOKEN', 'REFRESHES', 'LAST ERROR']];
  for (const p of s.profiles) {
    const state = p.loginPending ? 'login pending' : p.loggedIn ? 'logged in' : 'logged out';
    rows.push([
      p.isDefault ? '*' : '',
      p.profile,
      p.flow,
      state,
      p.subject === undefined ? '-' : printable(p.subject),
      p.expires_at === undefined ? '-' : p.expires_at > now ? `in ${formatDuration(p.expires_at - now)}` : 'expired',
      p.maskedToken ?? '-',
      String(p.refreshes),
      p.lastError === undefined ? '-' : printable(p.lastError),
    ]);
  }
  out += `\n${table(rows)}`;
  if (s.recent.length) {
    const served = [['SERVED', 'PROFILE', 'TO (self-reported)', 'FINGERPRINT']];
    for (const a of s.recent) {
      const to = [a.caller?.cmd, a.caller?.pid ? `pid ${a.caller.pid}` : undefined].filter(Boolean).join(', ');
      served.push([a.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), a.profile, printable(to) || '-', a.fingerprint]);
    }
    out += `\n${table(served)}`;
  }
  return out;
}
