// What `authd login` (and the commands around it) tell a user: a provider that cannot be reached,
// named with the request, the URL and the cause; a login over an existing session; a browser that
// is opened only when one can be.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, onTestFinished, test } from 'vitest';
import type { Requester } from '../src/client/command.js';
import type { IO } from '../src/client/io.js';
import { main, reportError } from '../src/client/main.js';
import { AuthdError, type MethodName, type Methods } from '../src/protocol/index.js';
import { approveDeviceCode, startIdp } from '../scripts/dev-idp.mjs';
import { AUTHD, devProfile, Home } from './support/harness.js';
import { freePort } from './support/ports.js';


function homeWith(profiles: Parameters<Home['writeConfig']>[0]): Home {
  const home = new Home();
  onTestFinished(() => home.dispose());
  home.writeConfig(profiles);
  return home;
}

describe('a provider that cannot be reached', () => {
  test('login to an issuer nobody listens on names the discovery URL and "connection refused", and says to run login again', async () => {
    const port = await freePort();
    const home = homeWith({ acme: { issuer: `http://127.0.0.1:${port}/realms/dev`, client_id: 'authd-cli', flow: 'device' } });
    const r = await home.run(['login', '-p', 'acme']);
    expect(r.code).toBe(4);
    const [message, hint, ...more] = r.stderr.trimEnd().split('\n');
    expect(more).toEqual([]);
    expect(message).toBe(
      `authd: cannot reach the provider for the discovery request to http://127.0.0.1:${port}/realms/dev/.well-known/openid-configuration: connection refused`);
    expect(hint).toBe(`  check that the provider is running at http://127.0.0.1:${port}, and the issuer URL of profile acme; then run \`authd login -p acme\` again`);
    // Nothing retries a login.
    expect(r.stderr).not.toMatch(/retries/);
  });

  test('login to an issuer whose name does not resolve names the host, the URL and the cause', async () => {
    const home = homeWith({ acme: { issuer: 'https://authd-test.invalid', client_id: 'authd-cli', flow: 'device' } });
    const r = await home.run(['login', '-p', 'acme']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(new RegExp(
      '^authd: cannot reach the provider for the discovery request to https://authd-test\\.invalid/\\.well-known/openid-configuration: '
      + 'the name authd-test\\.invalid could not be resolved \\((ENOTFOUND|EAI_AGAIN)\\)\n'
      + '  check that authd-test\\.invalid is spelled right in profile acme, and your network and DNS; then run `authd login -p acme` again\n$'));

    // doctor says the same, with the fix on its own line.
    const doctor = await home.run(['doctor']);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/\n✗ profile acme: cannot reach the provider for the discovery request to https:\/\/authd-test\.invalid\/\.well-known\/openid-configuration: the name authd-test\.invalid could not be resolved/);
    expect(doctor.stdout).toContain('\n    fix: check that authd-test.invalid is spelled right in profile acme, and your network and DNS\n');
  });

  test('a token request to a closed port names the endpoint without its query, and the cause; get-token does not claim a retry', async () => {
    const port = await freePort();
    const home = homeWith({
      ci: { token_endpoint: `http://127.0.0.1:${port}/oauth/token?tenant=s3cr3t-tenant`, client_id: 'svc', flow: 'client_credentials' },
    });
    expect((await home.run(['secret', 'set', 'ci'], { input: 'svc-secret' })).code).toBe(0);
    for (const argv of [['login', '-p', 'ci'], ['get-token', '-p', 'ci']]) {
      const r = await home.run(argv);
      expect(r.code, argv.join(' ')).toBe(4);
      expect(r.stderr, argv.join(' ')).toContain(
        `authd: cannot reach the provider for the client credentials request to http://127.0.0.1:${port}/oauth/token: connection refused\n`);
      expect(r.stderr).not.toContain('s3cr3t');
      expect(r.stderr).not.toMatch(/retries/);
    }
  });
});

describe('logging in again', () => {
  test('login over a session says who is logged in and that the new login replaces it; once approved the old one is revoked', async () => {
    const idp = await startIdp({ accessTokenTtl: 600 });
    onTestFinished(() => idp.close());
    const home = homeWith({ acme: devProfile(idp) });
    await home.login('acme');
    const old = home.storedSession('acme')?.refresh_token as string;
    expect((await idp.introspect(old)).active).toBe(true);

    const child = spawn(AUTHD, ['login', '-p', 'acme'], { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const approved = new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        const before = stderr;
        stderr += d.toString();
        const m = /open (http\S+user_code=\S+)/.exec(stderr);
        if (m && !/open (http\S+user_code=\S+)/.test(before)) approveDeviceCode(m[1]!).then(resolve, reject);
      });
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    await approved;
    expect(code).toBe(0);
    expect(stderr.split('\n')[0]).toMatch(new RegExp(
      '^Profile acme is logged in as alice \\(token valid for (9|10)m\\d\\ds\\)\\. Logging in again replaces that session once you approve; '
      + 'the old one is then revoked \\(Ctrl-C keeps it\\)\\.$'));
    expect(stderr).toContain('Logged in to acme as alice');

    const now = home.storedSession('acme')?.refresh_token as string;
    expect(now).not.toBe(old);
    expect((await idp.introspect(now)).active).toBe(true);
    await expect.poll(async () => (await idp.introspect(old)).active).toBe(false);

    // --json says it too: the first login of a profile replaces nothing.
    home.writeConfig({ acme: devProfile(idp), fresh: devProfile(idp) });
    const events: Record<string, unknown>[] = [];
    for (const profile of ['acme', 'fresh']) {
      const json = spawn(AUTHD, ['login', '--json', '-p', profile], { env: home.env, stdio: ['ignore', 'pipe', 'ignore'] });
      const first = await new Promise<Record<string, unknown>>((resolve) => {
        let buf = '';
        json.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          if (buf.includes('\n')) resolve(JSON.parse(buf.slice(0, buf.indexOf('\n'))) as Record<string, unknown>);
        });
      });
      json.kill('SIGINT');
      events.push(first);
    }
    expect(events[0]).toMatchObject({ event: 'device_code', replaces: { subject: 'alice', expires_at: expect.any(Number) } });
    expect(events[1]).toMatchObject({ event: 'device_code', replaces: null });
  });
});

describe('opening a browser', () => {
  type Answers = { [M in MethodName]?: (params: Methods[M]['params']) => Methods[M]['result'] };
  const answers: Answers = {
    loginStart: () => ({
      profile: 'acme', status: 'pending',
      device: { verification_uri: 'https://id.example.com/device', verification_uri_complete: 'https://id.example.com/device?user_code=ABCD-EFGH', user_code: 'ABCD-EFGH', expires_in: 600, joined: false },
    }),
    loginWait: () => ({ profile: 'acme', subject: 'alice' }),
  };

  /** `authd login` in-process, on a terminal (stderr is a TTY), with the environment given. */
  async function loginOnTerminal(env: Record<string, string>): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    const io: IO = {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (stderr += s), isTTY: true },
      stdin: Readable.from(['']),
      env,
    };
    const daemon: Requester = {
      request: async (method, params) => {
        const answer = answers[method] as ((p: unknown) => unknown) | undefined;
        if (!answer) throw new AuthdError('unknown_method', `no answer for ${method}`);
        return answer(params) as never;
      },
      close: () => undefined,
    };
    let code: number;
    try {
      code = await main(['login'], io, { connect: async () => daemon });
    } catch (err) {
      code = reportError(err, io);
    }
    return { code, stderr };
  }

  function emptyDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'authd-path.'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  test.skipIf(process.platform !== 'linux')('with no xdg-open on PATH it does not claim to have opened the browser', async () => {
    const r = await loginOnTerminal({ PATH: emptyDir(), DISPLAY: ':0', AUTHD_HOME: emptyDir() });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('one-time code: ABCD-EFGH');
    expect(r.stderr).not.toMatch(/opening it in your browser|opened it/);
    expect(r.stderr).toContain('  (could not open a browser: xdg-open is not installed)\n');
  });

  test.skipIf(process.platform !== 'linux')('with an xdg-open on PATH it says so, and the opener gets the URL', async () => {
    const bin = emptyDir();
    const opened = join(bin, 'opened');
    writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s' "$1" > "${opened}.tmp" && mv "${opened}.tmp" "${opened}"\n`);
    chmodSync(join(bin, 'xdg-open'), 0o755);
    const arrived = new Promise<void>((resolve) => {
      const w = watch(bin, (_, name) => {
        if (name === 'opened') {
          w.close();
          resolve();
        }
      });
    });
    const r = await loginOnTerminal({ PATH: `${bin}:/usr/bin:/bin`, DISPLAY: ':0', AUTHD_HOME: emptyDir() });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('  (opening it in your browser)\n');
    await arrived;
    expect(readFileSync(opened, 'utf8')).toBe('https://id.example.com/device?user_code=ABCD-EFGH');
  });
});
