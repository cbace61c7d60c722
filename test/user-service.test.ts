// authd as a user service: the daemon serves a socket handed to it as systemd hands one (socket
// activation), and `authd daemon install|uninstall` write and remove the systemd units (checked with
// systemd-analyze where it is installed) or, on macOS, the launchd agent.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterEach, expect, onTestFinished, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import type { IO } from '../src/client/io.js';
import { install, launchdPlist, systemdUnits } from '../src/client/user-service.js';
import { listenFds } from '../src/daemon/socket-activation.js';
import { AUTHD, devProfile, Home } from './support/harness.js';

const DAEMON = resolve(__dirname, '../dist/daemon.mjs');
const SYSTEMD_ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((f) => existsSync(f));

let home: Home | undefined;
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await home?.dispose();
  home = undefined;
});

interface Handed {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

/**
 * Starts the real daemon as systemd starts a socket unit's service: a listening socket bound at
 * `listenAt` (the home's socket by default) on fd 3, LISTEN_FDS=1, and LISTEN_PID the daemon's own pid
 * (the shell sets it, then becomes the daemon), or `listenPid` when given. The test process then
 * closes its copy, so only the daemon can accept; the file is put aside meanwhile, since closing a
 * server Node bound removes its file.
 */
async function handSocket(h: Home, opts: { listenAt?: string; listenPid?: string; mode?: number; command?: string[]; restrictedAt?: string } = {}): Promise<Handed> {
  const listening = async (at: string) => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(at, r));
    chmodSync(at, opts.mode ?? 0o600);
    return { at, server, fd: (server as unknown as { _handle: { fd: number } })._handle.fd };
  };
  mkdirSync(join(h.dir, 'run'), { recursive: true, mode: 0o700 });
  const sockets = [await listening(opts.listenAt ?? h.socket)];
  if (opts.restrictedAt) {
    mkdirSync(dirname(opts.restrictedAt), { recursive: true, mode: 0o700 });
    sockets.push(await listening(opts.restrictedAt));
  }
  const setPid = opts.listenPid === undefined ? 'LISTEN_PID=$$' : `LISTEN_PID=${opts.listenPid}`;
  const command = opts.command ?? [process.execPath, DAEMON, 'run'];
  const child = spawn('/bin/sh', ['-c', `${setPid}; export LISTEN_PID; exec "$0" "$@"`, ...command], {
    env: { ...h.env, LISTEN_FDS: String(sockets.length) },
    stdio: ['ignore', 'ignore', 'pipe', ...sockets.map((x) => x.fd)],
  });
  children.push(child);
  for (const { at, server } of sockets) {
    renameSync(at, `${at}.aside`);
    await new Promise<void>((r) => server.close(() => r()));
    renameSync(`${at}.aside`, at);
  }
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, stderr: () => stderr, exited };
}

function daemonStatus(h: Home, env: Record<string, string> = {}) {
  return h.run(['daemon', 'status', '--json'], { env: { AUTHD_NO_AUTOSTART: '1', ...env } })
    .then((r) => ({ ...r, json: r.code === 0 ? (JSON.parse(r.stdout) as { pid: number; socket_activated: boolean }) : undefined }));
}

function hasExited(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
}

test('a daemon handed a listening socket as systemd hands one serves a real login, get-token and status through it, and leaves the socket file when it stops', async () => {
  const idp: Idp = await startIdp();
  onTestFinished(() => idp.close());
  home = new Home();
  home.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme' });
  const handed = await handSocket(home);
  const inode = statSync(home.socket).ino;

  await expect.poll(async () => (await daemonStatus(home!)).json?.socket_activated, { timeout: 10_000 }).toBe(true);
  const pid = (await daemonStatus(home)).json!.pid;
  expect(pid).toBe(handed.child.pid);
  expect(handed.stderr()).toContain(`serving, by socket activation, ${home.socket} (pid ${pid})`);
  expect((await home.run(['daemon', 'status'])).stdout).toContain(`socket ${home.socket} (socket activation: the service manager listens)`);

  expect((await home.login()).profile).toBe('acme');
  const token = await home.run(['get-token']);
  expect(token.code).toBe(0);
  expect(idp.issued.has(token.stdout.trim())).toBe(true);
  const status = await home.run(['status', '--json']);
  expect(status.code).toBe(0);
  expect((JSON.parse(status.stdout) as { daemon: { pid: number } }).daemon.pid).toBe(pid);
  // Every command went through the handed socket: the daemon bound none of its own in its place.
  expect(statSync(home.socket).ino).toBe(inode);

  const stop = await home.run(['daemon', 'stop']);
  expect(stop.code).toBe(0);
  expect(stop.stderr).toContain(`authd daemon stopped (pid ${pid}); its socket is the service manager's`);
  expect(await handed.exited).toBe(0);
  expect(hasExited(pid)).toBe(true);
  // The file is systemd's: the daemon did not remove it.
  expect(statSync(home.socket).ino).toBe(inode);
});

test('`authd daemon run` started by a socket unit hands the socket on to the daemon it runs', async () => {
  home = new Home();
  home.writeConfig({});
  const handed = await handSocket(home, { command: [AUTHD, 'daemon', 'run'] });
  await expect.poll(async () => (await daemonStatus(home!)).json?.socket_activated, { timeout: 10_000 }).toBe(true);
  const pid = (await daemonStatus(home)).json!.pid;
  expect(pid).not.toBe(handed.child.pid); // the daemon is the wrapper's child
  handed.child.kill('SIGTERM');
  expect(await handed.exited).toBe(0);
  await expect.poll(() => hasExited(pid), { timeout: 10_000 }).toBe(true);
  expect(existsSync(home.socket)).toBe(true);
});

test('LISTEN_PID naming another process is ignored: the daemon binds its own socket', async () => {
  home = new Home();
  home.writeConfig({});
  const other = join(home.dir, 'other.sock');
  const handed = await handSocket(home, { listenAt: other, listenPid: String(process.pid) });
  await expect.poll(async () => (await daemonStatus(home!)).json?.socket_activated, { timeout: 10_000 }).toBe(false);
  expect((await daemonStatus(home)).json!.pid).toBe(handed.child.pid);
  expect(handed.stderr()).toContain(`listening on ${home.socket}`);
});

test('a handed socket the daemon would not have made is refused, saying why', async () => {
  home = new Home();
  home.writeConfig({});
  // Bound elsewhere than where this home's clients look.
  const elsewhere = await handSocket(home, { listenAt: join(home.dir, 'other.sock') });
  expect(await elsewhere.exited).toBe(2);
  expect(elsewhere.stderr()).toContain(`the socket unit listens on ${join(home.dir, 'other.sock')}, but this daemon's socket is ${home.socket}`);
  // At the right path, but anyone may connect to it.
  const open = await handSocket(home, { mode: 0o666 });
  expect(await open.exited).toBe(1);
  expect(open.stderr()).toContain(`The socket ${home.socket} has mode 0666: group or others could connect to it.`);
  expect(open.stderr()).toContain('SocketMode=0600');
});

test('the socket-activation variables are read once and removed, whoever they were for', () => {
  const mine = { LISTEN_PID: '4242', LISTEN_FDS: '1', LISTEN_FDNAMES: 'authd.socket', KEEP: 'x' };
  expect(listenFds(mine, 4242)).toEqual({ main: 3 });
  expect(mine).toEqual({ KEEP: 'x' });
  const theirs = { LISTEN_PID: '1', LISTEN_FDS: '1' };
  expect(listenFds(theirs, 4242)).toBeUndefined();
  expect(theirs).toEqual({});
  expect(listenFds({ LISTEN_PID: '4242', LISTEN_FDS: '0' }, 4242)).toBeUndefined();
  expect(listenFds({ LISTEN_PID: '4242', LISTEN_FDS: '2' }, 4242)).toEqual({ main: 3, restricted: 4 });
  expect(() => listenFds({ LISTEN_PID: '4242', LISTEN_FDS: '3' }, 4242)).toThrow(/handed the daemon 3 sockets/);
});

test('handed the restricted socket too (the unit\'s second ListenStream), the daemon serves it, and a forward works through it before any command started the daemon', async () => {
  const idp: Idp = await startIdp();
  onTestFinished(() => idp.close());
  home = new Home();
  home.writeConfig({ acme: devProfile(idp, { forward: true }) }, { default_profile: 'acme', store: 'file' });
  const restricted = home.socket.replace(/\.sock$/, '.restricted/authd.sock');
  const handed = await handSocket(home, { restrictedAt: restricted });
  const inode = statSync(restricted).ino;
  await expect.poll(async () => (await daemonStatus(home!)).json?.socket_activated, { timeout: 10_000 }).toBe(true);
  await home.login();
  const far: Record<string, string> = { ...home.env, AUTHD_SOCKET: restricted };
  delete far.AUTHD_HOME;
  const token = await home.run(['get-token'], { env: far });
  expect(token).toMatchObject({ code: 0, stderr: '' });
  expect((await home.run(['logout'], { env: far })).code).toBe(2);
  // The daemon served the restricted socket systemd made: it bound none of its own there, and leaves it.
  expect(statSync(restricted).ino).toBe(inode);
  expect((await home.run(['daemon', 'stop'])).code).toBe(0);
  expect(await handed.exited).toBe(0);
  expect(statSync(restricted).ino).toBe(inode);
});

/** A PATH holding node (bin/authd runs it) and, if given, a stand-in systemctl. */
function toolPath(dir: string, systemctl?: string): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(process.execPath, join(bin, 'node'));
  if (systemctl !== undefined) writeFileSync(join(bin, 'systemctl'), systemctl, { mode: 0o755 });
  return bin;
}

/** systemd-analyze verify on the units, as the user manager would load them; its complaints, or undefined where it is not installed. */
function verify(files: string[], env: Record<string, string>): Promise<string | undefined> {
  if (!SYSTEMD_ANALYZE) return Promise.resolve(undefined);
  const runtime = mkdtempSync(join(tmpdir(), 'authd-rt.'));
  chmodSync(runtime, 0o700);
  return new Promise((done) => {
    // --user needs a runtime directory, not a running manager.
    execFile(SYSTEMD_ANALYZE, ['verify', '--user', ...files], { env: { ...env, XDG_RUNTIME_DIR: runtime } }, (err, stdout, stderr) => {
      rmSync(runtime, { recursive: true, force: true });
      done(`${err ? `exit ${err.code}\n` : ''}${stdout}${stderr}`);
    });
  });
}

test('install writes a socket unit at the path clients resolve and a service running this installation\'s daemon; without systemctl it says what to run; uninstall removes exactly those', async () => {
  home = new Home();
  home.writeConfig({});
  const config = join(home.dir, 'xdg-config');
  const env = { PATH: toolPath(home.dir), XDG_CONFIG_HOME: config };
  const unitDir = join(config, 'systemd', 'user');
  const r = await home.run(['daemon', 'install'], { env });
  expect(r.code).toBe(0);
  expect(r.stderr).toContain(`wrote ${join(unitDir, 'authd.socket')}`);
  expect(r.stderr).toContain('not enabled: systemctl is not on PATH. In a session with a systemd user manager, run:\n'
    + '  systemctl --user daemon-reload\n  systemctl --user enable --now authd.socket\n');

  const socketUnit = readFileSync(join(unitDir, 'authd.socket'), 'utf8');
  const serviceUnit = readFileSync(join(unitDir, 'authd.service'), 'utf8');
  expect(socketUnit.split('\n')).toEqual(expect.arrayContaining([
    `ListenStream=${home.socket}`, 'SocketMode=0600', 'DirectoryMode=0700', 'WantedBy=sockets.target',
  ]));
  // The restricted socket second, so the daemon finds it on fd 4.
  const listens = socketUnit.split('\n').filter((l) => l.startsWith('ListenStream='));
  expect(listens).toEqual([`ListenStream=${home.socket}`, `ListenStream=${home.socket.replace(/\.sock$/, '.restricted/authd.sock')}`]);
  expect(serviceUnit.split('\n')).toEqual(expect.arrayContaining([
    'Requires=authd.socket',
    `ExecStart=${process.execPath} --max-semi-space-size=1 ${DAEMON} run`,
    `Environment="AUTHD_HOME=${home.dir}"`,
    `Environment="XDG_CONFIG_HOME=${config}"`,
  ]));
  for (const f of ['authd.socket', 'authd.service']) expect(statSync(join(unitDir, f)).mode & 0o777).toBe(0o644);

  const complaints = await verify([join(unitDir, 'authd.socket'), join(unitDir, 'authd.service')], { ...home.env, ...env });
  if (complaints === undefined) console.warn('systemd-analyze is not installed: the generated units were not verified');
  else expect(complaints).toBe('');

  // Installing again rewrites its own files.
  expect((await home.run(['daemon', 'install', '--no-enable'], { env })).stderr).toContain('not enabled: --no-enable.');

  const un = await home.run(['daemon', 'uninstall'], { env });
  expect(un.code).toBe(0);
  expect(un.stderr).toBe(`removed ${join(unitDir, 'authd.socket')}\nremoved ${join(unitDir, 'authd.service')}\n`);
  expect(existsSync(join(unitDir, 'authd.socket')) || existsSync(join(unitDir, 'authd.service'))).toBe(false);
  const again = await home.run(['daemon', 'uninstall'], { env });
  expect(again.code).toBe(0);
  expect(again.stderr).toBe(`nothing to remove: no authd units in ${unitDir}\n`);

  // A unit of the user's own by that name is neither replaced nor removed.
  writeFileSync(join(unitDir, 'authd.service'), '[Service]\nExecStart=/bin/true\n');
  for (const action of ['install', 'uninstall']) {
    const refused = await home.run(['daemon', action], { env });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${join(unitDir, 'authd.service')} was not written by \`authd daemon install\`; leaving it alone`);
  }
  expect(readFileSync(join(unitDir, 'authd.service'), 'utf8')).toBe('[Service]\nExecStart=/bin/true\n');
});

test('with a service manager to ask, install stops the daemon a command started, then enables the socket; uninstall disables it first', async () => {
  home = new Home();
  home.writeConfig({});
  const calls = join(home.dir, 'systemctl.calls');
  // A stand-in for systemctl (no user manager runs here): it records what it is asked.
  const env = { PATH: toolPath(home.dir, `#!/bin/sh\necho "$*" >> '${calls}'\n`), XDG_CONFIG_HOME: join(home.dir, 'xdg-config') };
  expect((await home.run(['daemon', 'start'])).code).toBe(0);
  const r = await home.run(['daemon', 'install'], { env });
  expect(r.code).toBe(0);
  expect(r.stderr).toMatch(/authd daemon stopped \(pid \d+\)\n/);
  expect(r.stderr).toContain(`enabled and started authd.socket: systemd listens on ${home.socket} and starts the daemon at the first connection`);
  expect(existsSync(home.socket)).toBe(false);
  expect(readFileSync(calls, 'utf8')).toBe('--user daemon-reload\n--user enable --now authd.socket\n');

  rmSync(calls);
  const un = await home.run(['daemon', 'uninstall'], { env });
  expect(un.code).toBe(0);
  expect(un.stderr).toContain('stopped and disabled authd.socket and authd.service');
  expect(readFileSync(calls, 'utf8')).toBe('--user disable --now authd.socket authd.service\n--user daemon-reload\n');
});

test('when systemctl finds no user manager, install leaves the files and the daemon as they are and exits 0', async () => {
  home = new Home();
  home.writeConfig({});
  const env = {
    PATH: toolPath(home.dir, '#!/bin/sh\necho "Failed to connect to bus: No medium found" >&2\nexit 1\n'),
    XDG_CONFIG_HOME: join(home.dir, 'xdg-config'),
  };
  expect((await home.run(['daemon', 'start'])).code).toBe(0);
  const r = await home.run(['daemon', 'install'], { env });
  expect(r.code).toBe(0);
  expect(r.stderr).toContain('not enabled: no systemd user manager to ask (systemctl --user daemon-reload: Failed to connect to bus: No medium found).');
  expect((await daemonStatus(home)).code).toBe(0);
});

const io = (env: Record<string, string | undefined>) => {
  let err = '';
  const value: IO = { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) }, stdin: process.stdin, env };
  return { io: value, stderr: () => err };
};

test('the systemd units quote what systemd would otherwise expand or split', async () => {
  const { socket, service } = systemdUnits({
    program: [process.execPath, '/opt/my tools/100%/$HOME/daemon.mjs', 'run'],
    socket: '/run/user/1000/authd 50%/authd.sock',
    env: [['AUTHD_HOME', '/home/a "b"\\c%d']],
  });
  expect(service).toContain(`ExecStart=${process.execPath} "/opt/my tools/100%%/$$HOME/daemon.mjs" run\n`);
  expect(service).toContain('Environment="AUTHD_HOME=/home/a \\"b\\"\\\\c%%d"\n');
  expect(socket).toContain('ListenStream=/run/user/1000/authd 50%%/authd.sock\n');
  expect(() => systemdUnits({ program: ['/bin/node'], socket: '/s\n[Service]', env: [] })).toThrow(/control character/);
  if (!SYSTEMD_ANALYZE) return;
  const dir = mkdtempSync(join(tmpdir(), 'authd-units.'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'authd.socket'), socket);
  writeFileSync(join(dir, 'authd.service'), service);
  expect(await verify([join(dir, 'authd.socket'), join(dir, 'authd.service')], { PATH: process.env.PATH ?? '' })).toBe('');
});

test('on macOS, install writes a launchd agent running this installation\'s daemon and says how to load it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'authd-mac.'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const { io: streams, stderr } = io({ HOME: dir, PATH: join(dir, 'no-bin'), AUTHD_HOME: join(dir, 'a&b') });
  const done = await install({ noEnable: false, platform: 'darwin' }, streams, async () => undefined);
  const file = join(dir, 'Library', 'LaunchAgents', 'authd.plist');
  expect(done).toEqual({ files: [file], enabled: false });
  expect(stderr()).toBe(`wrote ${file}\nnot loaded: launchctl is not on PATH\nto load it, run:\n  launchctl bootstrap gui/${process.getuid!()} ${file}\n`);
  const plist = readFileSync(file, 'utf8');
  expect(plist).toContain('<key>Label</key><string>authd</string>');
  expect(plist).toContain(`    <string>${process.execPath}</string>\n    <string>--max-semi-space-size=1</string>\n`);
  expect(plist).toMatch(/ {4}<string>\/\S+\/daemon\.mjs<\/string>\n {4}<string>run<\/string>\n/);
  expect(plist).toContain(`<key>AUTHD_HOME</key><string>${join(dir, 'a&amp;b')}</string>`);
  expect(plist).toContain('<key>KeepAlive</key>\n  <dict><key>SuccessfulExit</key><false/></dict>');
  // Balanced: every element opened is closed.
  const opened = [...plist.matchAll(/<(dict|array|plist|key|string)\b/g)].length;
  const closed = [...plist.matchAll(/<\/(dict|array|plist|key|string)>/g)].length;
  expect(opened).toBe(closed);
  // Values are escaped, so a path cannot add elements.
  expect(launchdPlist({ program: ['/n</string><string>x'], socket: '', env: [] })).toContain('<string>/n&lt;/string&gt;&lt;string&gt;x</string>');
});
