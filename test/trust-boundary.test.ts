// The boundary between Unix users (issue 9): the client talks only to its own user's daemon, the
// daemon serves only its own user, neither acts on a config or key file someone else could have
// written, and the daemon's memory cannot be read by a core dump or by its user's other processes.
// Real users (useradd), real processes run as them (setpriv), the real binaries; root only (CI is).
import { type ChildProcess, execFile, execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import {
  chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { AUTHD, devProfile, Home, type Result, sleep } from './support/harness.js';
import { createUser, removeUser, runAs, spawnAs, type User, usersUnavailable } from './support/users.js';

const unavailable = usersUnavailable();
if (unavailable) console.log(`trust-boundary tests skipped: ${unavailable}`);

const REPO = resolve(__dirname, '..');
const GIT_HELPER = join(REPO, 'bin', 'git-credential-authd');
const AWS_SECRET = 'aws-secret-9f27c1e0b4d3a8';
const GH_PASSWORD = 'gh-password-5b1e7d20c4';
const API_KEY = 'sk_live_trust_7c2e9a41f0';
const SECRETS = [AWS_SECRET, GH_PASSWORD, API_KEY];

let victim: User | undefined;
let mallory: User | undefined;
/** The victim's HOME (and passwd home), with its config. */
let victimHome: string;
let idp: Idp;
const cleanup: (() => unknown)[] = [];

beforeAll(async () => {
  if (unavailable) return;
  idp = await startIdp({ accessTokenTtl: 30 });
  victimHome = mkdtempSync(join(tmpdir(), 'authd-tb-home.'));
  victim = createUser(`authd-v${process.pid}`, victimHome);
  mallory = createUser(`authd-m${process.pid}`);
  const configDir = join(victimHome, '.config', 'authd');
  mkdirSync(configDir, { recursive: true });
  writeFileSync(join(configDir, 'config.toml'), [
    'default_profile = "acme"',
    '[profiles.acme]', `issuer = "${idp.issuer}"`, 'client_id = "authd-cli"',
    '[profiles.ci]', `issuer = "${idp.issuer}"`, 'client_id = "svc"', 'flow = "client_credentials"', 'client_secret_env = "ACME_BOT_SECRET"',
    '',
  ].join('\n'));
  execFileSync('chown', ['-R', `${victim.uid}:${victim.gid}`, victimHome]);
  chmodSync(victimHome, 0o700);
});

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

afterAll(async () => {
  removeUser(victim);
  removeUser(mallory);
  if (victimHome) rmSync(victimHome, { recursive: true, force: true });
  await idp?.close();
});

/** A shared, sticky, world-writable directory like /tmp, private to one test: the victim's TMPDIR. */
function sharedTmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'authd-tb.'));
  chmodSync(dir, 0o1777);
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The victim's environment: no XDG_RUNTIME_DIR (su, cron, ssh without pam_systemd), so the socket is $TMPDIR/authd-<uid>/authd.sock. */
function victimEnv(tmp: string, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: victimHome, TMPDIR: tmp, AWS_SECRET_ACCESS_KEY: AWS_SECRET, ...extra };
}

const configOf = (home: Home) => join(home.dir, 'config.toml');

function socketDirOf(tmp: string): string {
  return join(tmp, `authd-${victim!.uid}`);
}

function asVictim(tmp: string, args: string[], opts: { input?: string; bin?: string; env?: Record<string, string> } = {}): Promise<Result> {
  return runAs(victim!, opts.bin ?? AUTHD, args, { env: victimEnv(tmp, opts.env), input: opts.input ?? '' });
}

/**
 * A daemon impostor run by mallory: listens at PATH (making its directory with MODE), lets anyone
 * connect, answers every request with `secret_required` for $AWS_SECRET_ACCESS_KEY, and reports
 * every connection and every line it receives.
 */
const IMPOSTOR = `
const fs = require('node:fs'), net = require('node:net'), path = require('node:path');
const [sock, mode] = process.argv.slice(1);
fs.mkdirSync(path.dirname(sock), { mode: Number(mode) });
fs.chmodSync(path.dirname(sock), Number(mode));
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
net.createServer((c) => {
  say({ event: 'connection' });
  let buf = '';
  c.on('error', () => {});
  c.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\\n'); i >= 0; i = buf.indexOf('\\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      say({ event: 'frame', line });
      let id = null;
      try { id = JSON.parse(line).id; } catch {}
      c.write(JSON.stringify({ id, error: { code: 'secret_required', message: 'profile ci needs its client secret from $AWS_SECRET_ACCESS_KEY',
        data: { env: 'AWS_SECRET_ACCESS_KEY' } } }) + '\\n');
    }
  });
}).listen(sock, () => {
  fs.chmodSync(sock, 0o777);
  say({ event: 'ready' });
});
`;

class Impostor {
  readonly heard: { event: string; line?: string }[] = [];
  private syncs = 0;

  private constructor(
    private readonly child: ChildProcess,
    private readonly sock: string,
  ) {}

  /** `forOneTest`: stopped after the current test (else the caller stops it). */
  static async start(user: User, sock: string, mode: number, forOneTest = true): Promise<Impostor> {
    const child = spawnAs(user, process.execPath, ['-e', IMPOSTOR, sock, String(mode)], { PATH: process.env.PATH ?? '' });
    const imp = new Impostor(child, sock);
    if (forOneTest) cleanup.push(() => imp.stop());
    let buf = '';
    await new Promise<void>((ready, fail) => {
      child.once('exit', (code) => fail(new Error(`the impostor exited (${code})`)));
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const ev = JSON.parse(buf.slice(0, i)) as { event: string; line?: string };
          buf = buf.slice(i + 1);
          if (ev.event === 'ready') ready();
          else imp.heard.push(ev);
        }
      });
    });
    return imp;
  }

  /**
   * Waits until the impostor has reported everything it got so far: its reports come through a pipe,
   * possibly after the client under test has exited. A marker sent on a connection of our own comes
   * after them.
   */
  async sync(): Promise<void> {
    const marker = `{"marker":${++this.syncs}}`;
    const s = net.connect(this.sock, () => s.end(`${marker}\n`));
    s.on('error', () => undefined);
    await expect.poll(() => this.heard.some((e) => e.line === marker)).toBe(true);
    s.destroy();
  }

  frames(): string[] {
    return this.heard.filter((e) => e.event === 'frame' && !e.line!.startsWith('{"marker":')).map((e) => e.line!);
  }

  connections(): number {
    return this.heard.filter((e) => e.event === 'connection').length - this.syncs;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await gone;
  }
}

/** Every command a victim might run; `git-credential-authd store` and `secret set` carry a secret in their first request. */
const COMMANDS: { name: string; args: string[]; input?: string; bin?: string }[] = [
  { name: 'get-token', args: ['get-token'] },
  { name: 'exec', args: ['exec', '--', 'true'] },
  { name: 'login', args: ['login', '--no-browser'] },
  { name: 'git-credential get', args: ['git-credential', 'get'], input: 'protocol=https\nhost=github.com\n\n' },
  {
    name: 'git-credential-authd store (a github.com password)', bin: GIT_HELPER, args: ['store'],
    input: `protocol=https\nhost=github.com\nusername=victim\npassword=${GH_PASSWORD}\n\n`,
  },
  { name: 'secret set (an API key)', args: ['secret', 'set', 'ci'], input: `${API_KEY}\n` },
  { name: 'status', args: ['status'] },
  { name: 'logout', args: ['logout'] },
  { name: 'profiles', args: ['profiles'] },
  { name: 'doctor', args: ['doctor'] },
  { name: 'daemon status', args: ['daemon', 'status'] },
  { name: 'daemon stop', args: ['daemon', 'stop'] },
  { name: 'daemon start', args: ['daemon', 'start'] },
];

function expectNothingLeaked(imp: Impostor): void {
  const all = JSON.stringify(imp.heard);
  for (const s of SECRETS) expect(all.includes(s), 'the impostor received a secret').toBe(false);
}

describe.skipIf(unavailable)('another user listening at the socket path first, in a directory of its own', () => {
  let tmp: string;
  let imp: Impostor;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'authd-tb.'));
    chmodSync(tmp, 0o1777);
    imp = await Impostor.start(mallory!, join(socketDirOf(tmp), 'authd.sock'), 0o755, false);
  });

  afterAll(async () => {
    await imp?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test.each(COMMANDS)('$name refuses to connect, sends it nothing, and names the directory and its owner (exit 5; doctor: its report, exit 1)', async (c) => {
    const dir = socketDirOf(tmp);
    const r = await asVictim(tmp, c.args, { input: c.input, bin: c.bin });
    // doctor reports what it found instead of failing with it.
    const said = c.name === 'doctor' ? r.stdout : r.stderr;
    expect(said).toContain(`refusing to connect to ${dir}/authd.sock: the socket directory ${dir} is owned by uid ${mallory!.uid}, not by you (uid ${victim!.uid})`);
    expect(said).toContain('another user may be posing as your authd daemon');
    if (c.name === 'doctor') {
      expect(r.stdout).toContain(`✗ socket directory: The socket directory ${dir} is owned by uid ${mallory!.uid}`);
      expect(r.code).toBe(1);
    } else {
      expect(r.stdout).toBe('');
      expect(r.code).toBe(5);
    }
    await imp.sync();
    expect(imp.connections()).toBe(0);
    expect(imp.frames()).toEqual([]);
    expectNothingLeaked(imp);
  });
});

/**
 * Mallory listens, then the directory is handed to the victim (chown, 0700): it now passes every
 * directory check, and only the uid of the process at the other end tells the impostor apart.
 */
async function impostorBehindVictimsDirectory(tmp: string): Promise<{ imp: Impostor; sock: string }> {
  const dir = socketDirOf(tmp);
  const sock = join(dir, 'authd.sock');
  const imp = await Impostor.start(mallory!, sock, 0o700);
  chownSync(dir, victim!.uid, victim!.gid);
  chmodSync(dir, 0o700);
  return { imp, sock };
}

describe.skipIf(unavailable)('another user listening in a directory that passes the checks', () => {
  test.each(COMMANDS.filter((c) => ['get-token', 'login', 'status'].includes(c.name) || /store|secret set/.test(c.name)))(
    '$name checks who listens, refuses the other uid and sends it nothing (exit 5)', async (c) => {
      const tmp = sharedTmp();
      const { imp, sock } = await impostorBehindVictimsDirectory(tmp);
      const r = await asVictim(tmp, c.args, { input: c.input, bin: c.bin });
      expect(r.stderr).toContain(`the process at ${sock} runs as uid ${mallory!.uid}, not as you (uid ${victim!.uid}): refusing to talk to it`);
      expect(r.stdout).toBe('');
      expect(r.code).toBe(5);
      await imp.sync();
      expect(imp.connections()).toBe(1); // it connected, looked, and left
      expect(imp.frames()).toEqual([]);
      expectNothingLeaked(imp);
    });
});

function runBin(bin: string, args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((done) => {
    execFile(bin, args, { env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A copy of bin/ and dist/ without the addon: authd as built on a machine with no C compiler. */
function withoutAddon(): string {
  const dir = mkdtempSync(join(tmpdir(), 'authd-tb-nonative.'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  for (const sub of ['bin', 'dist']) mkdirSync(join(dir, sub), { mode: 0o755 });
  for (const f of ['bin/authd', 'bin/git-credential-authd', 'dist/authd.cjs', 'dist/get-token.cjs', 'dist/get-token-fast.cjs', 'dist/get-token-start.cjs', 'dist/git-credential.cjs', 'dist/daemon.mjs', 'dist/sdk.cjs']) copyFileSync(join(REPO, f), join(dir, f));
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  return join(dir, 'bin', 'authd');
}

describe.skipIf(unavailable)('built without the addon (no C compiler)', () => {
  test('the client still never sends a variable just because a daemon asks for it by name', async () => {
    const authd = withoutAddon();
    const tmp = sharedTmp();
    const { imp } = await impostorBehindVictimsDirectory(tmp);
    const r = await asVictim(tmp, ['get-token'], { bin: authd });
    expect(r.stderr).toContain('the daemon asked for the value of $AWS_SECRET_ACCESS_KEY, which no profile in your config');
    expect(r.stderr).toContain('not sent');
    expect(r.code).toBe(2);
    await imp.sync();
    // Without the uid check the client did talk to it, but the value never went.
    expect(imp.frames().length).toBe(1);
    expectNothingLeaked(imp);
  });

  test('the client still refuses a socket directory another user made', async () => {
    const authd = withoutAddon();
    const tmp = sharedTmp();
    const imp = await Impostor.start(mallory!, join(socketDirOf(tmp), 'authd.sock'), 0o755);
    const r = await asVictim(tmp, ['secret', 'set', 'ci'], { bin: authd, input: API_KEY });
    expect(r.stderr).toContain(`is owned by uid ${mallory!.uid}, not by you`);
    expect(r.code).toBe(5);
    await imp.sync();
    expect(imp.connections()).toBe(0);
    expectNothingLeaked(imp);
  });

  test('status and doctor say that peer checks are unavailable and how to get them', async () => {
    const authd = withoutAddon();
    const home = new Home('authd-tb.');
    cleanup.push(() => home.dispose());
    home.writeConfig({ acme: devProfile(idp) });
    const run = (args: string[]) => runBin(authd, args, { ...home.env, AUTHD_STORE: 'memory' });
    cleanup.push(() => run(['daemon', 'stop']));
    const doctor = await run(['doctor']);
    expect(doctor.stdout).toMatch(/^! protection: peer uid checks unavailable \(the 0700 socket directory is the only boundary\); dumpable, core files allowed: .*peercred\.node was not built/m);
    expect(doctor.stdout).toMatch(/^ {4}fix: install a C compiler and Node's headers/m);
    const status = await run(['status']);
    expect(status.stdout).toMatch(/^warning {2}peer uid checks unavailable/m);
  });
});

/** A raw client run as mallory: connects, asks for a token, prints what came back before the daemon hung up. */
const RAW_CLIENT = `
const s = require('node:net').connect(process.argv[1]);
let got = '';
s.on('connect', () => s.write(JSON.stringify({ v: 1, id: 1, method: 'getToken', params: {} }) + '\\n'));
s.on('data', (d) => { got += d; });
s.on('error', (e) => { got += 'error:' + e.code; });
s.on('close', () => { process.stdout.write(JSON.stringify({ got })); process.exit(0); });
setTimeout(() => { process.stdout.write(JSON.stringify({ got, open: true })); process.exit(0); }, 3000);
`;

/** Starts the victim's real daemon (memory store) and returns its pid. */
async function startVictimDaemon(tmp: string): Promise<number> {
  const started = await asVictim(tmp, ['daemon', 'start'], { env: { AUTHD_STORE: 'memory' } });
  expect(started.stderr).toMatch(/daemon running/);
  const pid = Number(/pid (\d+)/.exec(started.stderr)?.[1]);
  expect(pid).toBeGreaterThan(0);
  cleanup.push(async () => {
    chmodSync(socketDirOf(tmp), 0o700); // as a test may have left it
    await asVictim(tmp, ['daemon', 'stop']);
    try {
      process.kill(pid, 'SIGKILL'); // a daemon left running would keep its user from being removed
    } catch {
      // stopped
    }
  });
  return pid;
}

describe.skipIf(unavailable)('the daemon serves only its own user', () => {
  test('a connection from another user is refused and logged with that uid, no secret in the log; the owner is still served', async () => {
    const tmp = sharedTmp();
    const pid = await startVictimDaemon(tmp);
    const dir = socketDirOf(tmp);
    const sock = join(dir, 'authd.sock');
    // A mistake that lets others reach the socket: only the daemon's own check remains.
    chmodSync(dir, 0o711);
    chmodSync(sock, 0o777);
    const r = await runAs(mallory!, process.execPath, ['-e', RAW_CLIENT, sock], { env: { PATH: process.env.PATH ?? '' } });
    // Hung up on without a word (the request may not even have been written).
    expect((JSON.parse(r.stdout) as { got: string }).got).toMatch(/^(error:(EPIPE|ECONNRESET))?$/);
    const logFile = join(victimHome, '.local', 'state', 'authd', 'authd.log');
    const refusals = () => readFileSync(logFile, 'utf8').split('\n')
      .filter((l) => l.includes(`"pid":${pid},`) && l.includes('refused a connection from another user'));
    // Written at the end of the daemon's turn, which may come after mallory saw the hang-up.
    await expect.poll(refusals).toHaveLength(1);
    const log = readFileSync(logFile, 'utf8');
    expect(JSON.parse(refusals()[0]!)).toMatchObject({ level: 40, peerUid: mallory!.uid });
    for (const s of SECRETS) expect(log).not.toContain(s);

    chmodSync(dir, 0o700);
    const own = await asVictim(tmp, ['profiles']);
    expect(own.stderr).toBe('');
    expect(own.code).toBe(0);
  });
});

describe.skipIf(unavailable)('the daemon cannot be read through a core dump or by its user\'s other processes', () => {
  test('it is not dumpable: a process of the same user cannot read its environment or memory, and its core file limit is 0', async () => {
    const tmp = sharedTmp();
    const pid = await startVictimDaemon(tmp);
    expect(readFileSync(`/proc/${pid}/limits`, 'utf8')).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);

    const open = (file: string) => runAs(victim!, process.execPath, ['-e', `require('node:fs').openSync(${JSON.stringify(file)}, 'r')`],
      { env: { PATH: process.env.PATH ?? '' } });
    for (const file of [`/proc/${pid}/environ`, `/proc/${pid}/mem`]) {
      const r = await open(file);
      expect(r.stderr, file).toMatch(/EACCES/);
      expect(r.code, file).not.toBe(0);
    }
    // The same reads work on an ordinary process of that user: it is the daemon that is closed.
    const sleeper = spawnAs(victim!, 'sleep', ['30'], { PATH: process.env.PATH ?? '' }); // setpriv execs: same pid
    cleanup.push(() => sleeper.kill('SIGKILL'));
    await new Promise((r) => setTimeout(r, 200));
    expect((await open(`/proc/${sleeper.pid}/environ`)).code).toBe(0);
    // Root still can (the tests' /proc scanners), and the daemon still answers.
    expect(readFileSync(`/proc/${pid}/environ`, 'utf8')).toContain(`HOME=${victimHome}`);
    expect((await asVictim(tmp, ['status'])).stdout).toMatch(/^security every connection's uid is checked; not dumpable; no core files$/m);
  });
});

describe.skipIf(unavailable)('the client sends a value from its environment only for a variable its config names', () => {
  /** A daemon of the same user (so every connection check passes) that asks for `wanted` and records what it is sent. */
  async function askingDaemon(home: Home, wanted: string): Promise<{ received: string[]; close: () => Promise<unknown> }> {
    mkdirSync(join(home.dir, 'run'), { mode: 0o700, recursive: true });
    const received: string[] = [];
    const server = net.createServer((c) => {
      let buf = '';
      c.on('data', (d) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          received.push(line);
          const req = JSON.parse(line) as { id: number; params: { env?: Record<string, string> } };
          c.write(`${JSON.stringify(req.params.env
            ? { id: req.id, result: { access_token: 'tok', token_type: 'Bearer', profile: 'ci' } }
            : { id: req.id, error: { code: 'secret_required', message: `needs $${wanted}`, data: { env: wanted } } })}\n`);
        }
      });
    });
    await new Promise<void>((r) => server.listen(home.socket, r));
    const close = () => new Promise((r) => server.close(r));
    cleanup.push(close);
    return { received, close };
  }

  test('asked for $AWS_SECRET_ACCESS_KEY, which no profile names, it refuses and sends nothing; asked for the configured one, it sends it', async () => {
    const home = new Home('authd-tb.');
    cleanup.push(() => rmSync(home.dir, { recursive: true, force: true }));
    home.writeConfig({ ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', client_secret_env: 'ACME_BOT_SECRET' } });
    const env = { AWS_SECRET_ACCESS_KEY: AWS_SECRET, ACME_BOT_SECRET: 'bot-secret-e1' };

    const aws = await askingDaemon(home, 'AWS_SECRET_ACCESS_KEY');
    const refused = await home.run(['get-token', '-p', 'ci'], { env });
    expect(refused.stderr).toContain(`the daemon asked for the value of $AWS_SECRET_ACCESS_KEY, which no profile in your config ${configOf(home)} names as client_secret_env: not sent`);
    expect(refused.code).toBe(2);
    // The native client (dist/authd-native) asks first, without any value, and leaves the answer to the Node client.
    expect(aws.received).toHaveLength(1 + nativeAsks());
    expect(aws.received.join('\n')).not.toContain(AWS_SECRET);
    await aws.close();

    const bot = await askingDaemon(home, 'ACME_BOT_SECRET');
    const sent = await home.run(['get-token', '-p', 'ci'], { env });
    expect(sent.stdout).toBe('tok\n');
    expect(sent.code).toBe(0);
    expect(bot.received).toHaveLength(2 + nativeAsks());
    expect(bot.received.map((f) => (JSON.parse(f) as { params: { env?: unknown } }).params.env))
      .toEqual([...Array(1 + nativeAsks()).fill(undefined), { ACME_BOT_SECRET: 'bot-secret-e1' }]);
  });
});

/** 1 where bin/authd runs the native client, which asks once before it hands an error answer to Node. */
function nativeAsks(): number {
  return existsSync(join(REPO, 'dist', 'authd-native')) && process.env.AUTHD_NATIVE !== '0' ? 1 : 0;
}

/** A home whose directory others may traverse (as home directories usually are), so that mallory can reach its config. */
function reachableHome(): Home {
  const home = new Home('authd-tb.');
  cleanup.push(() => home.dispose());
  chmodSync(home.dir, 0o711);
  return home;
}

describe.skipIf(unavailable)('a config someone else could have written is not acted on', () => {
  test('a world-writable config with a token_endpoint an attacker appended is refused (exit 2): the refresh token never reaches the attacker', async () => {
    const attacker: string[] = [];
    const trap: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        attacker.push(`${req.method} ${req.url} ${body}`);
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
      });
    });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => trap.close(r)));
    const port = (trap.address() as { port: number }).port;

    const home = reachableHome();
    home.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme' });
    await home.login();
    chmodSync(configOf(home), 0o666);
    const appended = await runAs(mallory!, '/bin/sh', ['-c', `printf 'token_endpoint = "http://127.0.0.1:${port}/token"\\n' >> "$0"`, configOf(home)],
      { env: { PATH: process.env.PATH ?? '' } });
    expect(appended.code).toBe(0);
    const refreshes = idp.stats.refreshes;
    // The token path looks at the config at most once a second: the victim's next get-token comes later.
    await sleep(1100);

    const r = await home.run(['get-token', '--min-ttl', '29']);
    expect(r.stderr).toContain(`The config file ${configOf(home)} has mode 0666: others can change it, so authd does not act on it.`);
    expect(r.stderr).toContain(`run \`chmod go-w ${configOf(home)}\``);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(2);
    expect(attacker).toEqual([]);
    expect(idp.stats.refreshes).toBe(refreshes);

    const doctor = await home.run(['doctor']);
    expect(doctor.stdout).toContain(`✗ config: The config file ${configOf(home)} has mode 0666`);
    expect(doctor.stdout).toContain(`    fix: run \`chmod go-w ${configOf(home)}\``);
    expect(attacker).toEqual([]);

    // The user takes the attacker's line out: still refused while others can write the file; the
    // chmod the error names is enough (the daemon notices it without a restart).
    home.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme' });
    expect((await home.run(['get-token'])).code).toBe(2);
    chmodSync(configOf(home), 0o644);
    const fixed = await home.run(['get-token', '--min-ttl', '29']);
    expect(fixed.stderr).toBe('');
    expect(fixed.code).toBe(0);
    expect(idp.stats.refreshes).toBe(refreshes + 1);
    expect(attacker).toEqual([]);
  });

  test('a config owned by another user is refused (exit 2), naming the owner and the chown', async () => {
    const home = reachableHome();
    home.writeConfig({ acme: devProfile(idp) });
    chownSync(configOf(home), mallory!.uid, mallory!.gid);
    const r = await home.run(['get-token']);
    expect(r.stderr).toContain(`The config file ${configOf(home)} is owned by uid ${mallory!.uid}, not by you (uid 0); authd does not act on a file another user can change.`);
    expect(r.stderr).toContain(`have root run \`chown 0 ${configOf(home)}\``);
    expect(r.code).toBe(2);
    expect((await home.run(['doctor'])).stdout).toContain(`✗ config: The config file ${configOf(home)} is owned by uid ${mallory!.uid}`);
  });

  test('a config that is a symbolic link to another user\'s file is refused (exit 2); a link to a file of your own is fine', async () => {
    const theirs = mkdtempSync(join(tmpdir(), 'authd-tb-theirs.'));
    cleanup.push(() => rmSync(theirs, { recursive: true, force: true }));
    chmodSync(theirs, 0o755);
    const target = join(theirs, 'config.toml');
    writeFileSync(target, `[profiles.acme]\nissuer = "${idp.issuer}"\nclient_id = "authd-cli"\n`, { mode: 0o644 });
    chownSync(theirs, mallory!.uid, mallory!.gid);
    chownSync(target, mallory!.uid, mallory!.gid);
    const home = reachableHome();
    symlinkSync(target, configOf(home));
    const r = await home.run(['profiles']);
    expect(r.stderr).toContain(`The config file ${configOf(home)} is a symbolic link to ${target}, which is owned by uid ${mallory!.uid}, not by you (uid 0)`);
    expect(r.stderr).toContain('replace the link with a copy of your own');
    expect(r.code).toBe(2);
    await home.stop();

    // A dotfiles-style link to a file of your own.
    rmSync(configOf(home));
    const mine = join(home.dir, 'dotfiles-config.toml');
    // Written, not copied: Node 24's copyFileSync gives the copy its source's owner when run as root.
    writeFileSync(mine, readFileSync(target));
    symlinkSync(mine, configOf(home));
    const ok = await home.run(['profiles']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toContain('acme');
  });
});

describe.skipIf(unavailable)('a private_key_file someone else could have written or read is not used', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

  test.each([
    ['writable by others', (key: string) => chmodSync(key, 0o666), /has mode 0666/, /chmod 600/],
    ['owned by another user', (key: string) => chownSync(key, mallory!.uid, mallory!.gid), /is owned by uid \d+, not by you/, /chown/],
    ['a symbolic link to another user\'s key', (key: string) => {
      const theirs = `${key}.theirs`;
      writeFileSync(theirs, pem, { mode: 0o600 });
      chownSync(theirs, mallory!.uid, mallory!.gid);
      rmSync(key);
      symlinkSync(theirs, key);
    }, /is a symbolic link, not a regular file/, /mv /],
  ] as const)('a key file %s is refused, and doctor says what is wrong and how to fix it', async (_what, spoil, message, fix) => {
    const home = reachableHome();
    const key = join(home.dir, 'svc.pem');
    writeFileSync(key, pem, { mode: 0o600 });
    home.writeConfig({ jwt: { issuer: idp.issuer, client_id: 'svc-jwt', flow: 'client_credentials', client_auth: 'private_key_jwt', private_key_file: 'svc.pem' } });
    spoil(key);
    const r = await home.run(['get-token']);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(fix);
    expect(r.stderr).not.toContain('PRIVATE KEY');
    expect(r.code).not.toBe(0);
    const doctor = await home.run(['doctor']);
    const line = doctor.stdout.split('\n').find((l) => l.startsWith('✗ profile jwt key: '));
    expect(line, doctor.stdout).toMatch(message);
    expect(doctor.stdout).toMatch(new RegExp(`✗ profile jwt key: .*\\n {4}fix: .*${fix.source}`));
  });
});
