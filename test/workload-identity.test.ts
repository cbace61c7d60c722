// Workload identity with no stored secret: token_exchange (RFC 8693) and jwt_bearer (RFC 7523) trade
// a subject token for an access token at the real test provider, which checks the subject token's
// signature, issuer, audience and expiry against a local issuer of subject tokens (playing the CI
// platform or the cluster). The subject token comes from a file, GitHub Actions' ID token endpoint
// (with the caller's ACTIONS_ID_TOKEN_REQUEST_* variables) or a command.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import { type Idp, startIdp, WORKLOAD_AUDIENCE } from '../scripts/dev-idp.mjs';
import { secretsFromEnv } from '../src/client/trust.js';
import { parseConfig } from '../src/daemon/config/index.js';
import { findLeaks, Home, type ProfileSpec, type Result, sleep, theOneToken } from './support/harness.js';
import { allCmdlines } from './support/procs.js';
import { startSubjectIssuer } from './support/subject-issuer.js';

const K8S_SUB = 'system:serviceaccount:ci:builder';

async function setup(profiles: (idp: Idp, home: Home) => Record<string, ProfileSpec>, accessTokenTtl = 30) {
  const issuer = await startSubjectIssuer();
  const idp = await startIdp({ accessTokenTtl, subjectIssuers: [{ issuer: issuer.issuer, jwks: issuer.jwks }] });
  const home = new Home();
  onTestFinished(async () => {
    await home.dispose();
    await idp.close();
    await issuer.close();
  });
  home.writeConfig(profiles(idp, home));
  return { issuer, idp, home };
}

function workload(idp: Idp, flow: 'token_exchange' | 'jwt_bearer', extra: ProfileSpec): ProfileSpec {
  return { issuer: idp.issuer, client_id: 'workload', flow, scopes: ['api:read'], ...extra };
}

/** Writes the token the way the kubelet does: a new file renamed over the old one (a new inode). */
function swapIn(file: string, token: string): void {
  writeFileSync(`${file}.new`, `${token}\n`);
  renameSync(`${file}.new`, file);
}

function statusJson(r: Result): { profiles: Record<string, unknown>[] } {
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { profiles: Record<string, unknown>[] };
}

function expectNone(secrets: Iterable<string>, texts: Record<string, string>): void {
  for (const secret of secrets) {
    for (const [where, text] of Object.entries(texts)) expect(text.includes(secret), `${where} holds ${secret.slice(0, 12)}…`).toBe(false);
  }
}

test('a projected token file: exchanged once for 10 parallel callers, the token is the subject\'s, and a new file is read when it changes', async () => {
  const file = (home: Home) => join(home.dir, 'sa-token');
  const { issuer, idp, home } = await setup((idp, home) => ({ k8s: workload(idp, 'token_exchange', { subject_token_file: file(home) }) }), 2);
  swapIn(file(home), issuer.sign({ sub: K8S_SUB, aud: WORKLOAD_AUDIENCE }));

  const results = await Promise.all(Array.from({ length: 10 }, () => home.run(['get-token', '-p', 'k8s'])));
  const first = theOneToken(results);
  expect(idp.stats.tokenExchanges).toBe(1);
  const info = await idp.introspect(first);
  expect(info).toMatchObject({ active: true, sub: K8S_SUB, client_id: 'workload', scope: 'api:read' });

  const status = await home.run(['status']);
  expect(status.stdout).toMatch(new RegExp(`k8s\\s+file ${file(home).replace(/[.]/g, '\\.')}`));
  const s = statusJson(await home.run(['status', '--json'])).profiles[0]!;
  expect(s).toMatchObject({ profile: 'k8s', flow: 'token_exchange', logged_in: true, subject: K8S_SUB, subject_token_source: `file ${file(home)}` });
  const doctor = await home.run(['doctor']);
  expect(doctor.stdout).toContain(`the provider exchanges the subject token from file ${file(home)} for client workload`);

  // The kubelet rotates the token: the next exchange (the token lives 2 s) sends the new one.
  swapIn(file(home), issuer.sign({ sub: 'system:serviceaccount:ci:rotated', aud: WORKLOAD_AUDIENCE }));
  await sleep(2200);
  const second = await home.run(['get-token', '-p', 'k8s']);
  expect(second.code).toBe(0);
  expect((await idp.introspect(second.stdout.trim())).sub).toBe('system:serviceaccount:ci:rotated');

  // Rewritten in place (same inode, another size and mtime): read again as well.
  writeFileSync(file(home), issuer.sign({ sub: 'system:serviceaccount:ci:in-place-rewrite', aud: WORKLOAD_AUDIENCE }));
  await sleep(2200);
  const third = await home.run(['get-token', '-p', 'k8s']);
  expect(third.code).toBe(0);
  expect((await idp.introspect(third.stdout.trim())).sub).toBe('system:serviceaccount:ci:in-place-rewrite');
  expect(idp.subjects).toContain('system:serviceaccount:ci:rotated');

  const texts = { log: home.stateFilesText(), stderr: home.stderrs.join('\n'), status: status.stdout };
  expectNone(issuer.issued, texts);
  expect(findLeaks(idp, texts)).toEqual([]);
});

test('a token file another user could have written, or a FIFO in its place, is refused without reading it', async () => {
  const file = (home: Home) => join(home.dir, 'sa-token');
  const { issuer, idp, home } = await setup((idp, home) => ({ k8s: workload(idp, 'token_exchange', { subject_token_file: file(home) }) }));
  swapIn(file(home), issuer.sign({ sub: K8S_SUB, aud: WORKLOAD_AUDIENCE }));
  chmodSync(file(home), 0o666);
  const open = await home.run(['get-token', '-p', 'k8s']);
  expect(open.code).toBe(2);
  expect(open.stderr).toContain('could have been written by another user (owner uid 0, mode 0666)');
  rmSync(file(home));
  execFileSync('mkfifo', [file(home)]);
  const fifo = await home.run(['get-token', '-p', 'k8s'], { timeoutMs: 10_000 });
  expect(fifo.code).toBe(2);
  expect(fifo.stderr).toContain('is not a regular file');
  expect(idp.stats.tokenExchanges).toBe(0);
});

test('a missing or empty token file, or one that holds no token, is a clear error naming the file; nothing is sent', async () => {
  const file = (home: Home) => join(home.dir, 'no-such-token');
  const { idp, home } = await setup((idp, home) => ({ k8s: workload(idp, 'token_exchange', { subject_token_file: file(home) }) }));
  const missing = await home.run(['get-token', '-p', 'k8s']);
  expect(missing.code).toBe(2);
  expect(missing.stdout).toBe('');
  expect(missing.stderr).toContain(`the subject token file ${file(home)} of profile k8s does not exist`);
  expect(missing.stderr).toMatch(/projected service account token/);

  writeFileSync(file(home), '\n');
  const empty = await home.run(['get-token', '-p', 'k8s']);
  expect(empty.code).toBe(1);
  expect(empty.stderr).toContain(`the subject token file ${file(home)} of profile k8s is empty`);

  writeFileSync(file(home), 'two words\n');
  const garbage = await home.run(['get-token', '-p', 'k8s']);
  expect(garbage.code).toBe(1);
  expect(garbage.stderr).toMatch(/does not look like a token/);
  expect(garbage.stderr).not.toContain('two words');
  expect(idp.stats.tokenRequests).toBe(0);
});

test('a subject token with the wrong audience, expired, or signed by another key is refused with a clear message naming its source', async () => {
  const file = (home: Home) => join(home.dir, 'sa-token');
  const { issuer, idp, home } = await setup((idp, home) => ({
    k8s: workload(idp, 'token_exchange', { subject_token_file: file(home) }),
    bearer: workload(idp, 'jwt_bearer', { subject_token_file: file(home) }),
  }));
  const cases: [string, string, RegExp][] = [
    ['wrong audience', issuer.sign({ sub: K8S_SUB, aud: 'https://kubernetes.default.svc' }), /subject token audience is not dev-idp-workload/],
    ['expired', issuer.sign({ sub: K8S_SUB, aud: WORKLOAD_AUDIENCE, exp: Math.floor(Date.now() / 1000) - 60 }), /subject token has expired/],
    ['badly signed', issuer.sign({ sub: K8S_SUB, aud: WORKLOAD_AUDIENCE }, { foreignKey: true }), /subject token signature is invalid/],
  ];
  for (const [what, token, reason] of cases) {
    swapIn(file(home), token);
    for (const profile of ['k8s', 'bearer']) {
      const r = await home.run(['get-token', '-p', profile]);
      expect(r.code, `${what}, ${profile}`).toBe(1);
      expect(r.stdout).toBe('');
      const [message, hint] = r.stderr.trimEnd().split('\n');
      expect(message).toMatch(new RegExp(`^authd: the provider refused the subject token of profile ${profile}, from file ${file(home).replace(/[.]/g, '\\.')},`));
      expect(message).toMatch(profile === 'k8s' ? /token exchange request \(RFC 8693\) \(HTTP 400 invalid_request/ : /JWT bearer request \(RFC 7523\) \(HTTP 400 invalid_grant/);
      expect(message).toMatch(reason);
      expect(hint).toMatch(/trusts that token for client workload/);
      expect(r.stderr).not.toMatch(/authd login/);
      expect(r.stderr).not.toContain(token);
    }
  }
  // Each was asked for: a refusal is not cached, and a good token afterwards works.
  expect(idp.stats.tokenRequests).toBe(6);
  swapIn(file(home), issuer.sign({ sub: K8S_SUB, aud: WORKLOAD_AUDIENCE }));
  const ok = await home.run(['get-token', '-p', 'bearer']);
  expect(ok.stderr).toBe('');
  expect((await idp.introspect(ok.stdout.trim())).sub).toBe(K8S_SUB);
  expect(idp.stats.jwtBearers).toBe(1);
  const texts = { log: home.stateFilesText(), stderr: home.stderrs.join('\n') };
  expectNone(issuer.issued, texts);
});

test('GitHub Actions: the caller\'s ACTIONS_ID_TOKEN_REQUEST_* variables reach the ID token endpoint, never the daemon\'s environment or log', async () => {
  const { issuer, idp, home } = await setup((idp) => ({
    gha: workload(idp, 'jwt_bearer', { subject_token_source: 'github-actions', subject_token_audience: WORKLOAD_AUDIENCE }),
  }));
  const ciEnv = { ACTIONS_ID_TOKEN_REQUEST_URL: issuer.requestUrl, ACTIONS_ID_TOKEN_REQUEST_TOKEN: issuer.requestToken };
  expect((await home.run(['daemon', 'start'])).code).toBe(0);

  // Outside a job: both variables named, nothing asked.
  const outside = await home.run(['get-token', '-p', 'gha']);
  expect(outside.code).toBe(2);
  expect(outside.stderr).toContain('$ACTIONS_ID_TOKEN_REQUEST_URL and $ACTIONS_ID_TOKEN_REQUEST_TOKEN');
  expect(outside.stderr).toMatch(/id-token: write/);
  expect(issuer.requests).toEqual([]);
  const doctor = await home.run(['doctor']);
  expect(doctor.stdout).toMatch(/not checked: profile gha takes its subject token from GitHub Actions, .*and this daemon has not been given them/);
  expect(doctor.stdout).toContain('run `authd login -p gha` in the CI job');

  const cmdlines: string[] = [allCmdlines()];
  const calls = Array.from({ length: 8 }, () => home.run(['get-token', '-p', 'gha'], { env: ciEnv }));
  for (let i = 0; i < 4; i++) {
    await sleep(25);
    cmdlines.push(allCmdlines());
  }
  const token = theOneToken(await Promise.all(calls));
  expect(await idp.introspect(token)).toMatchObject({ active: true, sub: issuer.ciSubject, client_id: 'workload' });
  expect(issuer.requests).toEqual([{ audience: WORKLOAD_AUDIENCE, authorized: true }]);
  expect(idp.stats.jwtBearers).toBe(1);

  // Every caller proves its job: one without the variables is not handed the token another job's got.
  const without = await home.run(['get-token', '-p', 'gha']);
  expect(without).toMatchObject({ code: 2, stdout: '' });
  expect(without.stderr).toContain('$ACTIONS_ID_TOKEN_REQUEST_URL and $ACTIONS_ID_TOKEN_REQUEST_TOKEN');
  // The same job again: the token in hand, no new exchange.
  expect((await home.run(['get-token', '-p', 'gha'], { env: ciEnv })).stdout.trim()).toBe(token);
  expect(idp.stats.jwtBearers).toBe(1);

  const status = await home.run(['status']);
  expect(status.stdout).toMatch(new RegExp(`gha\\s+github-actions \\(audience ${WORKLOAD_AUDIENCE}\\)`));
  const statusJ = await home.run(['status', '--json']);
  expect(statusJson(statusJ).profiles[0]).toMatchObject({ subject: issuer.ciSubject, subject_token_source: `github-actions (audience ${WORKLOAD_AUDIENCE})` });
  const pid = home.daemonPid()!;
  const texts = {
    'argv of a process': cmdlines.join('\n'),
    'daemon log and state files': home.stateFilesText(),
    'authd status': status.stdout,
    'authd status --json': statusJ.stdout,
    stderr: home.stderrs.join('\n'),
    'the daemon environment': readFileSync(`/proc/${pid}/environ`, 'utf8'),
  };
  expectNone([issuer.requestToken, issuer.requestUrl, ...issuer.issued], texts);
  expect(findLeaks(idp, texts)).toEqual([]);

  // A request token that is not (or no longer) good: said as GitHub's refusal, and the next caller's is used.
  const stale = await home.run(['login', '-p', 'gha'], { env: { ...ciEnv, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'expired-request-token' } });
  expect(stale.code).toBe(1);
  expect(stale.stderr).toMatch(/GitHub Actions' ID token endpoint http:\/\/127\.0\.0\.1:\d+\/idtoken refused the request of profile gha \(HTTP 401\)/);
  expect(stale.stderr).not.toContain('expired-request-token');
  const again = await home.run(['login', '-p', 'gha'], { env: ciEnv });
  expect(again.code).toBe(0);

  // Another job on the same runner, with variables of its own (a daemon that outlived the first job):
  // it gets a token of its own, never the first job's.
  const before = idp.stats.jwtBearers;
  const mine = (await home.run(['get-token', '-p', 'gha'], { env: ciEnv })).stdout.trim();
  const other = await home.run(['get-token', '-p', 'gha'], { env: { ...ciEnv, ACTIONS_ID_TOKEN_REQUEST_URL: `${issuer.requestUrl}&job=2` } });
  expect(other).toMatchObject({ code: 0, stderr: '' });
  expect(other.stdout.trim()).not.toBe(mine);
  expect(idp.stats.jwtBearers).toBeGreaterThan(before);
});

test('GitHub Actions: a request URL that is plain http to another host is refused before the request token is sent', async () => {
  const { issuer, home } = await setup((idp) => ({
    gha: workload(idp, 'token_exchange', { subject_token_source: 'github-actions', subject_token_audience: WORKLOAD_AUDIENCE }),
  }));
  const r = await home.run(['get-token', '-p', 'gha'], {
    env: { ACTIONS_ID_TOKEN_REQUEST_URL: 'http://example.com/idtoken?api-version=2.0', ACTIONS_ID_TOKEN_REQUEST_TOKEN: issuer.requestToken },
  });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('$ACTIONS_ID_TOKEN_REQUEST_URL is not an https:// URL');
  expect(issuer.requests).toEqual([]);
});

test('the client sends the ACTIONS_ID_TOKEN_REQUEST_* variables only where the user\'s config has a github-actions profile', async () => {
  const home = new Home();
  onTestFinished(() => rmSync(home.dir, { recursive: true, force: true }));
  const env = { ...home.env, ACTIONS_ID_TOKEN_REQUEST_URL: 'https://x.example/idtoken?api-version=2.0', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'req-token' };
  const names = ['ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN'];
  home.writeConfig({ ci: { issuer: 'https://idp.example', client_id: 'svc', flow: 'client_credentials', client_secret_env: 'SVC_SECRET' } });
  await expect(secretsFromEnv(names, env)).rejects.toThrow(/no profile in your config .* has subject_token_source = "github-actions": not sent/);
  home.writeConfig({ gha: { issuer: 'https://idp.example', client_id: 'w', flow: 'jwt_bearer', subject_token_source: 'github-actions', subject_token_audience: 'a' } });
  expect(await secretsFromEnv(names, env)).toEqual({ ACTIONS_ID_TOKEN_REQUEST_URL: env.ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'req-token' });
  // A variable the config does not name, asked for alongside: nothing is sent.
  await expect(secretsFromEnv([...names, 'HOME'], env)).resolves.toBeUndefined();
  await expect(secretsFromEnv(['ACTIONS_ID_TOKEN_REQUEST_URL', 'HOME'], env)).rejects.toThrow(/\$HOME, which no profile/);
});

test('a command: run without a shell, its stdout is the token, its stderr is not shown or logged; a failing one is a clear error', async () => {
  const script = (home: Home) => join(home.dir, 'print-token');
  const { issuer, idp, home } = await setup((idp, home) => ({
    cmd: workload(idp, 'token_exchange', { subject_token_command: [script(home), 'two words', '$HOME;`id`'] }),
  }));
  const jwt = issuer.sign({ sub: 'spiffe://acme/ci', aud: WORKLOAD_AUDIENCE });
  const argsFile = join(home.dir, 'args');
  // Its arguments arrive as written (no shell split or expanded them); it chatters on stderr.
  writeFileSync(script(home), `#!/bin/sh\nprintf '%s\\n' "$@" > '${argsFile}'\necho "noise-from-the-command" >&2\nprintf '%s\\n' '${jwt}'\n`);
  chmodSync(script(home), 0o700);
  const r = await home.run(['get-token', '-p', 'cmd']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect((await idp.introspect(r.stdout.trim())).sub).toBe('spiffe://acme/ci');
  expect(readFileSync(argsFile, 'utf8')).toBe('two words\n$HOME;`id`\n');
  const status = statusJson(await home.run(['status', '--json'])).profiles[0]!;
  expect(status.subject_token_source).toBe(`command ${script(home)}`);

  writeFileSync(script(home), '#!/bin/sh\necho "noise-from-the-command" >&2\nexit 3\n');
  const failed = await home.run(['login', '-p', 'cmd']);
  expect(failed.code).toBe(1);
  expect(failed.stderr).toContain(`the subject_token_command of profile cmd (${script(home)}) failed (exit status 3)`);

  // A command that hangs, with a child holding its output open: ended at the profile's timeout, with
  // its child; the profile is not wedged by it.
  home.writeConfig({ cmd: workload(idp, 'token_exchange', { subject_token_command: [script(home)], timeout: 1 }) });
  writeFileSync(script(home), '#!/bin/sh\nsleep 30\n');
  const started = Date.now();
  const hung = await home.run(['login', '-p', 'cmd']);
  expect(hung.code).toBe(1);
  expect(hung.stderr).toContain('did not finish within 1 s');
  expect(Date.now() - started).toBeLessThan(10_000);
  writeFileSync(script(home), `#!/bin/sh\nprintf '%s\\n' '${jwt}'\n`);
  expect((await home.run(['get-token', '-p', 'cmd'])).code).toBe(0);

  rmSync(script(home));
  const gone = await home.run(['login', '-p', 'cmd']);
  expect(gone.code).toBe(2);
  expect(gone.stderr).toContain(`the subject_token_command of profile cmd (${script(home)}) was not found`);

  const texts = { log: home.stateFilesText(), stderr: home.stderrs.join('\n') };
  expectNone(['noise-from-the-command', jwt], texts);
  expect(findLeaks(idp, texts)).toEqual([]);
});

test('a workload profile needs exactly one subject token source, and takes no client secret', () => {
  const file = '/home/u/.config/authd/config.toml';
  const toml = (p: Record<string, string | string[]>) =>
    `[profiles.w]\nissuer = "https://idp.example"\nclient_id = "w"\n${Object.entries(p).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n')}\n`;
  const cases: [Record<string, string | string[]>, RegExp][] = [
    [{ flow: 'token_exchange' }, /:1: profiles\.w uses the token_exchange flow, so it needs where its subject token comes from/],
    [{ flow: 'token_exchange', subject_token_file: '/t', subject_token_command: ['/bin/cat', '/t'] }, /has both subject_token_file and subject_token_command/],
    [{ flow: 'jwt_bearer', subject_token_source: 'github-actions' }, /needs subject_token_audience/],
    [{ flow: 'jwt_bearer', subject_token_source: 'gitlab' }, /subject_token_source must be one of github-actions/],
    [{ flow: 'token_exchange', subject_token_file: '/t', client_secret_env: 'X' }, /client_secret_env is not used by the token_exchange flow: its subject token is its credential/],
    [{ flow: 'jwt_bearer', subject_token_file: '/t', subject_token_type: 'urn:x' }, /subject_token_type is only used by the token_exchange flow/],
    [{ flow: 'jwt_bearer', subject_token_command: [] }, /must name a program/],
    [{ flow: 'client_credentials', subject_token_file: '/t' }, /subject_token_file is only used by the token_exchange and jwt_bearer flows/],
  ];
  for (const [profile, message] of cases) {
    expect(() => parseConfig(toml(profile), file), JSON.stringify(profile)).toThrow(message);
  }
  const p = parseConfig(toml({ flow: 'token_exchange', subject_token_command: ['bin/get-token', 'x'] }), file).profiles.get('w')!;
  expect(p.subject_token_command).toEqual(['/home/u/.config/authd/bin/get-token', 'x']);
  expect(p.scopes).toEqual([]);
  const bare = parseConfig(toml({ flow: 'jwt_bearer', subject_token_file: 'token', resource: 'https://api.example' }), file).profiles.get('w')!;
  expect(bare).toMatchObject({ subject_token_file: '/home/u/.config/authd/token', resource: 'https://api.example' });
  expect(parseConfig(toml({ flow: 'token_exchange', subject_token_command: ['gcloud', 'x'] }), file).profiles.get('w')!.subject_token_command?.[0]).toBe('gcloud');
});
