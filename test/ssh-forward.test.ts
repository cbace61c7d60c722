// `authd ssh` (issue 14) with real OpenSSH: a throwaway sshd on 127.0.0.1 is the remote host, whose
// sessions get a home of their own (HOME, XDG_*: sshd's SetEnv). Through the forward the far side gets
// tokens and git credentials of a profile with forward = true, and nothing else; when the connection
// ends, it is told so (exit 5) and starts no daemon of its own.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { AUTHD, devProfile, exitCode, Home, type Result, testEnv } from './support/harness.js';
import { processes } from './support/procs.js';
import { type Sshd, startSshd } from './support/sshd.js';

const GIT_HELPER = resolve(__dirname, '../bin/git-credential-authd');
const TOKEN = /^[\w.~+/=-]+\n$/;

let idp: Idp;
let home: Home;
let sshd: Sshd;
/** The remote host's home for our user: its runtime dir, state and config. */
let remoteHome: string;
let forwardDir: string;

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 3600 });
  home = new Home('authd-ssh.');
  home.writeConfig({ fwd: devProfile(idp, { forward: true, git_hosts: ['git.fwd.test'] }) }, { default_profile: 'fwd', store: 'file' });
  await home.login('fwd');
  remoteHome = mkdtempSync(join(tmpdir(), 'authd-far.'));
  forwardDir = join(remoteHome, 'run', 'authd-forward');
  const env: Record<string, string> = {
    HOME: remoteHome, XDG_RUNTIME_DIR: join(remoteHome, 'run'), XDG_STATE_HOME: join(remoteHome, 'state'),
    XDG_CONFIG_HOME: join(remoteHome, 'config'), PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
  };
  if (process.env.AUTHD_NATIVE) env.AUTHD_NATIVE = process.env.AUTHD_NATIVE;
  sshd = await startSshd(env);
}, 120_000);

afterAll(async () => {
  await sshd?.close();
  await home?.dispose();
  await idp?.close();
  if (remoteHome) rmSync(remoteHome, { recursive: true, force: true });
});

/** `authd ssh -F CONFIG ARGS…` on this side, to completion. */
function authdSsh(args: string[], input = '', h: Home = home, env: Record<string, string> = {}): Promise<Result> {
  return new Promise((done) => {
    const child = execFile(AUTHD, ['ssh', '-F', sshd.config, ...args], { env: { ...h.env, ...env }, encoding: 'utf8', timeout: 90_000 }, (err, stdout, stderr) => {
      done({ code: exitCode(err), stdout, stderr });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

/** A command on the far side itself, with the environment a session there has (and `extra`). */
function onFarSide(cmd: string, args: string[], extra: Record<string, string>): Promise<Result> {
  const env = testEnv();
  Object.assign(env, { HOME: remoteHome, XDG_RUNTIME_DIR: join(remoteHome, 'run'), XDG_STATE_HOME: join(remoteHome, 'state'), XDG_CONFIG_HOME: join(remoteHome, 'config') }, extra);
  return new Promise((done) => {
    execFile(cmd, args, { env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      done({ code: exitCode(err), stdout, stderr });
    });
  });
}

describe('authd ssh, through a real sshd', () => {
  test('the remote command gets a token from this machine\'s daemon; its socket is private there and gone when the session ends', async () => {
    // ssh's options as one word (-oKey=value) or two (-o Key=value) are both passed on.
    const r = await authdSsh(['-oConnectTimeout=60', '-o', 'ServerAliveInterval=30', 'far', '--', `${AUTHD} get-token`]);
    expect(r, sshd.log()).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(TOKEN) });
    // The very token this machine's daemon serves.
    expect((await home.run(['get-token'])).stdout).toBe(r.stdout);
    expect(readdirSync(forwardDir)).toEqual([]);

    const env = await authdSsh(['far', '--', 'echo "$AUTHD_SOCKET $AUTHD_FORWARDED"; stat -c %a "$(dirname "$AUTHD_SOCKET")"; ls "$(dirname "$AUTHD_SOCKET")"']);
    expect(env.code, env.stderr).toBe(0);
    const [line, mode, listing] = env.stdout.split('\n');
    const socket = line!.split(' ')[0]!;
    expect(line).toMatch(new RegExp(`^${forwardDir}/[0-9a-f]{16}\\.sock ssh$`));
    expect(mode).toBe('700');
    expect(listing).toBe(socket.slice(forwardDir.length + 1));
    expect(statSync(forwardDir).mode & 0o777).toBe(0o700);
    expect(existsSync(socket)).toBe(false);
  }, 180_000);

  test('without a command, the login shell there has AUTHD_SOCKET (stdin not a terminal: no tty, as ssh does)', async () => {
    const r = await authdSsh(['far'], `${AUTHD} get-token -p fwd && echo "on $AUTHD_FORWARDED"\n`);
    expect(r, sshd.log()).toMatchObject({ code: 0, stdout: expect.stringMatching(/^[\w.~+/=-]+\non ssh\n$/) });
  }, 120_000);

  test('what the shell\'s rc file prints there does not get in the way', async () => {
    // Debian's bash reads ~/.bashrc for a command over ssh, too: for the master's session, and (twice:
    // the login shell running authd's wrapper, then the one running COMMAND) for the session.
    writeFileSync(join(remoteHome, '.bashrc'), 'echo "hello from .bashrc"\n');
    try {
      const r = await authdSsh(['far', '--', `${AUTHD} get-token`]);
      expect(r, sshd.log()).toMatchObject({ code: 0, stdout: expect.stringMatching(/^(hello from \.bashrc\n)+[\w.~+/=-]+\n$/) });
    } finally {
      rmSync(join(remoteHome, '.bashrc'));
    }
  }, 120_000);

  test('git-credential-authd there answers for the forwarded profile\'s host, and not for another', async () => {
    const fwd = await authdSsh(['far', '--', `${GIT_HELPER} get`], 'protocol=https\nhost=git.fwd.test\n\n');
    expect(fwd, sshd.log()).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^username=oauth2\npassword=[\w.~+/=-]+\n/) });
    const other = await authdSsh(['far', '--', `${GIT_HELPER} get`], 'protocol=https\nhost=git.other.test\n\n');
    expect(other).toEqual({ code: 0, stdout: '', stderr: '' });
  }, 120_000);

  test('logout and secret set there are refused with the restricted message, exit 2, and change nothing here', async () => {
    const logout = await authdSsh(['far', '--', `${AUTHD} logout`]);
    expect(logout).toMatchObject({ code: 2, stdout: '' });
    expect(logout.stderr).toContain('authd: authd logout is not available through a forwarded authd socket\n');
    const secret = await authdSsh(['far', '--', `${AUTHD} secret set fwd`], 'not-a-real-secret\n');
    expect(secret).toMatchObject({ code: 2, stdout: '' });
    expect(secret.stderr).toContain('authd: authd secret set is not available through a forwarded authd socket\n');
    const status = JSON.parse((await home.run(['status', '--json'])).stdout) as { profiles: { profile: string; logged_in: boolean }[] };
    expect(status.profiles).toMatchObject([{ profile: 'fwd', logged_in: true }]);
  }, 120_000);

  test('when the connection is killed, the far side gets exit 5 "is the SSH connection still open?" and starts no daemon', async () => {
    // The session waits on its stdin (cat), which ends when the connection does: nothing is left running there.
    const session = spawn(AUTHD, ['ssh', '-F', sshd.config, 'far', '--', 'echo "$AUTHD_SOCKET"; exec cat'], { env: home.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const socket = await firstLine(session);
    expect(socket).toMatch(new RegExp(`^${forwardDir}/[0-9a-f]{16}\\.sock$`));
    const through = await onFarSide(AUTHD, ['get-token'], { AUTHD_SOCKET: socket, AUTHD_FORWARDED: 'ssh' });
    expect(through).toMatchObject({ code: 0, stdout: expect.stringMatching(TOKEN) });
    // This machine's daemon stopped: the forward is there, but ssh has nothing to connect it to.
    expect((await home.run(['daemon', 'stop'])).code).toBe(0);
    const stopped = await onFarSide(AUTHD, ['get-token'], { AUTHD_SOCKET: socket, AUTHD_FORWARDED: 'ssh' });
    expect(stopped.code, stopped.stderr).toBe(5);
    expect(stopped.stderr).toContain(`authd: the forwarded authd agent at ${socket} closed the connection — is authd running on the machine you came from?\n`);
    // Started again, at the same path: the same forward serves it.
    expect((await home.run(['get-token'])).code).toBe(0);
    expect(await onFarSide(AUTHD, ['get-token'], { AUTHD_SOCKET: socket, AUTHD_FORWARDED: 'ssh' })).toMatchObject({ code: 0, stdout: expect.stringMatching(TOKEN) });

    // The connection is the master ssh that authd ssh started: kill it, as a network failure would.
    const masters = processes().filter((p) => p.cmdline.includes('ControlMaster=yes') && p.cmdline.includes(sshd.config));
    expect(masters).toHaveLength(1);
    const ended = new Promise<number | null>((r) => session.once('close', (code) => r(code)));
    process.kill(masters[0]!.pid, 'SIGKILL');
    expect(await ended).toBe(255); // ssh's own exit code for a connection lost
    session.stdin?.destroy();

    for (const native of ['1', '0']) {
      const r = await onFarSide(AUTHD, ['get-token'], { AUTHD_SOCKET: socket, AUTHD_FORWARDED: 'ssh', AUTHD_NATIVE: native });
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr).toContain(`authd: the forwarded authd agent at ${socket} is not answering — is the SSH connection still open?\n`);
      expect(r.stdout).toBe('');
    }
    // Not even when asked: the forward's path is not this host's to take.
    const start = await onFarSide(AUTHD, ['daemon', 'start'], { AUTHD_SOCKET: socket, AUTHD_FORWARDED: 'ssh' });
    expect(start.code).toBe(5);
    expect(start.stderr).toContain('is the SSH connection still open?');
    // No daemon, socket or state of its own on the far side.
    expect(readdirSync(join(remoteHome, 'run'))).toEqual(['authd-forward']);
    expect(existsSync(join(remoteHome, 'state'))).toBe(false);
    expect(processes().filter((p) => p.cmdline.includes('daemon.mjs') && p.environ().includes(`AUTHD_SOCKET=${socket}`))).toEqual([]);
  }, 180_000);

  test('a machine whose daemon is not running starts it, as other commands do; with no profile forward = true it says so', async () => {
    const plain = new Home('authd-ssh2.');
    try {
      plain.writeConfig({ solo: devProfile(idp) });
      const refused = await authdSsh(['far', '--', 'true'], '', plain, { AUTHD_NO_AUTOSTART: '1' });
      expect(refused.code).toBe(5);
      expect(refused.stderr).toContain('authd: the authd daemon is not running');
      expect(plain.daemonPid()).toBeUndefined();

      const r = await authdSsh(['far', '--', 'echo "$AUTHD_SOCKET"'], '', plain);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('authd: warning: no profile has forward = true, so nothing is served on far\n');
      expect(r.stdout).toMatch(new RegExp(`^${forwardDir}/[0-9a-f]{16}\\.sock\\n$`));
      expect(plain.daemonPid()).toBeDefined();
    } finally {
      await plain.dispose();
    }
  }, 120_000);

  test('ssh options that leave no session, and a command whose options ssh would take, are refused before connecting', async () => {
    for (const args of [['-N', 'far'], ['-fN', 'far'], ['-O', 'exit', 'far'], ['-S', '/tmp/x', 'far']]) {
      const r = await authdSsh(args);
      expect({ args, r }).toMatchObject({ args, r: { code: 2, stderr: expect.stringMatching(/^authd: ssh's -[fNOS] does not go with authd ssh/) } });
    }
    const ambiguous = await authdSsh(['-p', '22', 'far', 'ls', '-l', '/tmp']);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain('put -- before the remote command');
    expect((await authdSsh([])).stderr).toContain('authd ssh needs a HOST');
  });

  test('a HOST a script passes after -- is a host, whatever it starts with: never taken for an ssh option', async () => {
    // As a script would: authd ssh -- "$HOST" -- COMMAND. ssh gets -- before it too, so it is not -o ProxyCommand.
    const planted = join(remoteHome, 'proxycommand-ran');
    const hostile = await authdSsh(['--', `-oProxyCommand=touch ${planted}`, '--', 'true']);
    expect(hostile.code).not.toBe(0);
    expect(existsSync(planted)).toBe(false);
    // And a real one the same way works.
    const r = await authdSsh(['--', 'far', '--', `${AUTHD} get-token`]);
    expect(r, sshd.log()).toMatchObject({ code: 0, stdout: expect.stringMatching(TOKEN) });
  }, 180_000);
});

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolveLine, reject) => {
    let buf = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d;
    });
    child.stdout?.on('data', (d: Buffer) => {
      buf += d;
      if (buf.includes('\n')) resolveLine(buf.slice(0, buf.indexOf('\n')));
    });
    child.once('close', (code) => reject(new Error(`authd ssh exited ${code} before printing: ${err}`)));
  });
}
