// Starting the daemon: exactly one, fully detached, with only the environment it needs.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, onTestFinished, test } from 'vitest';
import { startIdp } from '../scripts/dev-idp.mjs';
import { AUTHD, Home } from './support/harness.js';
import { processes } from './support/procs.js';

let home: Home;

afterEach(async () => {
  await home?.dispose();
});

/** Daemon processes whose environment names this home. */
function daemonsFor(dir: string): number[] {
  return processes()
    .filter((p) => p.cmdline.includes('daemon.mjs') && p.environ().includes(`AUTHD_HOME=${dir}`))
    .map((p) => p.pid);
}

test('twenty commands starting at once with no daemon running start exactly one daemon', async () => {
  home = new Home();
  home.writeConfig({});
  const results = await Promise.all(Array.from({ length: 20 }, () => home.run(['status', '--json'])));
  for (const r of results) expect(r.code).toBe(0);
  const pids = new Set(results.map((r) => (JSON.parse(r.stdout) as { daemon: { pid: number } }).daemon.pid));
  expect(pids.size).toBe(1);
  // A client may still start a spare that finds the socket taken and exits at once: one remains.
  await expect.poll(() => daemonsFor(home.dir), { timeout: 3000 }).toEqual([...pids]);
});

test('the first command returns promptly through a pipe: the daemon it starts holds none of its fds', async () => {
  home = new Home();
  home.writeConfig({});
  const started = Date.now();
  const out = await new Promise<string>((resolve, reject) => {
    // `| cat` ends only when every holder of the pipe's write end has closed it.
    execFile('sh', ['-c', `"${AUTHD}" daemon start 2>&1 | cat`], { env: home.env, timeout: 20_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout));
  });
  expect(out).toMatch(/authd daemon running, pid \d+/);
  expect(Date.now() - started).toBeLessThan(5000);
  const [pid] = daemonsFor(home.dir);
  expect(pid).toBeTypeOf('number');
  // Its stdin and stdout are /dev/null, and it leads its own session (setsid).
  expect(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3]).toBe(String(pid));
  for (const fd of ['0', '1', '2']) {
    expect(readlinkSync(`/proc/${pid}/fd/${fd}`)).toBe('/dev/null');
  }
});

test('the daemon a command starts leaves that command\'s directory for /, so it keeps no work tree busy and dumps nothing there', async () => {
  home = new Home();
  home.writeConfig({});
  const workTree = mkdtempSync(join(tmpdir(), 'authd-worktree.'));
  try {
    const r = await home.run(['status'], { cwd: workTree });
    expect(r.code).toBe(0);
    const [pid] = daemonsFor(home.dir);
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe('/');
    // It still finds its own files, which were named relative to nothing.
    expect((await home.run(['status'], { cwd: workTree })).code).toBe(0);
  } finally {
    rmSync(workTree, { recursive: true, force: true });
  }
});

test('a client secret in the environment of the command that starts the daemon is used, but never copied into the daemon\'s environment', async () => {
  const idp = await startIdp();
  onTestFinished(() => idp.close());
  home = new Home();
  home.writeConfig({
    ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', scopes: ['api:read'], client_secret_env: 'CI_CLIENT_SECRET' },
  });
  const caller = {
    CI_CLIENT_SECRET: 'svc-secret',
    AUTHD_TOKEN: 'a-token-an-outer-authd-exec-gave-this-shell',
    NODE_OPTIONS: '--max-old-space-size=512',
    LC_ALL: 'C.UTF-8',
  };
  const r = await home.run(['get-token', '-p', 'ci'], { env: caller });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect((await idp.introspect(r.stdout.trim())).active).toBe(true);

  const [pid] = daemonsFor(home.dir);
  const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
  const names = environ.split('\0').map((e) => e.slice(0, e.indexOf('=')));
  // (Booleans and names only: a failure must not print the environment into the test log.)
  expect(environ.includes('svc-secret'), 'the client secret is in the daemon\'s environ').toBe(false);
  expect(environ.includes(caller.AUTHD_TOKEN), 'the caller\'s token is in the daemon\'s environ').toBe(false);
  expect(names.filter((n) => n in caller && n !== 'LC_ALL')).toEqual([]);
  // What it needs is there: its home, its settings, the locale.
  expect(names).toEqual(expect.arrayContaining(['AUTHD_HOME', 'HOME', 'PATH', 'LC_ALL']));
});

test('the daemon gets NODE_EXTRA_CA_CERTS back even though the client starts without it', async () => {
  home = new Home();
  home.writeConfig({});
  const r = await home.run(['daemon', 'start'], { env: { NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' } });
  expect(r.code).toBe(0);
  const [pid] = daemonsFor(home.dir);
  const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  expect(env).toContain('NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt');
  expect(env.some((e) => e.startsWith('AUTHD_NODE_EXTRA_CA_CERTS='))).toBe(false);
});

test('eight daemons started at the same moment leave exactly one serving', async () => {
  home = new Home();
  home.writeConfig({});
  const daemon = join(__dirname, '..', 'dist', 'daemon.mjs');
  const codes = await Promise.all(Array.from({ length: 8 }, () => new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [daemon, 'run', '--autostarted'], { env: home.env, stdio: 'ignore', detached: true });
    child.on('exit', resolve);
    // The winner keeps running: count it as started once its socket answers.
    setTimeout(() => resolve(-1), 3000).unref();
  })));
  expect(codes.filter((c) => c === 0)).toHaveLength(7);
  expect(codes.filter((c) => c === -1)).toHaveLength(1);
  expect(daemonsFor(home.dir)).toHaveLength(1);
  const r = await home.run(['daemon', 'status']);
  expect(r.code).toBe(0);
});

test('store = "memory" in the config keeps nothing on disk, and status says so', async () => {
  home = new Home();
  home.writeConfig({}, { store: 'memory' });
  const r = await home.run(['status', '--json']);
  expect(r.code).toBe(0);
  expect((JSON.parse(r.stdout) as { daemon: { store: string } }).daemon.store).toMatch(/^memory/);
});

test('store = "keyring" with no keychain reachable is an error, never a silent downgrade to a file', async () => {
  home = new Home();
  home.writeConfig({}, { store: 'keyring' });
  const r = await home.run(['status'], { env: { DBUS_SESSION_BUS_ADDRESS: '' } });
  expect(r.code).toBe(5);
  expect(r.stderr).toContain('DBUS_SESSION_BUS_ADDRESS');
  expect(existsSync(join(home.stateDir, 'credentials.json'))).toBe(false);
  const env = await home.run(['status'], { env: { AUTHD_STORE: 'floppy' } });
  expect(env.stderr).toContain('AUTHD_STORE names an unknown store "floppy"');
});

test('`authd daemon start` is a request: it starts the daemon even with AUTHD_NO_AUTOSTART=1, which other commands obey', async () => {
  home = new Home();
  home.writeConfig({});
  const env = { AUTHD_NO_AUTOSTART: '1' };
  const refused = await home.run(['status'], { env });
  expect(refused.code).toBe(5);
  expect(refused.stderr).toContain('start it with `authd daemon start`');
  expect(daemonsFor(home.dir)).toEqual([]);

  const started = await home.run(['daemon', 'start'], { env });
  expect(started.stderr).toMatch(/^authd daemon running, pid \d+/);
  expect(started.code).toBe(0);
  expect((await home.run(['status'], { env })).code).toBe(0);
});

/** A home with a daemon started in it: its pid. */
async function aDaemon(): Promise<number> {
  home = new Home();
  home.writeConfig({});
  expect((await home.run(['daemon', 'start'])).code).toBe(0);
  const [pid] = daemonsFor(home.dir);
  expect(pid).toBeDefined();
  return pid!;
}

test('a daemon whose socket file is removed stops within seconds, and the next command starts a new one', async () => {
  const pid = await aDaemon();
  rmSync(home.socket);
  // Unreachable, it would serve nobody: it checks its socket every 2 s.
  await expect.poll(() => daemonsFor(home.dir), { timeout: 8000, interval: 100 }).toEqual([]);
  expect(home.logText()).toContain('this daemon\'s socket file was removed or another one is in its place');
  const r = await home.run(['status', '--json']);
  expect(r.code).toBe(0);
  expect((JSON.parse(r.stdout) as { daemon: { pid: number } }).daemon.pid).not.toBe(pid);
});

test('a daemon whose socket file another one has taken stops, and leaves that file and its listener alone', async () => {
  await aDaemon();
  // What a second daemon that took the start-up lock over does: the old file goes, a new one is bound in its place.
  rmSync(home.socket);
  const conns = new Set<net.Socket>();
  const other = net.createServer((s) => {
    conns.add(s);
    s.on('error', () => undefined);
    s.end('other\n');
  });
  await new Promise<void>((resolve) => other.listen(home.socket, resolve));
  onTestFinished(() => {
    for (const c of conns) c.destroy();
    if (other.listening) other.close();
  });
  await expect.poll(() => daemonsFor(home.dir), { timeout: 8000, interval: 100 }).toEqual([]);
  // Stopping, it did not close its server (which would have removed the path): the other one still answers there.
  expect(existsSync(home.socket)).toBe(true);
  const said = await new Promise<string>((resolve, reject) => {
    const c = net.connect(home.socket);
    let got = '';
    c.on('data', (d) => { got += d; });
    c.on('end', () => resolve(got));
    c.on('error', reject);
  });
  expect(said).toBe('other\n');
  // Gone before the home is disposed (its `daemon stop` would find this stand-in).
  for (const c of conns) c.destroy();
  await new Promise<void>((resolve) => other.close(() => resolve()));
  rmSync(home.socket, { force: true });
});
