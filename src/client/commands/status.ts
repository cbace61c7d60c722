// `authd status`: the daemon and every profile, for a person (a table) or a script (--json).
import { printable, type StatusResult } from '../../protocol/index.js';
import { type Command, HELP_FLAG, JSON_FLAG, noPositionals, writeJson } from '../command.js';
import { formatDuration, table } from './format.js';

export const command: Command<{ json: boolean }> = {
  name: 'status',
  synopsis: 'status [--json]',
  summary: 'the daemon and every profile',
  help: `Usage: authd status [--json]

Shows the daemon (pid, uptime, version, socket, store, config) and each profile: logged in or not,
subject, expiry, the token masked (first 4 … last 4), refreshes and the last error; whether it holds
an ID token and until when (never the token); where a token_exchange or jwt_bearer profile's subject
token comes from; the age of each secret stored with \`authd secret set\` (a warning on stderr when
it is older than the profile's max_age, or expired); then the last tokens served, to whom (as the
caller says) and their fingerprints.
  --json   the same as one JSON object (snake_case keys)
`,
  flags: { ...JSON_FLAG, ...HELP_FLAG },
  parse(args) {
    noPositionals(args, 'status');
    return { json: args.flags.json === true };
  },
  async run(opts, io, connect) {
    const s = await (await connect()).request('status', {});
    if (opts.json) writeJson(io, statusJson(s));
    else io.stdout.write(render(s));
    for (const p of s.profiles) if (p.secret?.warning) io.stderr.write(`authd: warning: ${printable(p.secret.warning)}\n`);
    return 0;
  },
};

/** The JSON a script reads: snake_case throughout, absent values as null, stable whatever the daemon's version. */
export function statusJson(s: StatusResult): unknown {
  const d = s.daemon;
  return {
    daemon: {
      pid: d.pid,
      version: d.version,
      started_at: d.startedAt,
      uptime_seconds: d.uptimeSeconds,
      socket: d.socket,
      store: d.store,
      store_warning: d.storeWarning ?? null,
      config_path: d.configPath,
      state_dir: d.stateDir ?? null,
      config_error: d.configError ?? null,
      protection: d.protection ?? null,
      protection_warning: d.protectionWarning === true,
    },
    profiles: s.profiles.map((p) => ({
      profile: p.profile,
      flow: p.flow,
      is_default: p.isDefault,
      logged_in: p.loggedIn,
      login_pending: p.loginPending,
      subject: p.subject ?? null,
      expires_at: p.expires_at ?? null,
      masked_token: p.maskedToken ?? null,
      refreshes: p.refreshes,
      last_error: p.lastError ?? null,
      id_token: p.idToken ? { expires_at: p.idToken.expires_at ?? null } : null,
      narrowed: (p.narrowed ?? []).map((n) => ({ scopes: n.scopes ?? null, resource: n.resource ?? null, audience: n.audience ?? null, expires_at: n.expires_at ?? null })),
      subject_token_source: p.subjectTokenSource ?? null,
      secret: p.secret
        ? {
          set_at: p.secret.setAt ?? null,
          age_seconds: p.secret.ageSeconds ?? null,
          expires_at: p.secret.expiresAt ?? null,
          max_age: p.secret.maxAge ?? null,
          expired: p.secret.expired === true,
          warning: p.secret.warning ?? null,
        }
        : null,
    })),
    recent: s.recent.map((a) => ({
      time: a.time,
      profile: a.profile,
      caller_pid: a.caller?.pid ?? null,
      caller_cmd: a.caller?.cmd ?? null,
      forwarded: a.caller?.forwarded === true,
      fingerprint: a.fingerprint,
    })),
  };
}

export function render(s: StatusResult): string {
  const d = s.daemon;
  const now = Date.now() / 1000;
  let out = `daemon   running, pid ${d.pid}, up ${d.uptimeSeconds < 1 ? '0s' : formatDuration(d.uptimeSeconds)}, version ${d.version}\n`;
  out += `socket   ${d.socket}\nstore    ${d.store}\nconfig   ${d.configPath}\n`;
  if (d.stateDir) out += `state    ${d.stateDir} (the log: authd.log)\n`;
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
  const ids = s.profiles.filter((p) => p.idToken).map((p) => {
    const at = p.idToken!.expires_at;
    return `ID token ${p.profile}: yes, ${at === undefined ? 'no expiry stated' : at > now ? `expires in ${formatDuration(at - now)}` : 'expired'}\n`;
  });
  if (ids.length) out += `\n${ids.join('')}`;
  const narrowed = [['NARROWER TOKEN', 'PROFILE', 'SCOPES', 'RESOURCE / AUDIENCE', 'EXPIRES']];
  for (const p of s.profiles) {
    for (const n of p.narrowed ?? []) {
      narrowed.push(['', p.profile, printable(n.scopes?.join(' ') ?? '-'), printable(n.resource ?? n.audience ?? '-'),
        n.expires_at === undefined ? '-' : n.expires_at > now ? `in ${formatDuration(n.expires_at - now)}` : 'expired']);
    }
  }
  if (narrowed.length > 1) out += `\n${table(narrowed)}`;
  const sources = [['SUBJECT TOKEN', 'PROFILE', 'FROM']];
  for (const p of s.profiles) if (p.subjectTokenSource) sources.push(['', p.profile, printable(p.subjectTokenSource)]);
  if (sources.length > 1) out += `\n${table(sources)}`;
  // Ages and expiries by the daemon's clock: it is the one that decides.
  const secrets = [['STORED SECRET', 'PROFILE', 'SET', 'EXPIRES', 'MAX AGE']];
  for (const p of s.profiles) {
    const a = p.secret;
    if (!a) continue;
    const set = a.ageSeconds === undefined ? 'at an unknown time' : a.ageSeconds < 1 ? 'just now' : `${formatDuration(a.ageSeconds)} ago`;
    secrets.push(['', p.profile, set,
      a.expiresInSeconds === undefined ? '-' : a.expiresInSeconds > 0 ? `in ${formatDuration(a.expiresInSeconds)}` : 'expired',
      a.maxAge ?? '-']);
  }
  if (secrets.length > 1) out += `\n${table(secrets)}`;
  if (s.recent.length) {
    const served = [['SERVED', 'PROFILE', 'TO (self-reported)', 'FINGERPRINT']];
    for (const a of s.recent) {
      const to = [a.caller?.cmd, a.caller?.pid ? `pid ${a.caller.pid}` : undefined, a.caller?.forwarded ? 'forwarded' : undefined].filter(Boolean).join(', ');
      served.push([a.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), a.profile, printable(to) || '-', a.fingerprint]);
    }
    out += `\n${table(served)}`;
  }
  return out;
}
