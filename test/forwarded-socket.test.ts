// AUTHD_SOCKET names an agent somewhere else (forwarded over ssh, mounted into a container). When it
// stops answering, authd says so: it never starts an empty daemon of its own in its place, and never
// advises changing a directory that is not authd's own (chmod 700 /tmp).
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { startIdp } from '../scripts/dev-idp.mjs';
import { Home, type Result } from './support/harness.js';
import { processes } from './support/procs.js';

const homes: { home: Home; sockets: string[] }[] = [];

function newHome(): Home {
  const home = new Home();
  home.writeConfig({});
  homes.push({ home, sockets: [] });
  return home;
}

/** A socket path for this home's AUTHD_SOCKET, remembered so that cleanup stops whatever ran there. */
function explicitSocket(home: Home, ...parts: string[]): string {
  const socket = join(home.dir, ...parts);
  homes.find((h) => h.home === home)!.sockets.push(socket);
  return socket;
}

afterEach(async () => {
  for (const { home, sockets } of homes.splice(0)) {
    for (const s of sockets) await home.run(['daemon', 'stop'], { env: { AUTHD_SOCKET: s } });
    // A daemon the code under test should not have started (the test has failed already): end it.
    for (const pid of daemonsFor(home.dir)) process.kill(pid, 'SIGTERM');
    await home.dispose();
  }
});

/** Daemon processes whose environment names this home. */
function daemonsFor(dir: string): number[] {
  return processes()
    .filter((p) => p.cmdline.includes('daemon.mjs') && p.environ().includes(`AUTHD_HOME=${dir}`))
    .map((p) => p.pid);
}

/** What the user sees when the agent at `socket` does not answer: exit 5, the path, what to do. */
function expectNotAnswering(r: Result, socket: string): void {
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain(`the authd agent at ${socket} is not answering`);
  expect(r.stderr).toMatch(/forwarded/);
  expect(r.stderr).toContain('unset AUTHD_SOCKET');
  expect(r.stderr).toContain('authd daemon start');
  expect(r.stderr).not.toMatch(/chmod/);
  expect(r.code).toBe(5);
}

/** A Unix socket file nobody listens on: its process was killed, as an ssh session that ended. */
async function staleSocket(path: string): Promise<void> {
  const script = `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('ready'))`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

test('a forwarded agent that goes away is reported as not answering, not replaced by an empty local daemon', async () => {
  const idp = await startIdp({ accessTokenTtl: 30 });
  try {
    // The laptop runs the daemon and is logged in; the remote host reaches it through AUTHD_SOCKET.
    const laptop = newHome();
    laptop.writeConfig({ ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', client_secret_env: 'SVC_SECRET' } });
    expect((await laptop.run(['daemon', 'start'])).code).toBe(0);
    // The remote side's own config names the variable: a client sends a value from its environment
    // only for a variable its user's config names, never just because a daemon asks for it.
    const remote = newHome();
    remote.writeConfig({ ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', client_secret_env: 'SVC_SECRET' } });
    const forwarded = { AUTHD_SOCKET: laptop.socket, SVC_SECRET: 'svc-secret' };
    const served = await remote.run(['get-token', '-p', 'ci'], { env: forwarded });
    expect(served.stderr).toBe('');
    expect(served.code).toBe(0);
    expect((await idp.introspect(served.stdout.trim())).active).toBe(true);

    // The forwarding ends (here: the daemon behind it stops).
    expect((await laptop.run(['daemon', 'stop'])).code).toBe(0);
    const r = await remote.run(['get-token', '-p', 'ci'], { env: forwarded });
    expectNotAnswering(r, laptop.socket);
    expect(daemonsFor(remote.dir)).toEqual([]);
    expect(existsSync(laptop.socket)).toBe(false);
  } finally {
    await idp.close();
  }
});

test('an AUTHD_SOCKET that does not exist: exit 5, and no daemon is started nor any directory made for it', async () => {
  const home = newHome();
  const socket = explicitSocket(home, 'gone', 'authd.sock');
  for (const args of [['get-token'], ['status'], ['git-credential', 'get']]) {
    const r = await home.run(args, { env: { AUTHD_SOCKET: socket }, input: 'protocol=https\nhost=git.example.com\n\n' });
    expectNotAnswering(r, socket);
  }
  expect(existsSync(join(home.dir, 'gone'))).toBe(false);
  expect(existsSync(home.socket)).toBe(false);
  expect(daemonsFor(home.dir)).toEqual([]);
});

test('a stale socket file in AUTHD_SOCKET that nothing listens on: the same answer, and the file is left alone', async () => {
  const home = newHome();
  mkdirSync(join(home.dir, 'fwd'), { mode: 0o700 });
  const socket = explicitSocket(home, 'fwd', 'authd.sock');
  await staleSocket(socket);
  expect(lstatSync(socket).isSocket()).toBe(true);

  const r = await home.run(['get-token'], { env: { AUTHD_SOCKET: socket } });
  expectNotAnswering(r, socket);
  expect(daemonsFor(home.dir)).toEqual([]);
  expect(lstatSync(socket).isSocket()).toBe(true);
  const status = await home.run(['daemon', 'status'], { env: { AUTHD_SOCKET: socket } });
  expect(status.stdout).toMatch(/^not running/);
});

test('the Node SDK does not start a daemon at an AUTHD_SOCKET that is not answering either', async () => {
  const home = newHome();
  const socket = explicitSocket(home, 'gone', 'authd.sock');
  const script = `
    const { AuthdClient } = require(${JSON.stringify(`${process.cwd()}/dist/sdk.cjs`)});
    new AuthdClient().getToken().then(
      () => process.exit(0),
      (e) => { process.stdout.write(JSON.stringify({ code: e.code, message: e.message })); process.exit(1); });`;
  const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = spawn(process.execPath, ['-e', script], { env: { ...home.env, AUTHD_SOCKET: socket }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.on('close', (code) => resolve({ code, stdout })); // 'close': after the last of stdout
  });
  expect(out.code).toBe(1);
  expect(JSON.parse(out.stdout)).toEqual({ code: 'daemon_unreachable', message: `the authd agent at ${socket} is not answering` });
  expect(existsSync(join(home.dir, 'gone'))).toBe(false);
  expect(daemonsFor(home.dir)).toEqual([]);
});

test('an AUTHD_SOCKET in a shared (1777) directory is never answered with advice to chmod that directory', async () => {
  const home = newHome();
  const shared = join(home.dir, 'tmp');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const socket = explicitSocket(home, 'tmp', 'authd.sock');

  // The client will not even look there: anyone could have put a socket in a shared directory.
  const r = await home.run(['get-token'], { env: { AUTHD_SOCKET: socket } });
  expect(r.stderr).toContain(`refusing to connect to ${socket}: the socket directory ${shared} is shared with others (mode 1777)`);
  expect(r.stderr).toContain('set AUTHD_SOCKET to a path in a directory only you can use');
  expect(r.stderr).not.toMatch(/chmod|chown|\brm\b|\bmv\b/);
  expect(r.code).toBe(5);

  // Asked for explicitly, the daemon still refuses a socket others could reach, and says what to do instead.
  for (const action of ['start', 'run']) {
    const r = await home.run(['daemon', action], { env: { AUTHD_SOCKET: socket } });
    expect(r.code).not.toBe(0);
    // From the daemon (run), or from the client before it starts one (start).
    expect(r.stderr.toLowerCase()).toContain(`the socket directory ${shared} is shared with others (mode 1777)`.toLowerCase());
    expect(r.stderr).toContain('set AUTHD_SOCKET to a path in a directory only you can use');
    expect(r.stderr).not.toMatch(/chmod|chown|\brm\b|\bmv\b/);
  }
  expect(lstatSync(shared).mode & 0o7777).toBe(0o1777);
  expect(existsSync(socket)).toBe(false);
  expect(daemonsFor(home.dir)).toEqual([]);
});

test('`authd daemon start` with AUTHD_SOCKET starts a daemon at that path, which then serves other commands', async () => {
  const home = newHome();
  const socket = explicitSocket(home, 'agent', 'authd.sock');
  const env = { AUTHD_SOCKET: socket };
  const started = await home.run(['daemon', 'start'], { env });
  expect(started.code).toBe(0);
  expect(started.stderr).toMatch(new RegExp(`^authd daemon running, pid (\\d+), socket ${socket}\\n$`));
  const pid = Number(/pid (\d+)/.exec(started.stderr)![1]);
  expect(lstatSync(socket).isSocket()).toBe(true);
  expect(lstatSync(join(home.dir, 'agent')).mode & 0o777).toBe(0o700);

  const status = await home.run(['status', '--json'], { env });
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout)).toMatchObject({ daemon: { pid } });
  expect(daemonsFor(home.dir)).toEqual([pid]);
});
