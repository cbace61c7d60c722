// A private, real Secret Service for tests: a D-Bus session bus of its own (no service activation,
// so nothing starts behind our back) and a gnome-keyring-daemon on it, with HOME, XDG_RUNTIME_DIR
// and XDG_DATA_HOME in a temp dir. Needs no dbus-run-session around the test runner.
//
// What a client needs to reach it is only DBUS_SESSION_BUS_ADDRESS (verified: @napi-rs/keyring and
// secret-tool work with nothing else). `env` also sets XDG_RUNTIME_DIR to an empty private dir, so a
// client can never fall back to the machine's own bus at $XDG_RUNTIME_DIR/bus.
//
// Both libraries in @napi-rs/keyring fix the bus for the life of a process (libdbus caches the
// address at first use), so give each keychain its own process: the keyring store's helper process
// takes the env as an option.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const KEYRING_PASSWORD = 'authd-test-keyring-password';

export interface KeyringSession {
  /** The variables a process needs to use this keychain; merge over process.env. */
  env: Record<string, string>;
  /** HOME of gnome-keyring: its keyrings are in HOME/.local/share/keyrings. */
  home: string;
  /** gnome-keyring-daemon's pid. */
  pid: number;
  /** SIGSTOP gnome-keyring-daemon: a hung keychain. */
  pause(): void;
  /** SIGCONT it. */
  resume(): void;
  /** Kills every process it started and removes its temp dir (not a `home` passed in). */
  stop(): Promise<void>;
}

export interface KeyringSessionOptions {
  /** Unlock the login keyring with KEYRING_PASSWORD (creating it if new). Default true. */
  unlocked?: boolean;
  /**
   * Reuse this HOME (e.g. one a previous, stopped session created its login keyring in): started
   * with `unlocked: false`, that is a real, existing, locked keyring. Default: a fresh one.
   */
  home?: string;
}

const live = new Set<KeyringSession>();

// Last resort if a test file dies without stopping its sessions: no process outlives the runner.
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export async function startKeyring(opts: KeyringSessionOptions = {}): Promise<KeyringSession> {
  const unlocked = opts.unlocked ?? true;
  const root = mkdtempSync(join(tmpdir(), 'authd-keyring-'));
  chmodSync(root, 0o700);
  const home = opts.home ?? join(root, 'home');
  const runtimeDir = join(root, 'run');
  const busDir = join(root, 'bus');
  for (const dir of [home, runtimeDir, busDir]) mkdirSync(dir, { recursive: true, mode: 0o700 });

  const mine: ChildProcess[] = [];
  const track = (child: ChildProcess) => {
    mine.push(child);
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  const stop = async () => {
    await Promise.all(mine.map(killAndWait));
    rmSync(root, { recursive: true, force: true });
    live.delete(session);
  };

  let session!: KeyringSession;
  try {
    const busConfig = join(root, 'bus.conf');
    writeFileSync(busConfig, busConfigXml(busDir));
    const bus = track(
      spawn('dbus-daemon', ['--config-file', busConfig, '--nofork', '--print-address=1'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    const address = await firstLine(bus, 'dbus-daemon');

    const daemonEnv: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      XDG_RUNTIME_DIR: runtimeDir,
      XDG_DATA_HOME: join(home, '.local', 'share'),
      XDG_CONFIG_HOME: join(home, '.config'),
      DBUS_SESSION_BUS_ADDRESS: address,
    };
    const args = ['--foreground', '--components=secrets'];
    if (unlocked) args.push('--unlock');
    const keyring = track(spawn('gnome-keyring-daemon', args, { env: daemonEnv, stdio: ['pipe', 'ignore', 'pipe'] }));
    // --unlock reads the password from stdin up to EOF.
    keyring.stdin?.end(unlocked ? KEYRING_PASSWORD : '');
    let stderr = '';
    keyring.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });

    const clientEnv = { DBUS_SESSION_BUS_ADDRESS: address, XDG_RUNTIME_DIR: join(root, 'client-run') };
    mkdirSync(clientEnv.XDG_RUNTIME_DIR, { mode: 0o700 });
    await waitForSecretService(clientEnv, keyring, () => stderr);

    session = {
      env: clientEnv,
      home,
      pid: keyring.pid!,
      pause: () => keyring.kill('SIGSTOP'),
      resume: () => keyring.kill('SIGCONT'),
      stop,
    };
    live.add(session);
    return session;
  } catch (err) {
    await Promise.all(mine.map(killAndWait));
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

/** Stops every session this module started (for afterAll). */
export async function stopAllKeyrings(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()));
}

/** An environment with no D-Bus session at all: no address, and an empty XDG_RUNTIME_DIR. */
export function noDbusEnv(emptyDir: string): NodeJS.ProcessEnv {
  const { DBUS_SESSION_BUS_ADDRESS: _bus, ...rest } = process.env;
  mkdirSync(emptyDir, { recursive: true, mode: 0o700 });
  return { ...rest, XDG_RUNTIME_DIR: emptyDir };
}

/** Run `secret-tool` against a session; stdout, stderr and status. */
export function secretTool(session: KeyringSession, args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync('secret-tool', args, { env: { ...process.env, ...session.env }, encoding: 'utf8', timeout: 10_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

function busConfigXml(dir: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=${dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;
}

function firstLine(child: ChildProcess, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => reject(new Error(`${what} printed no address within 10 s: ${stderr}`)), 10_000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line.trim());
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start ${what}: ${err.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before printing its address: ${stderr}`));
    });
  });
}

/** Until gnome-keyring owns org.freedesktop.secrets on the bus. */
async function waitForSecretService(env: Record<string, string>, keyring: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (keyring.exitCode !== null || keyring.signalCode !== null) {
      throw new Error(`gnome-keyring-daemon exited (${keyring.exitCode ?? keyring.signalCode}): ${stderr()}`);
    }
    const r = spawnSync(
      'dbus-send',
      ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus',
        'org.freedesktop.DBus.NameHasOwner', 'string:org.freedesktop.secrets'],
      { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 5000 },
    );
    if (/boolean true/.test(r.stdout)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gnome-keyring-daemon did not register org.freedesktop.secrets within 10 s: ${stderr()}`);
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL'); // also ends a stopped (SIGSTOP) process
  await exited;
}
