// The daemon's files are private, and it will not run on files that are not (as ssh does): each
// refusal names the path and the fix, and nothing is started, modified or deleted.
import { execFile } from 'node:child_process';
import {
  chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { AUTHD, devProfile, Home, type Result, sleep } from './support/harness.js';

const NOBODY = 65534;
const uid = process.getuid?.() ?? 0;

let idp: Idp;
const homes: Home[] = [];

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 30 });
});

afterEach(async () => {
  await Promise.all(homes.splice(0).map((h) => h.dispose()));
});

afterAll(async () => {
  await idp?.close();
});

function newHome(): Home {
  const home = new Home();
  homes.push(home);
  home.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme' });
  return home;
}

function mode(path: string): number {
  return lstatSync(path).mode & 0o777;
}

/** Runs `authd ARGS` under a shell that first sets the given umask (the daemon it starts inherits it). */
function runWithUmask(home: Home, umask: string, args: string[]): Promise<Result> {
  return new Promise((done) => {
    execFile('/bin/sh', ['-c', `umask ${umask} && exec "$0" "$@"`, AUTHD, ...args], { env: home.env, encoding: 'utf8' },
      (err, stdout, stderr) => done({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }));
  });
}

/** Every Unix socket under `dir`. */
function socketsUnder(dir: string): string[] {
  const found: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isSocket()) found.push(join(e.parentPath, e.name));
  }
  return found;
}

/** No daemon is serving this home, and none left a socket behind. */
async function expectNoDaemon(home: Home, env: Record<string, string> = {}): Promise<void> {
  const status = await home.run(['daemon', 'status'], { env });
  // Nothing answers; or the directory is refused before anything is asked (the client checks it too).
  expect(status.stdout + status.stderr).toMatch(/^not running|^authd: refusing to connect/);
  expect(status.code).toBe(5);
  expect(socketsUnder(home.dir)).toEqual([]);
}

/** A refusal as a user sees it: exit 5, nothing on stdout, the path and the fix on stderr. */
function expectRefusal(r: Result, path: string, fix: RegExp): void {
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain(path);
  expect(r.stderr).toMatch(fix);
  expect(r.stderr).not.toMatch(/\n\s+at /); // a sentence, not a stack trace
  expect(r.code).toBe(5);
}

describe.skipIf(process.platform === 'win32')('refusing what is not private', () => {
  test('a socket directory others can read stops the daemon from starting, and the error says to chmod 700', async () => {
    const home = newHome();
    const dir = join(home.dir, 'run');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const r = await home.run(['get-token']);
    expectRefusal(r, dir, /chmod 700/);
    expect(r.stderr).toMatch(/0755/);
    await expectNoDaemon(home);
  });

  test('a socket directory owned by another user stops the daemon from starting, naming the owner', async () => {
    const home = newHome();
    const dir = join(home.dir, 'run');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, NOBODY, NOBODY);
    const r = await home.run(['get-token']);
    expectRefusal(r, dir, /owned by uid 65534/);
    expect(r.stderr).toMatch(/chown|remove it/);
    await expectNoDaemon(home);
  });

  test.each([
    ['group-readable', 0o750],
    ['world-readable', 0o705],
  ])('a %s state directory stops the daemon from starting, and the error says to chmod 700', async (_what, bad) => {
    const home = newHome();
    const dir = home.stateDir;
    mkdirSync(dir);
    chmodSync(dir, bad);
    const r = await home.run(['get-token']);
    expectRefusal(r, dir, /chmod 700/);
    await expectNoDaemon(home);
    expect(mode(dir)).toBe(bad); // reported, not silently changed
  });

  test('a state directory owned by another user stops the daemon from starting', async () => {
    const home = newHome();
    mkdirSync(home.stateDir, { mode: 0o700 });
    chownSync(home.stateDir, NOBODY, NOBODY);
    const r = await home.run(['get-token']);
    expectRefusal(r, home.stateDir, /owned by uid 65534/);
    await expectNoDaemon(home);
  });
});

describe.skipIf(process.platform === 'win32')('a logged-in home', () => {
  let home: Home;

  beforeAll(async () => {
    home = new Home();
    home.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme' });
    // The most permissive umask there is: the daemon's files must be private regardless.
    const started = await runWithUmask(home, '000', ['daemon', 'start']);
    expect(started.code).toBe(0);
    await home.login();
  });

  afterAll(async () => {
    await home?.dispose();
  });

  test('the socket, its directory, the log and the credentials file are private to the user, whatever the umask', () => {
    const files: [string, string, number][] = [
      ['socket directory', join(home.dir, 'run'), 0o700],
      ['state directory', home.stateDir, 0o700],
      ['log file', join(home.stateDir, 'authd.log'), 0o600],
      ['credentials file', join(home.stateDir, 'credentials.json'), 0o600],
    ];
    for (const [what, path, wanted] of files) {
      const st = lstatSync(path);
      expect({ what, mode: (st.mode & 0o777).toString(8), uid: st.uid }).toEqual({ what, mode: wanted.toString(8), uid });
    }
    // The daemon really ran with that umask (Linux shows it in /proc).
    const status = `/proc/${home.daemonPid()}/status`;
    if (existsSync(status)) expect(readFileSync(status, 'utf8')).toMatch(/^Umask:\s+0000$/m);
    const sock = lstatSync(home.socket);
    expect(sock.isSocket()).toBe(true);
    expect(sock.uid).toBe(uid);
    expect((sock.mode & 0o077).toString(8), 'group/other bits on the socket').toBe('0');
    // The credentials really are in that file (this is not a memory store passing by accident).
    expect(home.storedSession('acme')?.refresh_token).toBeTypeOf('string');
  });

  test('a socket left behind by a killed daemon is replaced, and the session continues from the store', async () => {
    const before = { ...idp.stats };
    const pid = home.daemonPid()!;
    process.kill(pid, 'SIGKILL');
    // The socket file stays behind, refusing connections.
    for (let i = 0; i < 100 && (await home.run(['daemon', 'status'], { env: { AUTHD_NO_AUTOSTART: '1' } })).code === 0; i++) await sleep(50);
    expect(lstatSync(home.socket).isSocket()).toBe(true);

    const r = await home.run(['get-token', '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const newPid = home.daemonPid();
    expect(newPid).toBeTypeOf('number');
    expect(newPid).not.toBe(pid);
    const t = JSON.parse(r.stdout) as { access_token: string };
    const claims = await idp.introspect(t.access_token);
    expect(claims.active).toBe(true);
    expect(claims.sub).toBe('alice');
    // No new login: the stored refresh token carried the session over, and it was not replayed.
    expect(idp.stats.deviceGrants).toBe(before.deviceGrants);
    expect(idp.stats.reuseDetected).toBe(0);
    expect(idp.stats.revokedGrants).toBe(0);
  });

  test('a credentials file others can read is refused with a chmod 600 hint, and left exactly as it was', async () => {
    const file = join(home.stateDir, 'credentials.json');
    await home.stop();
    chmodSync(file, 0o644);
    const bytes = readFileSync(file);
    const filesBefore = readdirSync(home.stateDir).sort();
    const grantsBefore = idp.stats.deviceGrants;

    const r = await home.run(['get-token']);
    expectRefusal(r, file, /chmod 600/);
    await expectNoDaemon(home, { AUTHD_NO_AUTOSTART: '1' });
    // Not modified, not moved aside, not deleted, not "fixed" behind the user's back.
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(mode(file)).toBe(0o644);
    expect(readdirSync(home.stateDir).sort()).toEqual(filesBefore);

    // The fix the error gives works, and the session is still there.
    chmodSync(file, 0o600);
    const again = await home.run(['get-token']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect((await idp.introspect(again.stdout.trim())).active).toBe(true);
    expect(idp.stats.deviceGrants).toBe(grantsBefore);
  });
});

describe.skipIf(process.platform === 'win32')('refusals under load', () => {
  test('several commands started at once on an unsafe credentials file each say why, promptly', async () => {
    // A shell prompt, an editor and git all asking at the same moment: every one of them, not just
    // the one that happened to start the daemon, must get the real reason.
    const home = newHome();
    mkdirSync(home.stateDir, { mode: 0o700 });
    const file = join(home.stateDir, 'credentials.json');
    writeFileSync(file, '{"v":1,"entries":{}}\n');
    chmodSync(file, 0o644);
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: 6 }, () => home.run(['get-token'])));
    const took = Date.now() - t0;
    const vague = results.filter((r) => !r.stderr.includes('chmod 600')).map((r) => r.stderr.split('\n')[0]);
    expect(vague).toEqual([]);
    for (const r of results) expectRefusal(r, file, /chmod 600/);
    expect(took).toBeLessThan(8000);
    expect(statSync(file).mode & 0o777).toBe(0o644);
  });
});

describe.skipIf(process.platform === 'win32')('socket paths the kernel cannot hold', () => {
  // sun_path holds 108 bytes; Node silently cuts longer paths. authd allows 100 *bytes*.
  test.each([
    ['an ASCII path of 130 bytes', (dir: string) => join(dir, 'd'.repeat(130 - dir.length - 12), 'authd.sock')],
    ['a path of 71 characters but 111 bytes', (dir: string) => join(dir, 'é'.repeat(40), 'authd.sock')],
  ])('%s in AUTHD_SOCKET is refused with a clear error, never silently truncated', async (_what, make) => {
    const home = newHome();
    const socket = make(home.dir);
    expect(Buffer.byteLength(socket)).toBeGreaterThan(108);
    const env = { AUTHD_SOCKET: socket };
    try {
      const r = await home.run(['get-token'], { env });
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(socket);
      expect(r.stderr).toMatch(/100-byte limit/);
      expect(r.stderr).toContain('AUTHD_SOCKET');
      // Nothing listens anywhere, in particular not at a cut-off path nobody asked for.
      expect(socketsUnder(home.dir)).toEqual([]);
      const status = await home.run(['daemon', 'status'], { env });
      expect(status.stdout).toMatch(/^not running/);
      // A path the user set that cannot work is a configuration error (exit 2), as the daemon itself
      // classifies it, not "daemon unreachable".
      expect(r.code).toBe(2);
    } finally {
      await home.run(['daemon', 'stop'], { env });
    }
  });
});
