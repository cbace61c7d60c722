// authd as git's storage helper for every host no profile maps: driven by the real git on this
// machine (`git credential approve|fill|reject`), and by hand with the bytes git — or something
// hostile — could send. The reference is git's own credential-store / credential-cache semantics.
//
// What git 2.39 (Debian's) really passes, checked with a probe helper that logs its stdin:
//  - approve → `store` gets protocol, host, [path], username, password only: password_expiry_utc,
//    oauth_refresh_token, wwwauth[], capability[] given to `git credential approve` are dropped
//    (those attributes arrived in git 2.40, 2.41 and 2.46);
//  - fill → `get` gets protocol, host, and path only with credential.useHttpPath (for http(s) git
//    strips the path otherwise); of the helper's answer git keeps username and password only;
//  - reject → `erase` gets protocol, host, [path], username (`username=` when empty), [password];
//  - a client-certificate passphrase is a credential with protocol=cert, host= (empty), path, username= .
// Where 2.39 drops an attribute, the assertion drives bin/git-credential-authd directly (said where).
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import type { GitEntry } from '../src/daemon/store/types.js';
import { Home } from './support/harness.js';

const HELPER = resolve(__dirname, '../bin/git-credential-authd');
/** git runs an absolute-path helper through the shell: quote it as a `!` snippet if it needs quoting. */
const HELPER_CONFIG = /^[\w./-]+$/.test(HELPER) ? HELPER : `!'${HELPER.replaceAll("'", `'\\''`)}'`;

type Fields = [string, string][];

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** Still running (or its pipes still held open) when the time was up. */
  hung: boolean;
}

/** A git credential as the file store keeps it, with any field the daemon may add. */
type StoredEntry = GitEntry & Record<string, unknown>;

/** Every secret a test made up: none may appear in the log or on any stderr. */
const secrets = new Set<string>();

function secret(label: string): string {
  const s = `${label}-${randomBytes(8).toString('hex')}`;
  secrets.add(s);
  return s;
}

/** Runs a process to the end: resolves when it exited AND closed its pipes (a child holding them is a hang). */
function runProcess(
  cmd: string, args: string[], env: Record<string, string>, input: string | Buffer,
  opts: { keepStdinOpen?: boolean; timeoutMs?: number } = {},
): Promise<Ran> {
  return new Promise((done) => {
    const started = Date.now();
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let finished = false;
    const finish = (code: number | null, hung: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (!child.stdin.destroyed) child.stdin.destroy();
      done({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), ms: Date.now() - started, hung });
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(null, true);
    }, opts.timeoutMs ?? 20_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    // A helper that refuses a huge input exits before reading it all: the write then fails with EPIPE.
    child.stdin.on('error', () => undefined);
    child.on('close', (code) => finish(code, false));
    child.stdin.write(input);
    if (!opts.keepStdinOpen) child.stdin.end();
  });
}

function credentialText(fields: Fields): string {
  return `${fields.map(([k, v]) => `${k}=${v}\n`).join('')}\n`;
}

/** key=value lines as git would read them (the last of a repeated key wins, as in git). */
function parseAnswer(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** A user of git and authd: an empty HOME, no system config, no prompts, this Home's AUTHD_HOME. */
class GitUser {
  readonly gitHome = mkdtempSync(join(tmpdir(), 'authd-gh.'));

  constructor(readonly home: Home) {}

  get env(): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: this.gitHome,
      AUTHD_HOME: this.home.dir,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_TERMINAL_PROMPT: '0',
      // Set and empty: git neither runs an askpass program nor falls back to SSH_ASKPASS.
      GIT_ASKPASS: '',
      LC_ALL: 'C',
    };
  }

  /** `git credential ACTION` with authd as the only helper. */
  async git(action: 'approve' | 'fill' | 'reject', fields: Fields, opts: { useHttpPath?: boolean; timeoutMs?: number } = {}): Promise<Ran> {
    const args = ['-c', 'credential.helper=', '-c', `credential.helper=${HELPER_CONFIG}`];
    if (opts.useHttpPath) args.push('-c', 'credential.useHttpPath=true');
    const r = await runProcess('git', [...args, 'credential', action], this.env, credentialText(fields), { timeoutMs: opts.timeoutMs });
    this.home.stderrs.push(r.stderr);
    return r;
  }

  /** bin/git-credential-authd ARGS with exactly these bytes on stdin. */
  async helper(args: string[], input: string | Buffer, opts: { keepStdinOpen?: boolean; timeoutMs?: number } = {}): Promise<Ran> {
    const r = await runProcess(HELPER, args, this.env, input, opts);
    this.home.stderrs.push(r.stderr);
    return r;
  }

  async approve(fields: Fields, opts: { useHttpPath?: boolean } = {}): Promise<void> {
    quiet(await this.git('approve', fields, opts));
  }

  async reject(fields: Fields, opts: { useHttpPath?: boolean } = {}): Promise<void> {
    quiet(await this.git('reject', fields, opts));
  }

  /** A fill that git answered from authd: what git printed. */
  async fill(fields: Fields, opts: { useHttpPath?: boolean } = {}): Promise<Record<string, string>> {
    const r = await this.git('fill', fields, opts);
    quiet(r);
    return parseAnswer(r.stdout);
  }

  /** A fill authd had nothing for: git, unable to prompt, gives up at once, and authd said nothing. */
  async fillFindsNothing(fields: Fields, opts: { useHttpPath?: boolean } = {}): Promise<void> {
    const r = await this.git('fill', fields, opts);
    expect(r.hung, 'git credential fill hung').toBe(false);
    expect(r.code).not.toBe(0);
    expect(r.stdout).not.toContain('password=');
    expect(r.stderr).not.toContain('authd');
  }

  /** The helper's direct answer to get. */
  async get(fields: Fields): Promise<Record<string, string>> {
    const r = await this.helper(['get'], credentialText(fields));
    quiet(r);
    return parseAnswer(r.stdout);
  }

  async store(fields: Fields): Promise<void> {
    quiet(await this.helper(['store'], credentialText(fields)));
  }

  dispose(): void {
    rmSync(this.gitHome, { recursive: true, force: true });
  }
}

function quiet(r: Ran): void {
  expect(r.hung, 'the command hung').toBe(false);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
}

/** A clean refusal: exit 1, one line on stderr, no stack trace, nothing on stdout, no secret echoed. */
function cleanError(r: Ran, ...notEchoed: string[]): void {
  expect(r.hung, 'the helper hung').toBe(false);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^authd: [^\n]+\n$/);
  for (const s of notEchoed) expect(r.stderr).not.toContain(s);
}

function storeFile(home: Home): string {
  return join(home.stateDir, 'credentials.json');
}

/** The git credentials in the store file, read the way anyone with file access would. */
function storedEntries(home: Home): StoredEntry[] {
  if (!existsSync(storeFile(home))) return [];
  const data = JSON.parse(readFileSync(storeFile(home), 'utf8')) as { entries: Record<string, { git?: StoredEntry }> };
  return Object.values(data.entries).flatMap((e) => (e.git ? [e.git] : []));
}

async function daemonPid(home: Home): Promise<number> {
  const r = await home.run(['status', '--json'], { env: { AUTHD_NO_AUTOSTART: '1' } });
  expect(r.code, `authd status: ${r.stderr}`).toBe(0);
  return (JSON.parse(r.stdout) as { daemon: { pid: number } }).daemon.pid;
}

/** A config with a mapped host, so that "unmapped" means something; its provider is never contacted. */
function writeConfig(home: Home): void {
  home.writeConfig(
    { acme: { issuer: 'https://idp.acme.invalid', client_id: 'authd-cli', flow: 'device', git_hosts: ['git.acme.invalid'] } },
    { store: 'file' },
  );
}

function leaksIn(home: Home): string[] {
  const texts = { 'the state files (log)': home.stateFilesText(), 'a stderr': home.stderrs.join('\n') };
  const leaks: string[] = [];
  for (const s of secrets) {
    for (const [where, text] of Object.entries(texts)) if (text.includes(s)) leaks.push(`${where} contains ${s.slice(0, 12)}…`);
  }
  return leaks;
}

/** A fresh home and git user for one test; at the end, no secret of it is in the log or on stderr. */
function setup(): { home: Home; u: GitUser } {
  const home = new Home('authd-gs.');
  writeConfig(home);
  const u = new GitUser(home);
  onTestFinished(async () => {
    const leaks = leaksIn(home);
    await home.dispose();
    u.dispose();
    expect(leaks).toEqual([]);
  });
  return { home, u };
}

const https = (host: string): Fields => [['protocol', 'https'], ['host', host]];

describe('git credential approve | fill | reject through authd', () => {
  test('a password git approved is filled for the same protocol and host, not for another protocol, host or port', async () => {
    const { u } = setup();
    const pw = secret('pw');
    await u.approve([...https('git.example.com'), ['username', 'alice'], ['password', pw]]);

    const got = await u.fill(https('git.example.com'));
    expect(got).toMatchObject({ protocol: 'https', host: 'git.example.com', username: 'alice', password: pw });
    // git parses a url= into the same fields.
    expect(await u.fill([['url', 'https://git.example.com/team/repo.git']])).toMatchObject({ username: 'alice', password: pw });

    await u.fillFindsNothing([['protocol', 'http'], ['host', 'git.example.com']]);
    await u.fillFindsNothing(https('other.example.com'));
    await u.fillFindsNothing(https('git.example.com:8443'));
    await u.fillFindsNothing(https('example.com'));
  });

  test('a fill with nothing stored fails at once instead of prompting or hanging', async () => {
    const { u } = setup();
    const r = await u.git('fill', https('nothing.example.com'), { timeoutMs: 15_000 });
    expect(r.hung).toBe(false);
    expect(r.code).toBe(128);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('terminal prompts disabled');
    expect(r.stderr).not.toContain('authd');
  });

  test('with useHttpPath each repository has its own password; a fill without a path takes the newest for the host', async () => {
    const { u } = setup();
    const pwA = secret('pwA');
    const pwB = secret('pwB');
    await u.approve([['url', 'https://git.example.com/team/a.git'], ['username', 'alice'], ['password', pwA]], { useHttpPath: true });
    await u.approve([['url', 'https://git.example.com/team/b.git'], ['username', 'alice'], ['password', pwB]], { useHttpPath: true });
    expect(storedEntries(u.home).map((e) => e.path).sort()).toEqual(['team/a.git', 'team/b.git']);

    expect(await u.fill([['url', 'https://git.example.com/team/a.git']], { useHttpPath: true })).toMatchObject({ path: 'team/a.git', password: pwA });
    expect(await u.fill([['url', 'https://git.example.com/team/b.git']], { useHttpPath: true })).toMatchObject({ path: 'team/b.git', password: pwB });
    await u.fillFindsNothing([['url', 'https://git.example.com/team/c.git']], { useHttpPath: true });

    // Without useHttpPath git sends no path: the path is a wildcard, and the newest entry answers.
    expect(await u.fill([['url', 'https://git.example.com/team/a.git']])).toMatchObject({ username: 'alice', password: pwB });

    // A credential stored for the whole host is not one for a path git names (git's credential_match).
    const pwHost = secret('pwHost');
    await u.approve([...https('host-only.example.com'), ['username', 'bob'], ['password', pwHost]]);
    await u.fillFindsNothing([['url', 'https://host-only.example.com/x.git']], { useHttpPath: true });
    expect(await u.fill([['url', 'https://host-only.example.com/x.git']])).toMatchObject({ password: pwHost });
  });

  test('several usernames on one host: git gets the one it names, and the newest when it names none', async () => {
    const { u } = setup();
    const pwAlice = secret('alice');
    const pwBob = secret('bob');
    await u.approve([...https('git.example.com'), ['username', 'alice'], ['password', pwAlice]]);
    await u.approve([...https('git.example.com'), ['username', 'bob'], ['password', pwBob]]);

    expect(await u.fill([...https('git.example.com'), ['username', 'alice']])).toMatchObject({ username: 'alice', password: pwAlice });
    expect(await u.fill([...https('git.example.com'), ['username', 'bob']])).toMatchObject({ username: 'bob', password: pwBob });
    expect(await u.fill(https('git.example.com'))).toMatchObject({ username: 'bob', password: pwBob });
    // A username not stored: git has a username but no password, and may not prompt.
    await u.fillFindsNothing([...https('git.example.com'), ['username', 'carol']]);

    // Approving alice again makes hers the newest.
    await u.approve([...https('git.example.com'), ['username', 'alice'], ['password', pwAlice]]);
    expect(await u.fill(https('git.example.com'))).toMatchObject({ username: 'alice', password: pwAlice });
  });

  test('an empty username (username=) is a value of its own, not "any user"', async () => {
    const { u } = setup();
    const pwEmpty = secret('empty');
    const pwAlice = secret('alice');
    await u.approve([...https('git.example.com'), ['username', ''], ['password', pwEmpty]]);
    await u.approve([...https('git.example.com'), ['username', 'alice'], ['password', pwAlice]]);
    expect(storedEntries(u.home).map((e) => e.username).sort()).toEqual(['', 'alice']);

    expect(await u.fill([...https('git.example.com'), ['username', '']])).toMatchObject({ username: '', password: pwEmpty });
    expect(await u.fill([...https('git.example.com'), ['username', 'alice']])).toMatchObject({ password: pwAlice });

    // Rejecting username= erases that entry only.
    await u.reject([...https('git.example.com'), ['username', '']]);
    await u.fillFindsNothing([...https('git.example.com'), ['username', '']]);
    expect(await u.fill([...https('git.example.com'), ['username', 'alice']])).toMatchObject({ password: pwAlice });
  });

  test('approving again for the same protocol, host, path and username replaces the password', async () => {
    const { u } = setup();
    const old = secret('old');
    const fresh = secret('new');
    await u.approve([...https('git.example.com'), ['username', 'alice'], ['password', old]]);
    await u.approve([...https('git.example.com'), ['username', 'alice'], ['password', fresh]]);
    expect(await u.fill([...https('git.example.com'), ['username', 'alice']])).toMatchObject({ password: fresh });
    const entries = storedEntries(u.home);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ protocol: 'https', host: 'git.example.com', username: 'alice', password: fresh });
    expect(readFileSync(storeFile(u.home), 'utf8')).not.toContain(old);
  });

  test('reject erases every matching entry, but keeps one whose stored password differs from the one git rejects', async () => {
    const { u } = setup();
    const pwAlice = secret('alice');
    const pwBob = secret('bob');
    const pwCarol = secret('carol');
    await u.approve([...https('git.example.com'), ['username', 'alice'], ['password', pwAlice]]);
    await u.approve([...https('git.example.com'), ['username', 'bob'], ['password', pwBob]]);
    await u.approve([...https('other.example.com'), ['username', 'carol'], ['password', pwCarol]]);

    // git rejects a password alice no longer has: the one stored (changed since) stays.
    await u.reject([...https('git.example.com'), ['username', 'alice'], ['password', secret('stale')]]);
    expect(await u.fill([...https('git.example.com'), ['username', 'alice']])).toMatchObject({ password: pwAlice });

    // No username, bob's password: only bob's entry matches.
    await u.reject([...https('git.example.com'), ['password', pwBob]]);
    await u.fillFindsNothing([...https('git.example.com'), ['username', 'bob']]);
    expect(await u.fill([...https('git.example.com'), ['username', 'alice']])).toMatchObject({ password: pwAlice });

    // Protocol and host only: everything for that host goes, other hosts stay.
    await u.approve([...https('git.example.com'), ['username', 'bob'], ['password', pwBob]]);
    await u.reject(https('git.example.com'));
    await u.fillFindsNothing(https('git.example.com'));
    expect(storedEntries(u.home).map((e) => e.username)).toEqual(['carol']);
    expect(await u.fill(https('other.example.com'))).toMatchObject({ username: 'carol', password: pwCarol });

    // Paths: a reject without a path erases the host's per-repository entries too.
    await u.approve([['url', 'https://paths.example.com/a.git'], ['username', 'alice'], ['password', pwAlice]], { useHttpPath: true });
    await u.approve([['url', 'https://paths.example.com/b.git'], ['username', 'alice'], ['password', pwAlice]], { useHttpPath: true });
    await u.reject([['url', 'https://paths.example.com/a.git'], ['username', 'alice']], { useHttpPath: true });
    expect(storedEntries(u.home).filter((e) => e.host === 'paths.example.com').map((e) => e.path)).toEqual(['b.git']);
    await u.reject([...https('paths.example.com'), ['username', 'alice']]);
    expect(storedEntries(u.home).filter((e) => e.host === 'paths.example.com')).toEqual([]);
  });

  test('ten approves at once for one host all land', async () => {
    const { u } = setup();
    const users = Array.from({ length: 10 }, (_, i) => [`user${i}`, secret(`pw${i}`)] as const);
    await Promise.all(users.map(([name, pw]) => u.approve([...https('busy.example.com'), ['username', name], ['password', pw]])));
    expect(storedEntries(u.home)).toHaveLength(10);
    for (const [name, pw] of users.slice(0, 3)) {
      expect(await u.fill([...https('busy.example.com'), ['username', name]])).toMatchObject({ password: pw });
    }
  });

  test('password_expiry_utc and oauth_refresh_token given on store come back on get', async () => {
    const { u } = setup();
    const pw = secret('pw');
    const refresh = secret('refresh');
    const expiry = String(Math.floor(Date.now() / 1000) + 3600);
    // git 2.39 drops both attributes (they are git 2.40's) before calling the helper, and drops
    // them from the helper's answer: the round trip is asserted on the helper itself.
    await u.store([...https('git.example.com'), ['username', 'alice'], ['password', pw], ['password_expiry_utc', expiry], ['oauth_refresh_token', refresh]]);
    expect(await u.get(https('git.example.com'))).toEqual({ username: 'alice', password: pw, password_expiry_utc: expiry, oauth_refresh_token: refresh });
    // Real git still gets the password from such an entry.
    expect(await u.fill(https('git.example.com'))).toMatchObject({ username: 'alice', password: pw });

    // Through real git: whatever this git passes on approve comes back (git >= 2.40 passes both;
    // 2.39 passes neither, and authd must not invent them).
    const pw2 = secret('pw2');
    const refresh2 = secret('refresh2');
    await u.approve([...https('git2.example.com'), ['username', 'bob'], ['password', pw2], ['password_expiry_utc', expiry], ['oauth_refresh_token', refresh2]]);
    const passes = gitAtLeast(2, 40);
    const back = await u.get(https('git2.example.com'));
    expect(back).toEqual(passes
      ? { username: 'bob', password: pw2, password_expiry_utc: expiry, oauth_refresh_token: refresh2 }
      : { username: 'bob', password: pw2 });
  });

  test('an entry past its expiry gives no password, only its username; an older unexpired one for another user still is returned', async () => {
    const { u } = setup();
    const pwAlice = secret('alice');
    const pwBob = secret('bob');
    await u.approve([...https('git.example.com'), ['username', 'alice'], ['password', pwAlice]]);
    // Stored through the helper: git 2.39 would drop password_expiry_utc on approve.
    await u.store([...https('git.example.com'), ['username', 'bob'], ['password', pwBob], ['password_expiry_utc', String(Math.floor(Date.now() / 1000) - 60)]]);

    expect(await u.get([...https('git.example.com'), ['username', 'bob']])).toEqual({ username: 'bob' });
    await u.fillFindsNothing([...https('git.example.com'), ['username', 'bob']]);
    expect(await u.fill(https('git.example.com'))).toMatchObject({ username: 'alice', password: pwAlice });

    // One that expires in a few seconds is returned now and not after.
    const pwSoon = secret('soon');
    const soon = Math.floor(Date.now() / 1000) + 4;
    await u.store([...https('soon.example.com'), ['username', 'carol'], ['password', pwSoon], ['password_expiry_utc', String(soon)]]);
    expect(await u.fill(https('soon.example.com'))).toMatchObject({ password: pwSoon });
    await new Promise((r) => setTimeout(r, soon * 1000 - Date.now() + 200));
    await u.fillFindsNothing(https('soon.example.com'));
  });

  test('after its expiry an entry still gives the next helper its username and oauth_refresh_token, never the password', async () => {
    const { u } = setup();
    const pw = secret('expired');
    const refresh = secret('refresh');
    await u.store([...https('expired.example.com'), ['username', 'dave'], ['password', pw],
      ['password_expiry_utc', String(Math.floor(Date.now() / 1000) - 60)], ['oauth_refresh_token', refresh]]);
    // As git's own cache helper leaves it: what a helper such as git-credential-oauth needs to refresh.
    expect(await u.get(https('expired.example.com'))).toEqual({ username: 'dave', oauth_refresh_token: refresh });
  });

  test('a credential approved with ephemeral=1 is not stored, as git\'s cache declines it', async () => {
    const { u } = setup();
    const pw = secret('ephemeral');
    await u.store([...https('eph.example.com'), ['username', 'erin'], ['password', pw], ['ephemeral', '1']]);
    expect(await u.get(https('eph.example.com'))).toEqual({});
    await u.store([...https('eph.example.com'), ['username', 'erin'], ['password', pw], ['ephemeral', '0']]);
    expect(await u.get(https('eph.example.com'))).toMatchObject({ username: 'erin', password: pw });
  });

  test('a client-certificate passphrase (protocol=cert, empty host and username, a path) is kept as git\'s store keeps it', async () => {
    // What git's http.c asks for when http.sslCertPasswordProtected is set.
    const { u } = setup();
    const pw = secret('certpw');
    const cert: Fields = [['protocol', 'cert'], ['host', ''], ['path', '/home/me/client.p12'], ['username', '']];
    await u.approve([...cert, ['password', pw]]);
    expect(await u.fill(cert)).toMatchObject({ username: '', password: pw });
  });

  test('the credentials survive a daemon restart, sit in the store file (0600) and never in the log', async () => {
    const { home, u } = setup();
    const pw = secret('pw');
    const refresh = secret('refresh');
    await u.approve([...https('git.example.com'), ['username', 'alice'], ['password', pw]]);
    await u.store([...https('tokens.example.com'), ['username', 'bob'], ['password', secret('pw2')], ['oauth_refresh_token', refresh]]);
    const before = await daemonPid(home);

    await home.stop();
    expect(await u.fill(https('git.example.com'))).toMatchObject({ username: 'alice', password: pw });
    expect((await u.get(https('tokens.example.com'))).oauth_refresh_token).toBe(refresh);
    expect(await daemonPid(home)).not.toBe(before);

    const file = readFileSync(storeFile(home), 'utf8');
    expect(file).toContain(pw);
    expect(file).toContain(refresh);
    expect(statSync(storeFile(home)).mode & 0o077).toBe(0);
    expect(home.logText()).not.toBe('');
    expect(home.stateFilesText()).not.toContain(pw);
    expect(home.stateFilesText()).not.toContain(refresh);
  });

  test('git credential approve autostarts the daemon and returns promptly: the daemon holds none of git\'s pipes', async () => {
    const { home, u } = setup();
    expect(home.daemonPid()).toBeUndefined();
    const pw = secret('pw');
    // runProcess waits for git's stdout and stderr to close: a daemon that inherited them would hang it.
    const approve = await u.git('approve', [...https('git.example.com'), ['username', 'alice'], ['password', pw]], { timeoutMs: 15_000 });
    quiet(approve);
    expect(approve.ms).toBeLessThan(10_000);
    const pid = await daemonPid(home);
    if (existsSync(`/proc/${pid}/fd`)) {
      expect(readlinkSync(`/proc/${pid}/fd/0`)).toBe('/dev/null');
      expect(readlinkSync(`/proc/${pid}/fd/1`)).toBe('/dev/null');
    }

    // With the daemon up, a fill is a quick round trip (one Node start).
    const fill = await u.git('fill', https('git.example.com'), { timeoutMs: 15_000 });
    quiet(fill);
    expect(parseAnswer(fill.stdout).password).toBe(pw);
    expect(fill.ms).toBeLessThan(5_000);
    expect(await daemonPid(home)).toBe(pid);
  });
});

describe('attributes newer git sends', () => {
  test('capability[], wwwauth[], state[], authtype and the like are ignored for an unmapped host', async () => {
    const { home, u } = setup();
    const pw = secret('pw');
    const newer: Fields = [
      ['capability[]', 'authtype'],
      ['capability[]', 'state'],
      ['wwwauth[]', 'Basic realm="git"'],
      ['wwwauth[]', 'Bearer authorize_uri="https://login.example.com",error="invalid_token"'],
      ['state[]', 'helper:abc'],
      ['continue', '1'],
      ['ephemeral', '0'],
      ['some-future-key', 'x=y'],
    ];
    await u.store([...https('git.example.com'), ...newer, ['username', 'alice'], ['password', pw], ['authtype', 'Basic'], ['credential', secret('cred')]]);
    const entries = storedEntries(home);
    expect(entries).toHaveLength(1);
    expect(Object.keys(entries[0]!).sort()).toEqual(['host', 'password', 'protocol', 'username']);

    const plain = await u.helper(['get'], credentialText(https('git.example.com')));
    const fancy = await u.helper(['get'], credentialText([...newer, ...https('git.example.com')]));
    quiet(plain);
    quiet(fancy);
    expect(plain.stdout).toBe(`username=alice\npassword=${pw}\n`);
    expect(fancy.stdout).toBe(plain.stdout);

    // An erase with them erases as without them.
    quiet(await u.helper(['erase'], credentialText([...newer, ...https('git.example.com'), ['username', 'alice'], ['password', pw]])));
    expect(storedEntries(home)).toEqual([]);
  });

  test('a store without username or password (newer git\'s authtype credential) is ignored quietly, as git\'s store does', async () => {
    const { home, u } = setup();
    const r = await u.helper(['store'], credentialText([
      ['capability[]', 'authtype'], ...https('git.example.com'), ['authtype', 'Bearer'], ['credential', secret('bearer')],
    ]));
    quiet(r);
    expect(r.stdout).toBe('');
    expect(storedEntries(home)).toEqual([]);
    const noPassword = await u.helper(['store'], credentialText([...https('git.example.com'), ['username', 'alice']]));
    quiet(noPassword);
    expect(storedEntries(home)).toEqual([]);
  });
});

describe('protocol hostility: bytes git would never send, and the daemon unharmed', () => {
  let home: Home;
  let u: GitUser;
  let pid: number;
  const canary = secret('canary');

  beforeAll(async () => {
    home = new Home('authd-gx.');
    writeConfig(home);
    u = new GitUser(home);
    await u.store([...https('canary.example.com'), ['username', 'canary'], ['password', canary]]);
    pid = await daemonPid(home);
  });

  afterAll(async () => {
    const leaks = leaksIn(home);
    await home?.dispose();
    u?.dispose();
    expect(leaks).toEqual([]);
  });

  /** Same daemon, still answering, still holding what it held. */
  async function unharmed(): Promise<void> {
    expect(await daemonPid(home)).toBe(pid);
    expect(await u.get(https('canary.example.com'))).toEqual({ username: 'canary', password: canary });
  }

  test('input that ends without a blank line (EOF) is read to its last byte', async () => {
    const pw = secret('eof');
    quiet(await u.helper(['store'], `protocol=https\nhost=eof.example.com\nusername=alice\npassword=${pw}`));
    expect(await u.get(https('eof.example.com'))).toEqual({ username: 'alice', password: pw });
    const r = await u.helper(['get'], 'protocol=https\nhost=eof.example.com');
    quiet(r);
    expect(r.stdout).toBe(`username=alice\npassword=${pw}\n`);
    await unharmed();
  });

  test('the answer comes and the helper exits after the blank line, even while stdin stays open', async () => {
    const r = await u.helper(['get'], credentialText(https('canary.example.com')), { keepStdinOpen: true, timeoutMs: 8_000 });
    expect(r.hung, 'the helper waited for EOF after the blank line').toBe(false);
    quiet(r);
    expect(parseAnswer(r.stdout)).toEqual({ username: 'canary', password: canary });
    await unharmed();
  });

  test.each([
    ['20 KB', 20_000],
    ['1 MB', 1_000_000],
  ])('a %s value is stored whole or refused in one line, never cut and never echoed', async (_label, size) => {
    const mark = secret('big');
    const value = `${mark}${'x'.repeat(size - mark.length)}`;
    const r = await u.helper(['store'], credentialText([...https('big.example.com'), ['username', `u${size}`], ['password', value]]));
    expect(r.hung).toBe(false);
    if (r.code === 0) {
      quiet(r);
      expect((await u.get([...https('big.example.com'), ['username', `u${size}`]])).password).toBe(value);
    } else {
      cleanError(r, mark);
      expect(storedEntries(home).filter((e) => e.username === `u${size}`)).toEqual([]);
    }
    // The same value on get: an answer or a clean error.
    const g = await u.helper(['get'], credentialText([...https('big.example.com'), ['username', value]]));
    if (g.code !== 0) cleanError(g, mark);
    else quiet(g);
    await unharmed();
  });

  test('a NUL byte, in a value or a key, is refused in one line without echoing the secret', async () => {
    const mark = secret('nul');
    const inValue = await u.helper(['store'], Buffer.from(`protocol=https\nhost=nul.example.com\nusername=alice\npassword=${mark}\0tail\n\n`));
    cleanError(inValue, mark);
    const inKey = await u.helper(['store'], Buffer.from(`protocol=https\nhost=nul.example.com\nusername=alice\npass\0word=${mark}\n\n`));
    cleanError(inKey, mark);
    cleanError(await u.helper(['get'], Buffer.from('protocol=https\nhost=canary.example.com\0\n\n')));
    expect(storedEntries(home).filter((e) => e.host.startsWith('nul.'))).toEqual([]);
    await unharmed();
  });

  test('a line without "=" is refused in one line without echoing it', async () => {
    const mark = secret('noeq');
    cleanError(await u.helper(['store'], `protocol=https\nhost=noeq.example.com\nusername=alice\n${mark}\n\n`), mark);
    await unharmed();
  });

  test('unknown keys are ignored', async () => {
    const pw = secret('unknown');
    quiet(await u.helper(['store'], credentialText([
      ['x-unknown', '1'], ...https('unknown.example.com'), ['PASSWORD', 'not-the-password'], ['username', 'alice'],
      ['password', pw], ['url', 'https://elsewhere.example.com/'], ['weird key', 'v'], ['[]', ''],
    ])));
    expect(await u.get([...https('unknown.example.com'), ['x-unknown', '2']])).toEqual({ username: 'alice', password: pw });
    await u.fillFindsNothing(https('elsewhere.example.com'));
    await unharmed();
  });

  test('"=" inside values round-trips, through the helper and through git', async () => {
    const pw = `a=b==c-${secret('eq')}=`;
    await u.store([...https('eq.example.com'), ['username', 'u=v'], ['password', pw]]);
    expect(await u.get([...https('eq.example.com'), ['username', 'u=v']])).toEqual({ username: 'u=v', password: pw });
    expect(await u.fill([...https('eq.example.com'), ['username', 'u=v']])).toMatchObject({ username: 'u=v', password: pw });

    const pw2 = `=${secret('lead')} with  spaces `;
    await u.approve([...https('eq2.example.com'), ['username', 'ü ser'], ['password', pw2]]);
    expect(await u.fill(https('eq2.example.com'))).toMatchObject({ username: 'ü ser', password: pw2 });
    await unharmed();
  });

  test('CRLF line endings are read as git reads them: the CR is not part of the value', async () => {
    const pw = secret('crlf');
    quiet(await u.helper(['store'], `protocol=https\r\nhost=crlf.example.com\r\nusername=alice\r\npassword=${pw}\r\n\r\n`));
    expect(storedEntries(home).find((e) => e.host === 'crlf.example.com')).toMatchObject({ username: 'alice', password: pw });
    const r = await u.helper(['get'], 'protocol=https\r\nhost=crlf.example.com\r\n\r\n');
    quiet(r);
    expect(r.stdout).toBe(`username=alice\npassword=${pw}\n`);
    await unharmed();
  });

  test('an empty request gets an empty answer, an empty erase erases nothing, an empty store stores nothing', async () => {
    const before = storedEntries(home);
    // What follows the blank line is not part of the request.
    for (const input of ['', '\n', '\r\n', '\n\nprotocol=https\nhost=canary.example.com\n']) {
      for (const action of ['get', 'erase']) {
        const r = await u.helper([action], input);
        quiet(r);
        expect(r.stdout).toBe('');
      }
      // git never sends an empty store: ignoring it (as git's store does) or refusing it cleanly are both fine.
      const store = await u.helper(['store'], input);
      if (store.code === 0) quiet(store);
      else cleanError(store);
    }
    expect(storedEntries(home)).toEqual(before);
    await unharmed();
  });

  test('an action git may add later exits 0 silently; no action is a usage error (exit 2)', async () => {
    for (const action of ['capability', 'frobnicate']) {
      const r = await u.helper([action], credentialText(https('canary.example.com')));
      quiet(r);
      expect(r.stdout).toBe('');
    }
    const none = await u.helper([], credentialText(https('canary.example.com')));
    expect(none.hung).toBe(false);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/^authd: [^\n]*get, store, erase/);
    expect(none.stderr).not.toMatch(/\n\s+at /);
    await unharmed();
  });

  test('the helper answers quickly and prints only the answer', async () => {
    const r = await u.helper(['get'], credentialText(https('canary.example.com')));
    quiet(r);
    expect(r.stdout).toBe(`username=canary\npassword=${canary}\n`);
    expect(r.ms).toBeLessThan(5_000);
    await unharmed();
  });
});

/** The git on this machine is at least MAJOR.MINOR. */
function gitAtLeast(major: number, minor: number): boolean {
  const m = /git version (\d+)\.(\d+)/.exec(execFileSync('git', ['--version'], { encoding: 'utf8' }));
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}
