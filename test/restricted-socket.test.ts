// The restricted socket (issue 14): what an SSH host or a container it is forwarded to may ask.
// Only get-token, and git's get for mapped hosts, of profiles with forward = true; every other
// method is refused with a clear message, whatever it is; callers through it are marked in the audit
// log; and a forward that has gone away is reported, never replaced by a daemon of its own.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { PARAMS } from '../src/daemon/methods.js';
import type { Handlers } from '../src/daemon/methods.js';
import { FORWARD_ERASES, FORWARD_NARROWINGS, FORWARD_WINDOW_MS, ForwardBudget, restrictedHandlers } from '../src/daemon/restricted.js';
import type { MethodName } from '../src/protocol/index.js';
import { AUTHD, devProfile, exitCode, Home, type Result, testEnv } from './support/harness.js';

const GIT_HELPER = resolve(__dirname, '../bin/git-credential-authd');

let idp: Idp;
let home: Home;
let restricted: string;
/** An empty directory for the "remote" side's HOME: no config, no state of its own. */
let remoteHome: string;

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 3600 });
  home = new Home('authd-rs.');
  home.writeConfig(profiles(), { default_profile: 'fwd', store: 'file' });
  await home.login('fwd');
  await home.login('local');
  await home.login('wide');
  const st = await home.run(['daemon', 'status', '--restricted-socket']);
  expect(st.code).toBe(0);
  restricted = st.stdout.trim();
  remoteHome = mkdtempSync(join(tmpdir(), 'authd-remote.'));
});

afterAll(async () => {
  await home?.dispose();
  await idp?.close();
  if (remoteHome) rmSync(remoteHome, { recursive: true, force: true });
});

/** The daemon's profiles: two forwarded (one with scopes to narrow), one not. */
function profiles() {
  return {
    fwd: devProfile(idp, { forward: true, git_hosts: ['git.fwd.test'] }),
    local: devProfile(idp, { git_hosts: ['git.local.test'] }),
    wide: devProfile(idp, { forward: true, scopes: ['openid', 'offline_access', 'api:read', 'api:write'] }),
  };
}

/** The environment on the far side of a forward: AUTHD_SOCKET names the forwarded socket, nothing else of authd's. */
function remoteEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ...testEnv(), HOME: remoteHome, XDG_STATE_HOME: join(remoteHome, 'state'), XDG_CONFIG_HOME: join(remoteHome, 'config'), AUTHD_SOCKET: restricted, ...extra };
}

function remote(cmd: string, args: string[], input = '', extra: Record<string, string> = {}): Promise<Result> {
  return new Promise((done) => {
    const child = execFile(cmd, args, { env: remoteEnv(extra), encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      done({ code: exitCode(err), stdout, stderr });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

/** One raw request on a socket, its answer. */
function ask(socket: string, method: string, params: Record<string, unknown>): Promise<{ result?: Record<string, unknown>; error?: { code: string; message: string } }> {
  return new Promise((done, fail) => {
    const s = net.connect(socket);
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) {
        s.destroy();
        done(JSON.parse(buf.slice(0, buf.indexOf('\n'))));
      }
    });
    s.on('error', fail);
    s.write(`${JSON.stringify({ v: 1, id: 1, method, params })}\n`);
  });
}

describe('the restricted socket', () => {
  test('daemon status names both sockets; the restricted one is beside the full one, private like it', async () => {
    const json = JSON.parse((await home.run(['daemon', 'status', '--json'])).stdout) as { socket: string; restricted_socket: string };
    expect(json.restricted_socket).toBe(restricted);
    expect(restricted).toBe(json.socket.replace(/\.sock$/, '.restricted/authd.sock'));
    expect(existsSync(restricted)).toBe(true);
    // Its directory is its own and private: a container is given that directory, never the full socket's.
    expect(statSync(dirname(restricted)).mode & 0o777).toBe(0o700);
    expect(readdirSync(dirname(restricted))).toEqual(['authd.sock']);
    const text = (await home.run(['daemon', 'status'])).stdout;
    expect(text).toContain(`restricted socket ${restricted}`);
  });

  // Valid params for every method, so that what refuses it is the socket, not the params check.
  const PARAMS_FOR: Record<MethodName, Record<string, unknown>> = {
    ping: {}, getToken: {}, getIdToken: {}, gitCredential: { action: 'get', attrs: [['protocol', 'https'], ['host', 'git.fwd.test']] },
    loginStart: { profile: 'fwd' }, loginWait: { profile: 'fwd' }, logout: { profile: 'fwd' }, status: {}, profiles: {},
    use: { profile: 'local' }, profileAdd: { profile: 'x', provider: 'generic', options: { issuer: 'https://x.test', client_id: 'c' } },
    profileRemove: { profile: 'local' }, doctor: {}, gitHosts: {}, secretSet: { profile: 'fwd', value: 's3cret' },
    storeMigrate: { to: 'file' }, shutdown: {},
  };

  test('every method but ping, get-token and git is refused there, by name, and changes nothing', async () => {
    const methods = Object.keys(PARAMS) as MethodName[];
    expect(Object.keys(PARAMS_FOR).sort()).toEqual([...methods].sort());
    for (const method of methods) {
      const answer = await ask(restricted, method, PARAMS_FOR[method]);
      if (method === 'ping' || method === 'getToken' || method === 'gitCredential') {
        expect({ method, answer }).toMatchObject({ method, answer: { result: expect.any(Object) } });
      } else {
        expect({ method, answer }).toMatchObject({ method, answer: { error: { code: 'restricted', message: expect.stringMatching(/^authd .* is not available through a forwarded authd socket$/) } } });
      }
    }
    // Nothing happened: still logged in to both, the default unchanged, the daemon up.
    const status = JSON.parse((await home.run(['status', '--json'])).stdout) as { profiles: { profile: string; logged_in: boolean; is_default: boolean }[] };
    expect(status.profiles.map((p) => [p.profile, p.logged_in, p.is_default])).toEqual([['fwd', true, true], ['local', true, false], ['wide', true, false]]);
  });

  for (const native of ['1', '0']) {
    test(`through it (AUTHD_NATIVE=${native}), get-token answers for a forwarded profile, and refuses another by name, exit 2`, async () => {
      const fwd = await remote(AUTHD, ['get-token'], '', { AUTHD_NATIVE: native });
      expect(fwd).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^[\w.~+/=-]+\n$/) });
      const local = await remote(AUTHD, ['get-token', '-p', 'local'], '', { AUTHD_NATIVE: native });
      expect(local).toEqual({ code: 2, stdout: '',
        stderr: 'authd: profile local is not served through a forwarded authd socket\n  on the machine where authd runs, set forward = true in its [profiles.local] table\n' });
      const unknown = await remote(AUTHD, ['get-token', '-p', 'nosuch'], '', { AUTHD_NATIVE: native });
      expect(unknown.stderr).toContain('profile nosuch is not served through a forwarded authd socket');
    });
  }

  test('through it, git gets a token for a forwarded profile\'s host, and nothing for any other host', async () => {
    const fwd = await remote(GIT_HELPER, ['get'], 'protocol=https\nhost=git.fwd.test\n\n');
    expect(fwd).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^username=.*\npassword=[\w.~+/=-]+\n/) });
    expect(await remote(GIT_HELPER, ['get'], 'protocol=https\nhost=git.local.test\n\n')).toEqual({ code: 0, stdout: '', stderr: '' });
    // A credential the local side stores for another host is never read out through the forward.
    expect((await home.run(['git-credential', 'store'], { input: 'protocol=https\nhost=stored.test\nusername=u\npassword=p4ss\n\n' })).code).toBe(0);
    expect(await remote(GIT_HELPER, ['get'], 'protocol=https\nhost=stored.test\n\n')).toEqual({ code: 0, stdout: '', stderr: '' });
    // Nor stored, nor erased through it.
    expect(await remote(GIT_HELPER, ['store'], 'protocol=https\nhost=other.test\nusername=u\npassword=x\n\n')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(await remote(GIT_HELPER, ['erase'], 'protocol=https\nhost=stored.test\n\n')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect((await home.run(['git-credential', 'get'], { input: 'protocol=https\nhost=stored.test\n\n' })).stdout).toContain('password=p4ss');
    // For the forwarded host, git's erase (its server rejected the token) goes through: the next get has a new token.
    const first = /password=(\S+)/.exec(fwd.stdout)![1]!;
    expect(await remote(GIT_HELPER, ['erase'], `protocol=https\nhost=git.fwd.test\nusername=oauth2\npassword=${first}\n\n`)).toEqual({ code: 0, stdout: '', stderr: '' });
    const second = /password=(\S+)/.exec((await remote(GIT_HELPER, ['get'], 'protocol=https\nhost=git.fwd.test\n\n')).stdout)![1]!;
    expect(second).not.toBe(first);
  });

  test('through it, logout, secret set, status, login and daemon stop are refused with a clear message, exit 2', async () => {
    const cases: [string[], string, string?][] = [
      [['logout'], 'authd logout'],
      [['secret', 'set', 'fwd'], 'authd secret set', 'a-secret\n'],
      [['status'], 'authd status'],
      [['login', '-p', 'fwd'], 'authd login'],
      [['daemon', 'stop'], 'authd daemon stop'],
    ];
    for (const [args, what, input] of cases) {
      const r = await remote(AUTHD, args, input ?? '');
      expect({ args, r }).toMatchObject({ args, r: { code: 2, stderr: expect.stringContaining(`authd: ${what} is not available through a forwarded authd socket\n`) } });
    }
    expect((await home.run(['get-token', '-p', 'fwd'])).code).toBe(0);
  });

  test('daemon status through it says it is a forward', async () => {
    const r = await remote(AUTHD, ['daemon', 'status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`socket ${restricted} (forwarded: get-token and git only)`);
    // The far side learns this machine's authd version, not its pid nor its paths.
    expect(r.stdout).toMatch(/^running version \S+\n/);
    const json = JSON.parse((await remote(AUTHD, ['daemon', 'status', '--json'])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ running: true, pid: null, forwarded: true, socket: restricted });
    const raw = await ask(restricted, 'ping', {});
    expect(raw.result).toEqual({ pid: 0, version: expect.any(String), socket: '', restricted: true });
    // Nor the name of its default profile, when that one is not forwarded.
    home.writeConfig(profiles(), { default_profile: 'local', store: 'file' });
    const refused = await remote(AUTHD, ['get-token']);
    expect(refused.stderr).toBe('authd: the default profile is not served through a forwarded authd socket\n'
      + '  on the machine where authd runs, set forward = true in its [profiles.NAME] table, or name a forwarded profile with -p\n');
    home.writeConfig(profiles(), { default_profile: 'fwd', store: 'file' });
  });

  test('the audit log marks what was served through it as forwarded', async () => {
    await remote(AUTHD, ['get-token']);
    await home.run(['daemon', 'stop']); // flushes the audit lines
    const served = home.logText().split('\n').filter((l) => l.includes('"audit":"served"'));
    expect(served.some((l) => l.includes('"forwarded":true'))).toBe(true);
    expect(served.some((l) => !l.includes('"forwarded"'))).toBe(true);
  });

  test('when the forward is gone, the far side gets exit 5 naming it, and starts no daemon of its own', async () => {
    await home.run(['daemon', 'stop']);
    const r = await remote(AUTHD, ['get-token']);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`the authd agent at ${restricted} is not answering`);
    expect(existsSync(restricted)).toBe(false);
    expect(readdirSync(remoteHome)).toEqual([]);
    // The local side starts its daemon again as usual, with both sockets.
    expect((await home.run(['get-token'])).code).toBe(0);
    expect(existsSync(restricted)).toBe(true);
  });
});

describe('what forwards may make the daemon ask the provider', () => {
  test(`through it, at most ${FORWARD_NARROWINGS} different narrower tokens within ten minutes, refused before the provider is asked; the same one again (in any spelling), and the local side, are not limited`, async () => {
    const scopes = ['openid', 'offline_access', 'api:read', 'api:write'];
    // Every non-empty subset of the grant, in a fixed order: 15 different narrowings.
    const sets = Array.from({ length: 15 }, (_, i) => scopes.filter((__, b) => (i + 1) & (1 << b)).join(' '));
    for (const set of sets.slice(0, FORWARD_NARROWINGS)) {
      const r = await remote(AUTHD, ['get-token', '-p', 'wide', '--scope', set]);
      expect(r, set).toMatchObject({ code: 0, stderr: '' });
    }
    // The same narrowing spelt otherwise (order, repeats) is the same one.
    const last = sets[FORWARD_NARROWINGS - 1]!;
    expect((await remote(AUTHD, ['get-token', '-p', 'wide', '--scope', `${last.split(' ').reverse().join('  ')} ${last}`])).code).toBe(0);
    const asked = idp.stats.tokenRequests;
    const over = await remote(AUTHD, ['get-token', '-p', 'wide', '--scope', sets[FORWARD_NARROWINGS]!]);
    expect(over.code).toBe(2);
    expect(over.stdout).toBe('');
    expect(over.stderr).toMatch(new RegExp(`^authd: more than ${FORWARD_NARROWINGS} different narrower tokens \\(--scope, --resource, --audience\\) asked through forwarded authd sockets within 10 minutes\n  ask again for one asked for lately, or for the session's own token \\(no --scope\\), or wait (10 minutes|[1-9] minutes?): `));
    expect(idp.stats.tokenRequests).toBe(asked);
    expect((await remote(AUTHD, ['get-token', '-p', 'wide', '--scope', sets[0]!])).code).toBe(0);
    expect((await remote(AUTHD, ['get-token', '-p', 'wide'])).code).toBe(0);
    expect((await home.run(['get-token', '-p', 'wide', '--scope', sets[FORWARD_NARROWINGS]!])).code).toBe(0);
  });

  test('the limit counts what was admitted in the last ten minutes: one not asked for that long makes room, and the refusal says when', () => {
    let now = 0;
    const budget = new ForwardBudget(FORWARD_NARROWINGS, () => now);
    for (let i = 0; i < FORWARD_NARROWINGS; i++) {
      now = i * 1000;
      expect(budget.admit(`n${i}`)).toBe(true);
    }
    expect(budget.admit('new')).toBe(FORWARD_WINDOW_MS - (FORWARD_NARROWINGS - 1) * 1000);
    now = FORWARD_WINDOW_MS - 1;
    expect(budget.admit('n0')).toBe(true); // asked again: its ten minutes start over
    expect(budget.admit('new')).toBe(1000 + 1); // n1, admitted at 1 s, is now the oldest
    now = FORWARD_WINDOW_MS + 1000;
    expect(budget.admit('new')).toBe(true);
    expect(budget.admit('newer')).not.toBe(true);
  });

  test(`git's erase through it: ${FORWARD_ERASES} within ten minutes, then refused without the session being touched; get and store are not limited`, async () => {
    let now = 0;
    const calls: string[] = [];
    const full = {
      gitCredential: async (p: { action: string }) => {
        calls.push(p.action);
        return { attrs: [] };
      },
    } as unknown as Handlers;
    const handlers = restrictedHandlers(full, { forwardedProfile: (n) => n ?? 'fwd', forwardsGit: () => true }, () => now);
    const conn = {} as Parameters<Handlers['gitCredential']>[1];
    const git = async (action: 'get' | 'store' | 'erase') => handlers.gitCredential({ action, attrs: [['host', 'git.fwd.test']] }, conn);
    for (let i = 0; i < FORWARD_ERASES; i++) await git('erase');
    await expect(git('erase')).rejects.toMatchObject({ code: 'restricted', message: expect.stringMatching(/^more than 8 erases of a rejected token by git through forwarded authd sockets/) });
    await git('get');
    await git('store');
    expect(calls).toEqual([...Array(FORWARD_ERASES).fill('erase'), 'get']); // store is never passed on
    now = FORWARD_WINDOW_MS;
    await git('erase');
    expect(calls.at(-1)).toBe('erase');
  });
});
