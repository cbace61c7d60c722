// A service profile (client_credentials): the secret comes from the caller's environment, is kept
// in the daemon's memory only, and never shows up in argv, the log, status or error text.
import { readFileSync } from 'node:fs';
import { expect, onTestFinished, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { findLeaks, Home, type ProfileSpec, type Result, theOneToken } from './support/harness.js';
import { allCmdlines } from './support/procs.js';

const SECRET = 'svc-secret';
const WRONG = 'not-the-svc-secret-7f3a9c';

function ciProfile(idp: Idp, extra: ProfileSpec = {}): ProfileSpec {
  return { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', scopes: ['api:read'], client_secret_env: 'SVC_SECRET', ...extra };
}

/** A provider and a home whose daemon was started by a command that did not have the secret. */
async function setup(accessTokenTtl = 30): Promise<{ idp: Idp; home: Home }> {
  const idp = await startIdp({ accessTokenTtl });
  const home = new Home();
  onTestFinished(async () => {
    await home.dispose();
    await idp.close();
  });
  home.writeConfig({ ci: ciProfile(idp) });
  expect(home.env.SVC_SECRET).toBeUndefined();
  const started = await home.run(['daemon', 'start']);
  expect(started.code).toBe(0);
  return { idp, home };
}

const withSecret = (secret = SECRET) => ({ env: { SVC_SECRET: secret } });


function expectNoSecret(texts: Record<string, string>, secret: string): void {
  for (const [where, text] of Object.entries(texts)) expect(text.includes(secret), `${where} contains the client secret`).toBe(false);
}

test('SVC_SECRET from the caller gets a token from an already-running daemon; 20 parallel callers share one token request', async () => {
  const { idp, home } = await setup();
  const cmdlines: string[] = [allCmdlines()];
  const before = idp.stats.clientCredentials;

  const calls: Promise<Result>[] = Array.from({ length: 20 }, () => home.run(['get-token', '-p', 'ci'], withSecret()));
  // Look at every process's argv while the callers and the daemon are at work.
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 30));
    cmdlines.push(allCmdlines());
  }
  const results = await Promise.all(calls);
  cmdlines.push(allCmdlines());
  const token = theOneToken(results);
  const info = await idp.introspect(token);
  expect(info.active).toBe(true);
  expect(info.client_id).toBe('svc');
  expect(idp.stats.clientCredentials).toBe(before + 1);

  // The daemon keeps the secret in memory: a caller without it is served the same token.
  const without = await home.run(['get-token', '-p', 'ci']);
  expect(without.code).toBe(0);
  expect(without.stdout.trim()).toBe(token);

  const pid = home.daemonPid();
  expect(pid).toBeTypeOf('number');
  expect(cmdlines.join('\n')).toContain('daemon.mjs');
  const status = await home.run(['status']);
  const statusJson = await home.run(['status', '--json']);
  expect(status.code).toBe(0);
  const texts = {
    'argv of a process': cmdlines.join('\n'),
    'daemon log and state files': home.stateFilesText(),
    'authd status': status.stdout,
    'authd status --json': statusJson.stdout,
    stderr: home.stderrs.join('\n'),
    'the daemon environment': readFileSync(`/proc/${pid}/environ`, 'utf8'),
  };
  expectNoSecret(texts, SECRET);
  expect(findLeaks(idp, texts)).toEqual([]);
});

test('without SVC_SECRET and no secret given before, get-token exits 2 naming the variable', async () => {
  const { idp, home } = await setup();
  const r = await home.run(['get-token', '-p', 'ci']);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^authd: /);
  expect(r.stderr).toContain('SVC_SECRET');
  expect(r.stderr).not.toMatch(/\n\s+at \S/);
  // An empty variable is no secret either.
  const empty = await home.run(['get-token', '-p', 'ci'], withSecret(''));
  expect(empty.code).toBe(2);
  expect(empty.stderr).toContain('SVC_SECRET');
  expect(idp.stats.clientCredentials).toBe(0);
});

test('a wrong secret is a clear error (exit 1) that does not contain the secret', async () => {
  const { idp, home } = await setup();
  const r = await home.run(['get-token', '-p', 'ci'], withSecret(WRONG));
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^authd: \S/);
  expect(r.stderr.trimEnd().split('\n').length).toBeLessThanOrEqual(2);
  expect(r.stderr).not.toMatch(/\n\s+at \S/);
  // Says what is wrong in the user's terms (the client credentials; check the secret), not in the HTTP library's.
  expect(r.stderr.split('\n')[0]).toMatch(/refused the client credentials of profile ci/);
  expect(r.stderr.split('\n')[1]).toMatch(/secret in \$SVC_SECRET/);
  expect(r.stderr).not.toMatch(/WWW-Authenticate/i);
  expectNoSecret({ stderr: home.stderrs.join('\n'), log: home.stateFilesText(), status: (await home.run(['status', '--json'])).stdout }, WRONG);
  expect(idp.stats.clientCredentials).toBe(0);
});

test('after a wrong secret, calling again with the right one works without restarting the daemon', async () => {
  const { idp, home } = await setup();
  expect((await home.run(['get-token', '-p', 'ci'], withSecret(WRONG))).code).toBe(1);
  const r = await home.run(['get-token', '-p', 'ci'], withSecret());
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect((await idp.introspect(r.stdout.trim())).active).toBe(true);
});

test('get-token formats: json, header and kubectl ExecCredential', async () => {
  const { home } = await setup();
  const plain = await home.run(['get-token', '-p', 'ci'], withSecret());
  expect(plain.code).toBe(0);
  const token = plain.stdout.trim();
  expect(plain.stdout).toBe(`${token}\n`);

  const json = await home.run(['get-token', '-p', 'ci', '--format', 'json'], withSecret());
  expect(json.code).toBe(0);
  const j = JSON.parse(json.stdout) as Record<string, unknown>;
  expect(j).toEqual({ access_token: token, token_type: expect.stringMatching(/^bearer$/i), expires_at: expect.any(Number), profile: 'ci' });
  const expiresAt = j.expires_at as number;
  expect(expiresAt * 1000).toBeGreaterThan(Date.now());
  expect(expiresAt * 1000).toBeLessThan(Date.now() + 31_000);

  const header = await home.run(['get-token', '-p', 'ci', '--format', 'header'], withSecret());
  expect(header.code).toBe(0);
  expect(header.stdout).toBe(`Authorization: Bearer ${token}\n`);

  const cred = await home.run(['get-token', '-p', 'ci', '--format', 'exec-credential'], withSecret());
  expect(cred.code).toBe(0);
  const c = JSON.parse(cred.stdout) as { apiVersion: string; kind: string; status: { token: string; expirationTimestamp: string } };
  expect(c.apiVersion).toBe('client.authentication.k8s.io/v1');
  expect(c.kind).toBe('ExecCredential');
  expect(c.status.token).toBe(token);
  expect(c.status.expirationTimestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
  expect(Math.abs(Date.parse(c.status.expirationTimestamp) - expiresAt * 1000)).toBeLessThan(1000);

  const bad = await home.run(['get-token', '-p', 'ci', '--format', 'yaml'], withSecret());
  expect(bad.code).toBe(2);
  expect(bad.stdout).toBe('');
});

test('authd exec runs a command with the token in its environment, never in its argv, and passes on its exit code', async () => {
  const { home } = await setup();
  const ok = await home.run(['exec', '-p', 'ci', '--', 'sh', '-c', 'test -n "$AUTHD_TOKEN" && echo ok'], withSecret());
  expect(ok.stderr).toBe('');
  expect(ok.code).toBe(0);
  expect(ok.stdout).toBe('ok\n');

  const seven = await home.run(['exec', '-p', 'ci', '--', 'sh', '-c', 'exit 7'], withSecret());
  expect(seven.code).toBe(7);

  // The child lists the argv of every process it can see, then prints its token (echo is a builtin).
  const script = 'for f in /proc/[0-9]*/cmdline; do tr "\\000" " " < "$f" 2>/dev/null; echo; done; echo "TOKEN=$MY_TOKEN"';
  const named = await home.run(['exec', '-p', 'ci', '--env', 'MY_TOKEN', '--', 'sh', '-c', script], withSecret());
  expect(named.code).toBe(0);
  const m = /^TOKEN=(.*)$/m.exec(named.stdout);
  expect(m?.[1]).toBeTruthy();
  const token = m![1]!;
  const argvs = named.stdout.slice(0, m!.index);
  expect(argvs).toContain('for f in /proc/');
  expect(argvs).not.toContain(token);
  expect(argvs).not.toContain(SECRET);

  const direct = await home.run(['get-token', '-p', 'ci'], withSecret());
  expect(direct.stdout.trim()).toBe(token);

  const missing = await home.run(['exec', '-p', 'ci', '--', 'authd-no-such-command-xyz'], withSecret());
  expect(missing.code).not.toBe(0);
  expect(missing.stderr).toMatch(/^authd: /);
});

test('authd login for a client_credentials profile verifies the secret', async () => {
  const { idp, home } = await setup();
  const ok = await home.run(['login', '-p', 'ci'], withSecret());
  expect(ok.code).toBe(0);
  expect(ok.stdout).toBe('');
  expect(idp.stats.clientCredentials).toBe(1);
  const json = await home.run(['login', '-p', 'ci', '--json'], withSecret());
  expect(json.code).toBe(0);
  expect(JSON.parse(json.stdout)).toMatchObject({ event: 'logged_in', profile: 'ci' });

  // A wrong secret is reported as wrong, even though the daemon holds a good one from before.
  const wrong = await home.run(['login', '-p', 'ci'], withSecret(WRONG));
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).not.toContain(WRONG);
  expectNoSecret({ stderr: home.stderrs.join('\n'), log: home.stateFilesText() }, SECRET);
});

test('authd login for a client_credentials profile with a wrong secret fails, on a fresh daemon', async () => {
  const { idp, home } = await setup();
  const wrong = await home.run(['login', '-p', 'ci'], withSecret(WRONG));
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toMatch(/^authd: \S/);
  expect(wrong.stderr).not.toContain(WRONG);
  const none = await home.run(['login', '-p', 'ci']);
  expect(none.code).toBe(2);
  expect(none.stderr).toContain('SVC_SECRET');
  expect(idp.stats.clientCredentials).toBe(0);
});
