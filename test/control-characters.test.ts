// Text from the provider never reaches output raw. A token holding a line break used to become
// extra header lines in `--format header` and injected `quit=1`/`username=` lines in git's answer;
// escape sequences (OSC 52 sets the clipboard) in a user code or a subject reached the terminal.
// Tokens and keys are handed out only as RFC 6750 b64tokens; other provider text is made printable.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import type { Requester } from '../src/client/command.js';
import { command as gitCredential } from '../src/client/commands/git-credential.js';
import type { IO } from '../src/client/io.js';
import { reportError } from '../src/client/main.js';
import type { AuthdClient as SdkClient } from '../src/client/sdk.js';
import { AuthdError } from '../src/protocol/index.js';
import type { Idp, StartIdpOptions } from '../scripts/dev-idp.mjs';
import { devProfile, type ProfileSpec } from './support/harness.js';
import { json, providerAndHome } from './support/provider-behaviour.js';

const { AuthdClient } = createRequire(import.meta.url)('../dist/sdk.cjs') as { AuthdClient: typeof SdkClient };

/** Anything that moves a terminal's cursor, sets its clipboard (OSC 52), rings it, or starts a new line. */
const TERMINAL_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/;
const OSC52 = '\u001b]52;c;ZWNobyBwd25lZA==\u0007';

function setup(profiles: (idp: Idp) => Record<string, ProfileSpec>, opts: StartIdpOptions = {}) {
  return providerAndHome(opts, profiles, { store: 'file' });
}

const hostileTokens: [string, string][] = [
  ['a line break and git attributes', 'abc\nquit=1\nusername=mallory'],
  ['CR LF and a header', 'abc\r\nX-Injected: yes'],
  ['an OSC 52 escape', `abc${OSC52}def`],
  ['a space', 'abc def'],
];

test.each(hostileTokens)('an access token holding %s is refused with a clear error, never printed: not in a header, not in git\'s answer', async (_what, token) => {
  const { provider, home } = await setup((idp) => ({
    ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', scopes: ['api:read'], client_secret_env: 'SVC_SECRET', git_hosts: ['git.example.com'] },
  }));
  provider.set('token', json(200, { access_token: token, token_type: 'Bearer', expires_in: 300 }));
  const env = { SVC_SECRET: 'svc-secret' };

  const header = await home.run(['get-token', '-p', 'ci', '--format', 'header'], { env });
  expect(header.stdout).toBe('');
  expect(header.stderr).toMatch(/^authd: the provider gave profile ci an access token holding characters a bearer token cannot \(RFC 6750\)/);
  expect(header.stderr).not.toMatch(TERMINAL_CONTROL);
  expect(header.stderr.trimEnd().split('\n')).toHaveLength(2);
  expect(header.code).toBe(1);

  const git = await home.run(['git-credential', 'get'], { env, input: 'protocol=https\nhost=git.example.com\n\n' });
  expect(git.stdout).toBe('');
  expect(git.stderr).toMatch(/^authd: the provider gave profile ci an access token holding characters/);
  expect(git.stderr).not.toContain('quit=1');

  const sdk = new AuthdClient({ env: { ...home.env, ...env } });
  onTestFinished(() => sdk.close());
  await expect(sdk.getToken({ profile: 'ci' })).rejects.toMatchObject({ code: 'idp_error' });
});

test('an API key with a control character is refused when set, and one stored before that check is not printed', async () => {
  const { home } = await setup(() => ({ stripe: { flow: 'api_key' } }));
  const set = await home.run(['secret', 'set', 'stripe'], { input: `sk_live_abc${OSC52}\n` });
  expect(set.stderr).toMatch(/^authd: an API key may hold only letters, digits/);
  expect(set.code).toBe(2);
  await home.stop();

  // What an older authd let in: the key in the file store as it would have written it.
  const entries = { 'secret:stripe': { v: 1, secret: 'sk_live_abc\nAuthorization: Basic bWFsbG9yeQ==', stored_at: Date.now() } };
  writeFileSync(join(home.stateDir, 'credentials.json'), `${JSON.stringify({ v: 1, entries })}\n`, { mode: 0o600 });
  const r = await home.run(['get-token', '-p', 'stripe', '--format', 'header']);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^authd: the API key stored for profile stripe holds characters a bearer token cannot \(RFC 6750\)/);
  expect(r.stderr).toContain('authd secret set stripe');
  expect(r.code).toBe(1);
});

test('escape sequences in the provider\'s device code answer reach the terminal as plain text, and a URL that is not http(s) is refused', async () => {
  const { provider, home } = await setup((idp) => ({ acme: devProfile(idp) }));
  const base = { device_code: 'dc-1', expires_in: 600, interval: 1 };
  provider.set('device authorization', json(200, {
    ...base,
    user_code: `WDJB${OSC52}MJHT`,
    verification_uri: 'http://127.0.0.1/device\u001b[2J',
    verification_uri_complete: `http://127.0.0.1/device?user_code=WDJB\u001b[31mMJHT${OSC52}`,
  }), 1);
  provider.set('token', json(400, { error: 'expired_token' }));
  const login = await home.run(['login', '--no-browser']);
  expect(login.stderr).toContain('Your one-time code: WDJB');
  expect(login.stderr).toContain('Open http://127.0.0.1/device%1B[2J and enter it');
  expect(login.stderr).not.toMatch(TERMINAL_CONTROL);
  expect(login.code).toBe(3);

  provider.set('device authorization', json(200, { ...base, user_code: 'WDJB-MJHT', verification_uri: 'javascript:alert(1)' }), 1);
  const refused = await home.run(['login', '--no-browser']);
  expect(refused.stderr).toMatch(/^authd: the provider gave an unusable answer to the device authorization request of profile acme \(a verification_uri that is not an http\(s\) URL\)/);
  expect(refused.stderr).not.toContain('javascript:');
  expect(refused.code).toBe(1);
});

test('a subject with escape sequences from the provider is shown as plain text by login and status', async () => {
  const { home } = await setup((idp) => ({ acme: devProfile(idp) }), { account: `alice${OSC52}\u001b[2J` });
  const done = await home.login();
  expect(done.subject).toContain('alice'); // --json escapes it; the terminal outputs below must not carry it raw
  const status = await home.run(['status']);
  expect(status.code).toBe(0);
  expect(status.stdout).toMatch(/logged in\s+alice /);
  expect(status.stdout).not.toMatch(TERMINAL_CONTROL);
});

test('an error relayed from the daemon reaches the terminal without its escape sequences', () => {
  let stderr = '';
  const io = { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) }, stdin: process.stdin, env: {} } as unknown as IO;
  const code = reportError(new AuthdError('idp_error', `the provider said: no${OSC52}\u009b2J`, `retry\u001b[8m hidden`), io);
  expect(code).toBe(1);
  expect(stderr).toBe('authd: the provider said: no ]52;c;ZWNobyBwd25lZA== 2J\n  retry [8m hidden\n');
});

test('git\'s helper never passes on a value holding a line break or NUL, whatever the daemon answers', async () => {
  let stdout = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => true }, stdin: process.stdin, env: {} } as unknown as IO;
  for (const value of ['tok\nquit=1', 'tok\u0000x', 'tok\rusername=mallory']) {
    const conn = { request: async () => ({ attrs: [['username', 'oauth2'], ['password', value]] }) } as unknown as Requester;
    await expect(gitCredential.run({ action: 'get', attrs: [['host', 'git.example.com']] }, io, async () => conn, [gitCredential])).rejects.toMatchObject({ code: 'bad_request' });
  }
  expect(stdout).toBe('');
});
