// `authd doctor`: what is wrong with this installation, and how to fix it. When no daemon can be
// reached (it fails to start, say), the client checks what it can alone and says why.
import { join } from 'node:path';
import { AuthdError, type DoctorCheck, printable, resolvePaths } from '../../protocol/index.js';
import { checkPrivateDir, checkPrivateFile, readTrustedFile } from '../../protocol/perms.js';
import { type Command, HELP_FLAG, JSON_FLAG, noPositionals, type Requester, writeJson } from '../command.js';
import type { IO } from '../io.js';
import { nativeClientCheck } from '../native-client.js';

export const command: Command<{ json: boolean }> = {
  name: 'doctor',
  synopsis: 'doctor [--json]',
  summary: 'check permissions, store, config, providers and logins',
  help: `Usage: authd doctor [--json]

Checks directory permissions, the store, the config, that each provider answers and that each
profile can get a token (or is logged out), and says how to fix what is wrong. When the daemon
cannot start, checks the files and directories it needs and says why it did not start.
Exits 1 when a check fails.
  --json   {"ok":…,"checks":[{"name","status":"ok"|"warning"|"failed","detail","fix"}]}
`,
  flags: { ...JSON_FLAG, ...HELP_FLAG },
  parse(args) {
    noPositionals(args, 'doctor');
    return { json: args.flags.json === true };
  },
  async run(opts, io, connect) {
    let conn: Requester;
    try {
      conn = await connect();
    } catch (err) {
      return report([...withoutDaemon(err, io.env), nativeClientCheck(io.env)], opts.json, io);
    }
    const { checks } = await conn.request('doctor', {});
    return report([...checks, nativeClientCheck(io.env)], opts.json, io);
  },
};

function report(checks: DoctorCheck[], json: boolean, io: IO): number {
  const failed = checks.filter((c) => !c.ok && !c.warn).length;
  if (json) {
    writeJson(io, {
      ok: failed === 0,
      checks: checks.map((c) => ({ name: c.name, status: c.ok ? 'ok' : c.warn ? 'warning' : 'failed', detail: c.detail, fix: c.fix ?? null })),
    });
    return failed ? 1 : 0;
  }
  for (const c of checks) {
    io.stdout.write(`${c.ok ? '✓' : c.warn ? '!' : '✗'} ${c.name}: ${printable(c.detail)}\n`);
    if (!c.ok && c.fix) io.stdout.write(`    fix: ${printable(c.fix)}\n`);
  }
  return failed ? 1 : 0;
}

/**
 * No daemon: what the client can check without one (it reads no config: that is the daemon's), then
 * why the daemon could not be reached. Always a failure.
 */
function withoutDaemon(err: unknown, env: IO['env']): DoctorCheck[] {
  const paths = resolvePaths(env);
  const checks: DoctorCheck[] = [
    look('config', () => (readTrustedFile(paths.configFile, 'config file') === undefined
      ? { ok: false, detail: `${paths.configFile} does not exist`, fix: 'create it with at least one [profiles.NAME] table (see the README)' }
      : { ok: true, detail: `${paths.configFile} exists, and only you can change it` })),
    look('state directory', () => (checkPrivateDir(paths.stateDir, 'state directory')
      ? { ok: true, detail: `${paths.stateDir} is private to you` }
      : { ok: true, detail: `${paths.stateDir} does not exist yet; the daemon creates it` })),
  ];
  if (process.platform !== 'win32') {
    const chosenBy = paths.socketExplicit ? 'AUTHD_SOCKET' : undefined;
    checks.push(look('socket directory', () => (checkPrivateDir(paths.socketDir, 'socket directory', chosenBy)
      ? { ok: true, detail: `${paths.socketDir} is private to you` }
      : { ok: true, detail: `${paths.socketDir} does not exist yet; the daemon creates it` })));
  }
  const credentials = join(paths.stateDir, 'credentials.json');
  checks.push(look('credentials file', () => (checkPrivateFile(credentials, 'credentials file')
    ? { ok: true, detail: `${credentials} is private to you` }
    : { ok: true, detail: `${credentials} does not exist (nothing stored in a file yet)` })));
  checks.push(daemonCheck(err, checks));
  return checks;
}

/** One check; a refusal (perms.ts) is its failure, with the fix it gives. */
function look(name: string, check: () => Omit<DoctorCheck, 'name'>): DoctorCheck {
  try {
    return { name, ...check() };
  } catch (err) {
    const e = err instanceof AuthdError ? err : new AuthdError('internal', err instanceof Error ? err.message : String(err));
    return { name, ok: false, detail: e.message, fix: e.hint ?? 'see the README' };
  }
}

/** Why no daemon answers. A daemon that failed to start sent its reason, hint and all, as text. */
function daemonCheck(err: unknown, earlier: DoctorCheck[]): DoctorCheck {
  const e = err instanceof AuthdError ? err : new AuthdError('daemon_unreachable', err instanceof Error ? err.message : String(err));
  const [said = '', ...rest] = e.message.split('\n');
  const fix = e.hint ?? (rest.map((l) => l.trim()).filter(Boolean).join(' ') || 'run `authd daemon run` to see why it fails');
  // The same refusal as a check above: say so rather than repeat it.
  const same = earlier.find((c) => !c.ok && said.endsWith(c.detail));
  const started = said.replace(/^the authd daemon failed to start: /, '');
  if (same) return { name: 'daemon', ok: false, detail: `could not start because of the ${same.name} (above)`, fix: same.fix ?? fix };
  return { name: 'daemon', ok: false, detail: started === said ? said : `could not start: ${started}`, fix };
}
