// The keychain as a user meets it: the real `authd` binary, a real provider, and a real Secret
// Service (a private D-Bus session bus and gnome-keyring per test group; test/support/keyring-session.ts).
// Each authd home gets exactly one bus: a keychain's, none at all, or an empty address; never the
// machine's own (its XDG_RUNTIME_DIR is an empty dir of its own), so these tests behave the same
// inside `dbus-run-session` (as under .ci/run) and outside it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { approveDeviceCode, type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { devProfile, Home, type ProfileSpec, readEvents, type Result } from './support/harness.js';
import { type KeyringSession, secretTool, startKeyring, stopAllKeyrings } from './support/keyring-session.js';
import { allCmdlines, processes } from './support/procs.js';

const GIT_HELPER = resolve(__dirname, '../bin/git-credential-authd');
/** The dev provider's confidential client `svc` has this secret. */
const CLIENT_SECRET = 'svc-secret';
const API_KEY = `sk_live_${randomBytes(12).toString('hex')}`;
const GIT_PASSWORD = `ghp_${randomBytes(12).toString('hex')}`;
const KEYRING_STORE = 'keyring (Secret Service (service "authd"))';

let idp: Idp;
/** Every home of this file, disposed (daemon stopped and gone) at the end even if a test failed. */
const homes: KeychainHome[] = [];

beforeAll(async () => {
  // 30 s access tokens: a running daemon serves its cached token; a restarted one (which does not
  // know the token's lifetime, so wants 60 s left) must refresh with the refresh token it reads back.
  idp = await startIdp({ accessTokenTtl: 30 });
});

afterAll(async () => {
  await Promise.all(homes.splice(0).map((h) => h.dispose()));
  await stopAllKeyrings();
  await idp?.close();
});

/**
 * What a machine offers authd: a keychain (its D-Bus session bus), no D-Bus at all
 * (DBUS_SESSION_BUS_ADDRESS unset), or DBUS_SESSION_BUS_ADDRESS set but empty.
 */
type Bus = KeyringSession | 'none' | 'empty';

/** A Home whose commands (and so the daemon they start) see only the bus given. Can change. */
class KeychainHome extends Home {
  private readonly emptyRuntime: string;
  /** Every daemon pid seen, so dispose() can wait until each is gone. */
  private readonly daemons = new Set<number>();

  constructor(public bus: Bus) {
    super('authd-k.');
    this.emptyRuntime = join(this.dir, 'xdg-run');
    mkdirSync(this.emptyRuntime, { mode: 0o700 });
    homes.push(this);
  }

  override get env(): Record<string, string> {
    const { DBUS_SESSION_BUS_ADDRESS: _bus, DISPLAY: _display, ...env } = super.env;
    // No fallback to a bus at $XDG_RUNTIME_DIR/bus: this dir is empty.
    env.XDG_RUNTIME_DIR = this.emptyRuntime;
    if (this.bus === 'empty') env.DBUS_SESSION_BUS_ADDRESS = '';
    else if (this.bus !== 'none') Object.assign(env, this.bus.env);
    return env;
  }

  override daemonPid(): number | undefined {
    const pid = super.daemonPid();
    if (pid !== undefined) this.daemons.add(pid);
    return pid;
  }

  private disposed = false;

  override async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.daemonPid();
    await this.stop();
    for (const pid of this.daemons) {
      if (!(await until(() => gone(pid)))) process.kill(pid, 'SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The credentials file's entries, or undefined when there is no such file. */
  fileEntries(): Record<string, unknown> | undefined {
    const file = join(this.stateDir, 'credentials.json');
    if (!existsSync(file)) return undefined;
    return (JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, unknown> }).entries;
  }

  /** Every file under the state dir (the credentials file included), by path. */
  stateFiles(): Record<string, string> {
    const out: Record<string, string> = {};
    if (!existsSync(this.stateDir)) return out;
    for (const d of readdirSync(this.stateDir, { recursive: true, withFileTypes: true })) {
      if (d.isFile()) out[join(d.parentPath, d.name)] = readFileSync(join(d.parentPath, d.name), 'utf8');
    }
    return out;
  }

  /** `git-credential-authd ACTION` with INPUT on stdin, as git runs it. */
  git(action: 'get' | 'store' | 'erase', input: string): Promise<Result> {
    return new Promise((done) => {
      const child = spawn(GIT_HELPER, [action], { env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.on('close', (code) => { // 'close', not 'exit': after the last of stdout and stderr
        this.stderrs.push(stderr);
        done({ code: code ?? 1, stdout, stderr });
      });
      child.stdin.end(input);
    });
  }

  /** Device login, approved at the provider; also records the device-grant count before and after. */
  async deviceLogin(profile = 'acme'): Promise<void> {
    const before = idp.stats.deviceGrants;
    const child = spawn(resolve(__dirname, '../bin/authd'), ['login', '--json', '-p', profile], {
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const events = await readEvents(child, async (ev) => {
      if (ev.event === 'device_code') await approveDeviceCode(String(ev.verification_uri_complete));
    });
    expect(events.at(-1)).toEqual({ event: 'logged_in', profile, subject: 'alice' });
    expect(idp.stats.deviceGrants).toBe(before + 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** The accounts (keys) of every item under service "authd" in this keychain, sorted. */
function keychainAccounts(k: KeyringSession): string[] {
  const r = secretTool(k, ['search', '--all', 'service', 'authd']);
  // secret-tool prints label and secret on stdout, each item's attributes on stderr.
  return [...r.stderr.matchAll(/^attribute\.username = (.*)$/gm)].map((m) => m[1]!).sort();
}

/** The JSON value of the keychain item service=authd, username=ACCOUNT (undefined if none). */
function keychainItem(k: KeyringSession, account: string): Record<string, unknown> | undefined {
  const r = secretTool(k, ['lookup', 'service', 'authd', 'username', account]);
  return r.status === 0 && r.stdout ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined;
}

function refreshTokenIn(k: KeyringSession, account = 'acme'): string {
  const rt = keychainItem(k, account)?.refresh_token;
  expect(typeof rt).toBe('string');
  return rt as string;
}

/** The log line of the last daemon start. */
function lastStart(home: Home): Record<string, unknown> | undefined {
  const line = home.logText().split('\n').filter((l) => l.includes('"msg":"daemon started"')).at(-1);
  return line ? (JSON.parse(line) as Record<string, unknown>) : undefined;
}

/** True once the process is gone (or a zombie nobody reaped yet). */
function gone(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^\d+ \(.*\)/, ''));
  } catch {
    return true;
  }
}

async function until(check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}


/** Pids of keyring helper processes (`node --input-type=commonjs -e …`) on this keychain's bus. */
function helpersOf(k: KeyringSession): number[] {
  const bus = `DBUS_SESSION_BUS_ADDRESS=${k.env.DBUS_SESSION_BUS_ADDRESS}`;
  return processes()
    .filter((p) => p.cmdline.includes('--input-type=commonjs') && p.environ().includes(bus) && !gone(p.pid))
    .map((p) => p.pid);
}

/** Every secret of these tests found in any of the texts, as "where: what" (never the secret itself). */
function leaks(texts: Record<string, string>, extra: Record<string, string> = {}): string[] {
  const secrets: [string, string][] = [...idp.issued].map((t) => [`a token issued by the provider (${t.slice(0, 4)}…)`, t]);
  secrets.push(['the client secret', CLIENT_SECRET], ['the API key', API_KEY], ['the git password', GIT_PASSWORD]);
  for (const [what, value] of Object.entries(extra)) secrets.push([what, value]);
  const found: string[] = [];
  for (const [where, text] of Object.entries(texts)) {
    for (const [what, value] of secrets) if (text.includes(value)) found.push(`${where}: ${what}`);
  }
  return found;
}

async function tokenIsActive(token: string): Promise<void> {
  expect(token).toMatch(/^\S{20,}$/);
  expect((await idp.introspect(token)).active).toBe(true);
}

const GIT_CREDENTIAL = `protocol=https\nhost=git.example.com\nusername=alice\npassword=${GIT_PASSWORD}\n\n`;
const GIT_QUERY = 'protocol=https\nhost=git.example.com\n\n';

function profiles(): Record<string, ProfileSpec> {
  return {
    acme: devProfile(idp),
    ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', scopes: ['api:read'] },
    key: { flow: 'api_key', client_id: '' },
  };
}

// ---------------------------------------------------------------------------------------------

for (const store of ['keyring', 'auto'] as const) {
  describe(`with an unlocked keychain and store = "${store}"`, () => {
    let keychain: KeyringSession;
    let home: KeychainHome;
    let deviceGrants: number;

    beforeAll(async () => {
      keychain = await startKeyring();
      home = new KeychainHome(keychain);
      home.writeConfig({ acme: devProfile(idp) }, { store });
      await home.deviceLogin();
      deviceGrants = idp.stats.deviceGrants;
    });
    afterAll(async () => {
      await home?.dispose();
      await keychain?.stop();
    });

    test('after a device login, secret-tool finds the session under service "authd", account "acme"', () => {
      expect(keychainAccounts(keychain)).toEqual(['acme']);
      const item = keychainItem(keychain, 'acme');
      expect(item).toMatchObject({ v: 1, issuer: idp.issuer, client_id: 'authd-cli', subject: 'alice' });
      expect(idp.issued.has(refreshTokenIn(keychain))).toBe(true);
    });

    test('no file under the state dir holds the refresh token, and there is no credentials file with anything in it', () => {
      const rt = refreshTokenIn(keychain);
      const files = home.stateFiles();
      expect(Object.keys(files).length).toBeGreaterThan(0); // the log, at least
      for (const [path, text] of Object.entries(files)) expect(text.includes(rt), path).toBe(false);
      expect(Object.keys(home.fileEntries() ?? {})).toEqual([]);
    });

    test('authd status says the store is the Secret Service keychain, with no warning', async () => {
      const r = await home.run(['status']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`\nstore    ${KEYRING_STORE}\n`);
      expect(r.stdout).not.toMatch(/^warning/m);
      expect(r.stdout).toMatch(/acme\s+device\s+logged in\s+alice/);
      const doctor = await home.run(['doctor']);
      expect(doctor.stdout).toContain(`✓ store: ${KEYRING_STORE}\n`);
    });

    test('a daemon stopped with SIGTERM comes back from the keychain: a fresh token, no new login', async () => {
      const first = home.daemonPid()!;
      expect((await home.run(['get-token'])).code).toBe(0);
      const rtBefore = refreshTokenIn(keychain);
      const refreshes = idp.stats.refreshes;

      process.kill(first, 'SIGTERM');
      expect(await until(() => gone(first))).toBe(true);
      expect(await until(() => helpersOf(keychain).length === 0)).toBe(true);

      const r = await home.run(['get-token']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(home.daemonPid()).not.toBe(first);
      await tokenIsActive(r.stdout.trim());
      // The restarted daemon refreshed with the refresh token it read from the keychain, and wrote the
      // rotated one back there.
      expect(idp.stats.deviceGrants).toBe(deviceGrants);
      expect(idp.stats.refreshes).toBe(refreshes + 1);
      expect(idp.stats.reuseDetected).toBe(0);
      expect(refreshTokenIn(keychain)).not.toBe(rtBefore);
      expect(lastStart(home)).toMatchObject({ pid: home.daemonPid(), store: 'keyring' });
    });

    test('a daemon killed with SIGKILL comes back from the keychain too, and its keychain helper does not outlive it', async () => {
      const killed = home.daemonPid()!;
      expect(helpersOf(keychain).length).toBeGreaterThan(0);
      const refreshes = idp.stats.refreshes;
      process.kill(killed, 'SIGKILL');
      expect(await until(() => gone(killed))).toBe(true);
      expect(await until(() => helpersOf(keychain).length === 0)).toBe(true);

      const r = await home.run(['get-token']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const restarted = home.daemonPid();
      expect(restarted).not.toBe(killed);
      await tokenIsActive(r.stdout.trim());
      expect(idp.stats.deviceGrants).toBe(deviceGrants);
      expect(idp.stats.refreshes).toBe(refreshes + 1); // the rotated refresh token was in the keychain
      expect(idp.stats.reuseDetected).toBe(0);
      const status = await home.run(['status']);
      expect(status.stdout).toContain(`\nstore    ${KEYRING_STORE}\n`);
    });

    test('no token the provider issued is in the log, status, stderr, or any process argv', async () => {
      expect((await home.run(['get-token'])).code).toBe(0);
      // Scanned while the daemon and its keychain helper run.
      const pid = home.daemonPid()!;
      expect(gone(pid)).toBe(false);
      expect(helpersOf(keychain).length).toBeGreaterThan(0);
      const argv = allCmdlines();
      const status = await home.run(['status']);
      expect(
        leaks({ argv, status: status.stdout, stderr: home.stderrs.join('\n'), ...home.stateFiles() }),
      ).toEqual([]);
    });

    test('authd logout removes the session from the keychain; get-token then asks for a login', async () => {
      const out = await home.run(['logout']);
      expect(out.code).toBe(0);
      expect(out.stderr).toContain('Logged out of acme');
      expect(keychainAccounts(keychain)).toEqual([]);
      const r = await home.run(['get-token']);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('authd login -p acme');
    });
  });
}

describe('client secrets, API keys and git credentials with store = "keyring"', () => {
  let keychain: KeyringSession;
  let home: KeychainHome;

  beforeAll(async () => {
    keychain = await startKeyring();
    home = new KeychainHome(keychain);
    home.writeConfig(profiles(), { store: 'keyring', default_profile: 'acme' });
  });
  afterAll(async () => {
    await home?.dispose();
    await keychain?.stop();
  });

  test('a client secret set from stdin is kept in the keychain as "secret:ci", and gets tokens', async () => {
    const set = await home.run(['secret', 'set', 'ci'], { input: `${CLIENT_SECRET}\n` });
    expect(set.stderr).toBe('✓ Stored the secret for profile ci\n');
    expect(set.code).toBe(0);
    expect(keychainAccounts(keychain)).toEqual(['secret:ci']);
    expect(keychainItem(keychain, 'secret:ci')).toMatchObject({ v: 1, secret: CLIENT_SECRET });
    const r = await home.run(['get-token', '-p', 'ci']);
    expect(r.code).toBe(0);
    expect(await idp.introspect(r.stdout.trim())).toMatchObject({ active: true, client_id: 'svc' });
  });

  test('an API key set from stdin is kept in the keychain as "secret:key", and get-token serves it', async () => {
    const set = await home.run(['secret', 'set', 'key'], { input: `${API_KEY}\n` });
    expect(set.code).toBe(0);
    expect(keychainAccounts(keychain)).toEqual(['secret:ci', 'secret:key']);
    expect(keychainItem(keychain, 'secret:key')).toMatchObject({ v: 1, secret: API_KEY });
    expect((await home.run(['get-token', '-p', 'key'])).stdout).toBe(`${API_KEY}\n`);
  });

  test('a password git asks git-credential-authd to store is kept in the keychain as "git:…", and given back', async () => {
    const stored = await home.git('store', GIT_CREDENTIAL);
    expect(stored.code).toBe(0);
    expect(stored.stdout).toBe('');
    const accounts = keychainAccounts(keychain);
    const gitAccounts = accounts.filter((a) => a.startsWith('git:'));
    expect(gitAccounts).toHaveLength(1);
    expect(accounts).toHaveLength(3);
    expect(keychainItem(keychain, gitAccounts[0]!)).toMatchObject({
      git: { protocol: 'https', host: 'git.example.com', username: 'alice', password: GIT_PASSWORD },
    });
    const got = await home.git('get', GIT_QUERY);
    // As git's own store helper answers: the username and password.
    expect(got.stdout).toBe(`username=alice\npassword=${GIT_PASSWORD}\n`);
  });

  test('none of them is in any file under the state dir, the log, status, stderr, or any process argv', async () => {
    expect((await home.run(['get-token', '-p', 'ci'])).code).toBe(0);
    expect(gone(home.daemonPid()!)).toBe(false);
    expect(helpersOf(keychain).length).toBeGreaterThan(0);
    const argv = allCmdlines();
    const status = await home.run(['status']);
    expect(status.stdout).toContain(`\nstore    ${KEYRING_STORE}\n`);
    expect(status.stdout).toMatch(/key\s+api_key\s+logged in\s+-\s+-\s+sk_l…/);
    expect(home.fileEntries()).toBeUndefined();
    expect(home.logText()).toContain('secret stored');
    expect(leaks({ argv, status: status.stdout, stderr: home.stderrs.join('\n'), ...home.stateFiles() })).toEqual([]);
  });

  test('authd logout -p key removes the API key from the keychain, and the others stay', async () => {
    expect((await home.run(['logout', '-p', 'key'])).code).toBe(0);
    const accounts = keychainAccounts(keychain);
    expect(accounts).toHaveLength(2);
    expect(accounts).toContain('secret:ci');
    expect(accounts).not.toContain('secret:key');
    const r = await home.run(['get-token', '-p', 'key']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('authd secret set key');
  });
});

// ---------------------------------------------------------------------------------------------

const NO_DBUS = 'The Secret Service keychain is unavailable: DBUS_SESSION_BUS_ADDRESS is unset, so there is no D-Bus session bus.';
const EMPTY_DBUS = 'The Secret Service keychain is unavailable: DBUS_SESSION_BUS_ADDRESS is empty, so there is no D-Bus session bus.';
const LOCKED = 'The Secret Service keychain is locked, so authd cannot keep secrets in it.';

/** What `status` says when auto falls back, every time it runs: one line. */
const NO_KEYCHAIN_LINE = 'warning  no keychain: secrets are in a 0600 file (see `authd doctor`)';

/** What `doctor` must say when auto falls back: why, where the secrets go, how to fix it. */
function expectFallbackWarning(text: string, home: KeychainHome, why: string, fix: RegExp): void {
  const credentials = join(home.stateDir, 'credentials.json');
  expect(text).toContain(`No usable keychain was found, so authd keeps its secrets in the file ${credentials}: ${why}`);
  expect(text).toMatch(fix);
  expect(text).toContain('to silence this, set store = "file".');
}

interface NoKeychain {
  title: string;
  /** Sets up the machine; returns the bus a home sees, and a cleanup. */
  bus(): Promise<{ bus: Bus; stop(): Promise<void> }>;
  why: string;
  fix: RegExp;
}

const NO_KEYCHAIN: NoKeychain[] = [
  {
    title: 'no D-Bus at all (DBUS_SESSION_BUS_ADDRESS unset)',
    bus: async () => ({ bus: 'none', stop: async () => undefined }),
    why: NO_DBUS,
    fix: /To use the keychain, run authd in a desktop session, or on a machine without one under `dbus-run-session` with gnome-keyring started unlocked/,
  },
  {
    title: 'no D-Bus at all (DBUS_SESSION_BUS_ADDRESS empty)',
    bus: async () => ({ bus: 'empty', stop: async () => undefined }),
    why: EMPTY_DBUS,
    fix: /To use the keychain, run authd in a desktop session, or on a machine without one under `dbus-run-session`/,
  },
  {
    title: 'a keychain that was never unlocked',
    bus: async () => {
      const k = await startKeyring({ unlocked: false });
      return { bus: k, stop: () => k.stop() };
    },
    why: LOCKED,
    fix: /To use the keychain, unlock it: log in to the desktop session .*gnome-keyring-daemon --unlock --components=secrets/,
  },
  {
    title: 'an existing login keyring, locked',
    bus: async () => {
      const keyringHome = mkdirTemp('authd-khome-');
      const first = await startKeyring({ home: keyringHome });
      // It holds an authd item, as after a login on a desktop; then the session ends.
      const put = spawn('secret-tool', ['store', '--label=authd', 'service', 'authd', 'username', 'acme'], {
        env: { ...process.env, ...first.env },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      put.stdin.end(JSON.stringify({ v: 1, issuer: idp.issuer, client_id: 'authd-cli', refresh_token: 'rt-locked-away' }));
      await new Promise((r) => put.once('exit', r));
      await first.stop();
      const k = await startKeyring({ home: keyringHome, unlocked: false });
      return {
        bus: k,
        stop: async () => {
          await k.stop();
          rmSync(keyringHome, { recursive: true, force: true });
        },
      };
    },
    why: LOCKED,
    fix: /To use the keychain, unlock it: log in to the desktop session .*gnome-keyring-daemon --unlock --components=secrets/,
  },
];

function mkdirTemp(prefix: string): string {
  const dir = join(tmpdir(), `${prefix}${randomBytes(6).toString('hex')}`);
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

for (const machine of NO_KEYCHAIN) {
  describe(`with ${machine.title}`, () => {
    let stopMachine: () => Promise<void>;
    let bus: Bus;
    beforeAll(async () => {
      const m = await machine.bus();
      bus = m.bus;
      stopMachine = m.stop;
    });
    afterAll(async () => {
      await stopMachine?.();
    });

    test('store = "auto" falls back to the file store, and status and doctor say why and how to fix it', async () => {
      const home = new KeychainHome(bus);
      home.writeConfig({ acme: devProfile(idp) }, { store: 'auto' });
      await home.deviceLogin();
      expect(Object.keys(home.fileEntries() ?? {})).toEqual(['acme']);
      const r = await home.run(['get-token']);
      expect(r.code).toBe(0);

      const status = await home.run(['status']);
      expect(status.code).toBe(0);
      expect(status.stdout).toContain(`\nstore    file (${join(home.stateDir, 'credentials.json')})\n`);
      // One line in status; the reason and the fix are in doctor.
      expect(status.stdout.split('\n').filter((l) => l.startsWith('warning  '))).toEqual([NO_KEYCHAIN_LINE]);

      const doctor = await home.run(['doctor']);
      const line = doctor.stdout.split('\n').find((l) => l.startsWith('! store: '));
      expect(line, doctor.stdout).toBeDefined();
      expect(line).toContain(`! store: file (${join(home.stateDir, 'credentials.json')}): `);
      expectFallbackWarning(line!, home, machine.why, machine.fix);
      expect(leaks({ status: status.stdout, doctor: doctor.stdout, stderr: home.stderrs.join('\n'), log: home.logText() })).toEqual([]);
      await home.dispose();
    });

    test('store migrate --to keyring fails saying why, and every entry stays in the file', async () => {
      const home = new KeychainHome(bus);
      home.writeConfig({ acme: devProfile(idp) }, { store: 'auto' });
      await home.deviceLogin();
      const before = home.fileEntries();
      const r = await home.run(['store', 'migrate', '--to', 'keyring']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`authd: ${machine.why}`);
      expect(home.fileEntries()).toEqual(before);
      const token = await home.run(['get-token']);
      expect(token.code).toBe(0);
      expect((await home.run(['status'])).stdout).toContain(`\nstore    file (${join(home.stateDir, 'credentials.json')})\n`);
      await home.dispose();
    });

    test('store = "keyring" refuses to start: get-token exits 5 saying why, and nothing is written to a file instead', async () => {
      const home = new KeychainHome(bus);
      home.writeConfig({ acme: devProfile(idp) }, { store: 'keyring' });
      const r = await home.run(['get-token']);
      expect(r.code).toBe(5);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`authd: the authd daemon failed to start: ${machine.why}`);
      if (machine.why === NO_DBUS || machine.why === EMPTY_DBUS) expect(r.stderr).toContain('DBUS_SESSION_BUS_ADDRESS');
      else expect(r.stderr).toContain('locked');
      expect(r.stderr).toContain('or set store = "file"');

      // Every command says the same; none silently keeps secrets in a file.
      const login = await home.run(['login', '--no-browser']);
      expect(login.code).toBe(5);
      expect(login.stderr).toContain(machine.why);
      expect((await home.run(['daemon', 'status'])).code).toBe(5);
      expect(existsSync(join(home.stateDir, 'credentials.json'))).toBe(false);
      expect(home.daemonPid()).toBeUndefined();
      await home.dispose();
    });
  });
}

describe('with a keychain that stops answering (gnome-keyring stopped with SIGSTOP)', () => {
  let keychain: KeyringSession;
  let home: KeychainHome;
  const ROTATED = `sk_live_${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    keychain = await startKeyring();
    home = new KeychainHome(keychain);
    home.writeConfig({ key: { flow: 'api_key', client_id: '' } }, { store: 'keyring' });
    expect((await home.run(['secret', 'set', 'key'], { input: API_KEY })).code).toBe(0);
    expect((await home.run(['get-token', '-p', 'key'])).stdout).toBe(`${API_KEY}\n`);
  });
  afterAll(async () => {
    keychain?.resume();
    await home?.dispose();
    await keychain?.stop();
  });

  test('secret set fails within seconds saying the keychain did not answer (not that it is locked); the daemon keeps serving, and recovers', async () => {
    keychain.pause();
    const t0 = Date.now();
    const r = await home.run(['secret', 'set', 'key'], { input: ROTATED });
    const ms = Date.now() - t0;
    expect(r.code).toBe(1);
    expect(ms).toBeLessThan(7000);
    // A stopped gnome-keyring is not a locked one: telling the user to unlock it sends them the wrong way.
    expect(r.stderr).toMatch(/^authd: The Secret Service keychain did not answer/);
    expect(r.stderr).not.toContain('locked');
    expect(r.stderr).not.toContain(ROTATED);

    // What the daemon already holds is still served.
    expect((await home.run(['get-token', '-p', 'key'])).stdout).toBe(`${API_KEY}\n`);

    keychain.resume();
    const again = await home.run(['secret', 'set', 'key'], { input: ROTATED });
    expect(again.code).toBe(0);
    expect((await home.run(['get-token', '-p', 'key'])).stdout).toBe(`${ROTATED}\n`);
    expect(keychainItem(keychain, 'secret:key')).toMatchObject({ secret: ROTATED });
    expect(leaks({ stderr: home.stderrs.join('\n'), log: home.logText() }, { 'the rotated API key': ROTATED })).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('authd store migrate', () => {
  let keychain: KeyringSession;
  let home: KeychainHome;
  let deviceGrants: number;
  let gitAccount: string;

  beforeAll(async () => {
    keychain = await startKeyring();
  });
  afterAll(async () => {
    await home?.dispose();
    await keychain?.stop();
  });

  test('with store = "file", a login, an API key and a git password all go to the credentials file, none to the keychain', async () => {
    home = new KeychainHome(keychain);
    home.writeConfig(profiles(), { store: 'file', default_profile: 'acme' });
    await home.deviceLogin();
    deviceGrants = idp.stats.deviceGrants;
    expect((await home.run(['secret', 'set', 'key'], { input: API_KEY })).code).toBe(0);
    expect((await home.git('store', GIT_CREDENTIAL)).code).toBe(0);
    const keys = Object.keys(home.fileEntries() ?? {}).sort();
    expect(keys).toHaveLength(3);
    expect(keys[0]).toBe('acme');
    expect(keys[1]).toMatch(/^git:[0-9a-f]{32}$/);
    expect(keys[2]).toBe('secret:key');
    gitAccount = keys[1]!;
    expect(keychainAccounts(keychain)).toEqual([]);
  });

  test('migrating to the store already in use exits 2 and says so', async () => {
    const r = await home.run(['store', 'migrate', '--to', 'file']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`authd: authd already keeps its secrets in the file store (${join(home.stateDir, 'credentials.json')})\n`);
    expect(Object.keys(home.fileEntries() ?? {})).toHaveLength(3);
  });

  test('--to keyring moves every entry into the keychain, empties the file, and updates store = in the config', async () => {
    const r = await home.run(['store', 'migrate', '--to', 'keyring']);
    expect(r.stderr).toBe('✓ Moved 3 entries from the file store to the keyring store\n  (set store = "keyring" in the config)\n');
    expect(r.code).toBe(0);
    expect(keychainAccounts(keychain)).toEqual(['acme', gitAccount, 'secret:key'].sort());
    expect(keychainItem(keychain, 'secret:key')).toMatchObject({ secret: API_KEY });
    expect(keychainItem(keychain, gitAccount)).toMatchObject({ git: { password: GIT_PASSWORD } });
    expect(home.fileEntries() ?? {}).toEqual({});
    const config = readFileSync(join(home.dir, 'config.toml'), 'utf8');
    expect(config).toMatch(/^store = "keyring"$/m);
    expect(config).not.toMatch(/^store = "file"$/m);
    const rt = refreshTokenIn(keychain);
    for (const [path, text] of Object.entries(home.stateFiles())) {
      expect(text.includes(rt), path).toBe(false);
      expect(text.includes(API_KEY), path).toBe(false);
      expect(text.includes(GIT_PASSWORD), path).toBe(false);
    }
  });

  test('after --to keyring, everything still works without a new login, also after a daemon restart', async () => {
    const status = await home.run(['status']);
    expect(status.stdout).toContain(`\nstore    ${KEYRING_STORE}\n`);
    const token = await home.run(['get-token']);
    expect(token.code).toBe(0);
    await tokenIsActive(token.stdout.trim());

    const pid = home.daemonPid()!;
    process.kill(pid, 'SIGTERM');
    expect(await until(() => gone(pid))).toBe(true);
    const again = await home.run(['get-token']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    await tokenIsActive(again.stdout.trim());
    expect(lastStart(home)).toMatchObject({ pid: home.daemonPid(), store: 'keyring' });
    expect((await home.run(['get-token', '-p', 'key'])).stdout).toBe(`${API_KEY}\n`);
    expect((await home.git('get', GIT_QUERY)).stdout).toContain(`password=${GIT_PASSWORD}\n`);
    expect(idp.stats.deviceGrants).toBe(deviceGrants);
    expect(home.fileEntries() ?? {}).toEqual({});
  });

  test('migrating to the keychain again exits 2 and says the secrets are already there', async () => {
    const r = await home.run(['store', 'migrate', '--to', 'keyring']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`authd: authd already keeps its secrets in the keyring store (Secret Service (service "authd"))\n`);
    expect(keychainAccounts(keychain)).toHaveLength(3);
  });

  test('--to file moves everything back: all in the file, nothing left under service "authd" in the keychain', async () => {
    const rt = refreshTokenIn(keychain);
    const r = await home.run(['store', 'migrate', '--to', 'file']);
    expect(r.stderr).toBe('✓ Moved 3 entries from the keyring store to the file store\n  (set store = "file" in the config)\n');
    expect(r.code).toBe(0);
    expect(keychainAccounts(keychain)).toEqual([]);
    expect(secretTool(keychain, ['search', '--all', 'service', 'authd']).stdout).toBe('');
    const entries = home.fileEntries() ?? {};
    expect(Object.keys(entries).sort()).toEqual(['acme', gitAccount, 'secret:key'].sort());
    expect(entries.acme).toMatchObject({ refresh_token: rt });
    expect(readFileSync(join(home.dir, 'config.toml'), 'utf8')).toMatch(/^store = "file"$/m);

    const status = await home.run(['status']);
    expect(status.stdout).toContain(`\nstore    file (${join(home.stateDir, 'credentials.json')})\n`);
    const token = await home.run(['get-token']);
    expect(token.code).toBe(0);
    await tokenIsActive(token.stdout.trim());
    expect((await home.run(['get-token', '-p', 'key'])).stdout).toBe(`${API_KEY}\n`);
    expect((await home.git('get', GIT_QUERY)).stdout).toContain(`password=${GIT_PASSWORD}\n`);
    expect(idp.stats.deviceGrants).toBe(deviceGrants);
  });

  test('no secret of the migration is in the log, status, stderr, or any process argv', async () => {
    expect((await home.run(['get-token'])).code).toBe(0);
    expect(gone(home.daemonPid()!)).toBe(false);
    const argv = allCmdlines();
    const status = await home.run(['status']);
    expect(leaks({ argv, status: status.stdout, stderr: home.stderrs.join('\n'), log: home.logText() })).toEqual([]);
  });
});

describe('authd store migrate after a keychain appears (store = "auto")', () => {
  let keychain: KeyringSession;
  let home: KeychainHome;

  beforeAll(async () => {
    keychain = await startKeyring();
  });
  afterAll(async () => {
    await home?.dispose();
    await keychain?.stop();
  });

  test('secrets saved without D-Bus stay in the file when a keychain appears, and status says to migrate', async () => {
    home = new KeychainHome('none');
    home.writeConfig(profiles(), { default_profile: 'acme' }); // no store line: auto
    await home.deviceLogin();
    expect((await home.run(['secret', 'set', 'key'], { input: API_KEY })).code).toBe(0);
    expect((await home.git('store', GIT_CREDENTIAL)).code).toBe(0);
    expect(Object.keys(home.fileEntries() ?? {})).toHaveLength(3);
    await home.stop();

    home.bus = keychain;
    const status = await home.run(['status']);
    expect(status.stdout).toContain(`\nstore    file (${join(home.stateDir, 'credentials.json')})\n`);
    expect(status.stdout).toContain(
      '\nwarning  a keychain is available, but secrets stay in a 0600 file until `authd store migrate --to keyring` (see `authd doctor`)\n',
    );
    const doctor = await home.run(['doctor']);
    expect(doctor.stdout).toContain(
      `! store: file (${join(home.stateDir, 'credentials.json')}): The file ${join(home.stateDir, 'credentials.json')} holds 3 saved entries, so authd keeps using it although the keychain (Secret Service (service "authd")) is available. ` +
        'Run `authd store migrate --to keyring` to move them into the keychain, or set store = "file" to silence this.\n',
    );
    expect(keychainAccounts(keychain)).toEqual([]);
  });

  test('store migrate --to keyring moves them, leaves a config without a store line alone, and auto then uses the keychain', async () => {
    const grants = idp.stats.deviceGrants;
    const before = readFileSync(join(home.dir, 'config.toml'), 'utf8');
    const r = await home.run(['store', 'migrate', '--to', 'keyring']);
    expect(r.stderr).toBe('✓ Moved 3 entries from the file store to the keyring store\n');
    expect(r.code).toBe(0);
    expect(readFileSync(join(home.dir, 'config.toml'), 'utf8')).toBe(before);
    expect(keychainAccounts(keychain)).toHaveLength(3);
    expect(home.fileEntries() ?? {}).toEqual({});

    await home.stop();
    const status = await home.run(['status']);
    expect(status.stdout).toContain(`\nstore    ${KEYRING_STORE}\n`);
    expect(status.stdout).not.toMatch(/^warning/m);
    const token = await home.run(['get-token']);
    expect(token.code).toBe(0);
    await tokenIsActive(token.stdout.trim());
    expect(idp.stats.deviceGrants).toBe(grants);
    expect(leaks({ status: status.stdout, stderr: home.stderrs.join('\n'), log: home.logText() })).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

test('authd status on a machine with a keychain and on one without (also written to /tmp/authd-status-*.txt)', async () => {
  const keychain = await startKeyring();
  try {
    const outputs: Record<'with' | 'without', string> = { with: '', without: '' };
    for (const which of ['with', 'without'] as const) {
      const home = new KeychainHome(which === 'with' ? keychain : 'none');
      home.writeConfig({ acme: devProfile(idp), key: { flow: 'api_key', client_id: '' } }, { default_profile: 'acme' });
      await home.deviceLogin();
      expect((await home.run(['secret', 'set', 'key'], { input: API_KEY })).code).toBe(0);
      const token = (await home.run(['get-token'])).stdout.trim();
      await tokenIsActive(token);
      const status = await home.run(['status']);
      expect(status.code).toBe(0);
      outputs[which] = status.stdout;
      expect(status.stdout).toMatch(/^daemon {3}running, pid \d+, up \S+, version \S+\n/);
      expect(status.stdout).toMatch(/\*\s+acme\s+device\s+logged in\s+alice\s+in \S+\s+\S{4}…\S{4}/);
      expect(status.stdout).toMatch(/key\s+api_key\s+logged in\s+-\s+-\s+sk_l…/);
      expect(status.stdout).toContain(`${token.slice(0, 4)}…${token.slice(-4)}`);
      expect(leaks({ status: status.stdout })).toEqual([]);
      if (which === 'with') {
        expect(status.stdout).toContain(`\nstore    ${KEYRING_STORE}\n`);
        expect(status.stdout).not.toMatch(/^warning/m);
      } else {
        expect(status.stdout).toContain(`\nstore    file (${join(home.stateDir, 'credentials.json')})\n`);
        expect(status.stdout.split('\n').filter((l) => l.startsWith('warning  '))).toEqual([NO_KEYCHAIN_LINE]);
      }
      await home.dispose();
    }
    writeFileSync('/tmp/authd-status-with-keychain.txt', outputs.with);
    writeFileSync('/tmp/authd-status-without-keychain.txt', outputs.without);
    console.log(`authd status, with a keychain:\n${outputs.with}\nauthd status, without one:\n${outputs.without}`);
  } finally {
    await keychain.stop();
  }
});
