// Non-interactive identities: stored client secrets, private_key_jwt, API keys; and the audit trail.
import { createHash, generateKeyPairSync } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { findLeaks, Home } from './support/harness.js';
import { allCmdlines } from './support/procs.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
const API_KEY = 'sk_live_0123456789abcdef9f3a';
const API_KEY_2 = 'sk_live_fedcba98765432107777';

let idp: Idp;
let home: Home;

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 30, jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), alg: 'ES256', kid: 'k1', use: 'sig' }] } });
  home = new Home();
  writeFileSync(join(home.dir, 'svc.pem'), pem, { mode: 0o600 });
  home.writeConfig({
    ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', scopes: ['api:read'] },
    jwt: { issuer: idp.issuer, client_id: 'svc-jwt', flow: 'client_credentials', scopes: ['api:read'], client_auth: 'private_key_jwt', private_key_file: 'svc.pem' },
    jwtstored: { issuer: idp.issuer, client_id: 'svc-jwt', flow: 'client_credentials', scopes: ['api:read'], client_auth: 'private_key_jwt' },
    key: { flow: 'api_key', client_id: '', git_hosts: ['api.example.com'] },
    human: { issuer: idp.issuer, client_id: 'authd-cli' },
  });
});

afterAll(async () => {
  await home?.dispose();
  await idp?.close();
});


test('a client secret set from stdin gets tokens with no env var, and never shows in argv, log or status', async () => {
  const set = await home.run(['secret', 'set', 'ci'], { input: 'svc-secret\n' });
  expect(set.code).toBe(0);
  expect(set.stderr).toBe('✓ Stored the secret for profile ci\n');
  const argv = allCmdlines();
  const r = await home.run(['get-token', '-p', 'ci']);
  expect(r.code).toBe(0);
  const info = await idp.introspect(r.stdout.trim());
  expect(info).toMatchObject({ active: true, client_id: 'svc' });
  const status = await home.run(['status']);
  for (const text of [argv, allCmdlines(), home.stateFilesText(), status.stdout, home.stderrs.join('\n')]) {
    expect(text).not.toContain('svc-secret');
  }
});

test('setting the secret again replaces it: a wrong one fails clearly, the right one works again', async () => {
  const wrong = await home.run(['secret', 'set', 'ci'], { input: 'not-the-secret' });
  expect(wrong.stderr).toContain('(replacing the previous one)');
  const refused = await home.run(['get-token', '-p', 'ci']);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toMatch(/^authd: the provider refused the client credentials of profile ci \(HTTP 401 invalid_client from http:\/\/127.0.0.1:\d+\/token/);
  expect(refused.stderr).toContain('check client_id and the client secret of profile ci');
  expect(refused.stderr).not.toContain('not-the-secret');
  await home.run(['secret', 'set', 'ci'], { input: 'svc-secret' });
  expect((await home.run(['get-token', '-p', 'ci'])).code).toBe(0);
});

test('private_key_jwt with a key file: no shared secret exists, the provider accepts the signed assertion', async () => {
  const r = await home.run(['get-token', '-p', 'jwt']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(await idp.introspect(r.stdout.trim())).toMatchObject({ active: true, client_id: 'svc-jwt' });
});

test('private_key_jwt with the key kept in the store instead of a file', async () => {
  const missing = await home.run(['get-token', '-p', 'jwtstored']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('authd secret set jwtstored < key.pem');
  expect((await home.run(['secret', 'set', 'jwtstored'], { input: pem })).code).toBe(0);
  const r = await home.run(['get-token', '-p', 'jwtstored']);
  expect(r.code).toBe(0);
  expect(await idp.introspect(r.stdout.trim())).toMatchObject({ active: true, client_id: 'svc-jwt' });
  expect(home.stateFilesText()).not.toContain('PRIVATE KEY');
});

test('a private key file others can read is refused, as ssh does', async () => {
  const loose = new Home();
  try {
    writeFileSync(join(loose.dir, 'svc.pem'), pem);
    chmodSync(join(loose.dir, 'svc.pem'), 0o644);
    loose.writeConfig({ jwt: { issuer: idp.issuer, client_id: 'svc-jwt', flow: 'client_credentials', client_auth: 'private_key_jwt', private_key_file: 'svc.pem' } });
    const r = await loose.run(['get-token']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('chmod 600');
    expect(r.stderr).not.toContain('PRIVATE KEY');
  } finally {
    await loose.dispose();
  }
});

test('an API key is set, served, masked in status, rotated and removed by logout', async () => {
  const none = await home.run(['get-token', '-p', 'key']);
  expect(none.code).toBe(3);
  expect(none.stderr).toContain('authd secret set key');

  expect((await home.run(['secret', 'set', 'key'], { input: `${API_KEY}\n` })).code).toBe(0);
  expect((await home.run(['get-token', '-p', 'key'])).stdout).toBe(`${API_KEY}\n`);
  expect((await home.run(['get-token', '-p', 'key', '--format', 'header'])).stdout).toBe(`Authorization: Bearer ${API_KEY}\n`);
  const git = await home.run(['git-credential', 'get'], { input: 'protocol=https\nhost=api.example.com\n\n' });
  expect(git.stdout).toBe(`username=oauth2\npassword=${API_KEY}\n`);

  const status = await home.run(['status']);
  expect(status.stdout).toMatch(/key\s+api_key\s+logged in\s+-\s+-\s+sk_l…9f3a/);
  expect(status.stdout).not.toContain(API_KEY);

  await home.run(['secret', 'set', 'key'], { input: API_KEY_2 });
  expect((await home.run(['get-token', '-p', 'key'])).stdout).toBe(`${API_KEY_2}\n`);

  const out = await home.run(['logout', '-p', 'key']);
  expect(out.code).toBe(0);
  expect(out.stderr).toContain('Logged out of key');
  expect((await home.run(['get-token', '-p', 'key'])).code).toBe(3);
  expect(readFileSync(join(home.stateDir, 'credentials.json'), 'utf8')).not.toContain('sk_live');
});

test('secrets only come from stdin: extra arguments, an empty stdin and a device profile are usage errors', async () => {
  // A made-up value: other test files scan every process's argv for the real secret meanwhile.
  const argv = await home.run(['secret', 'set', 'ci', 'pasted-on-the-command-line']);
  expect(argv.code).toBe(2);
  expect(argv.stderr).not.toContain('pasted-on-the-command-line');
  expect((await home.run(['secret', 'set', 'ci'], { input: '' })).code).toBe(2);
  const device = await home.run(['secret', 'set', 'human'], { input: 'x' });
  expect(device.code).toBe(2);
  expect(device.stderr).toContain('uses the device flow');
  expect((await home.run(['secret', 'set', '../etc'], { input: 'x' })).code).toBe(2);
});

test('every token served is in the audit trail by fingerprint, with who asked; never the token', async () => {
  // Lines written from here on: an earlier test of this file may have been served the same cached
  // token, and its line written before this test began.
  const from = home.logText().length;
  const token = (await home.run(['get-token', '-p', 'ci'])).stdout.trim();
  const fp = createHash('sha256').update(token).digest('hex').slice(0, 12);
  // Servings are counted and written once a second per token and caller.
  const served = () => home.logText().slice(from).split('\n').filter((l) => l.includes('"token served"') && l.includes(fp));
  await expect.poll(served, { timeout: 3000 }).toHaveLength(1);
  expect(JSON.parse(served()[0]!)).toMatchObject({
    audit: 'served', profile: 'ci', fp, count: expect.any(Number), caller: { pid: expect.any(Number), cmd: expect.any(String) },
  });
  const status = await home.run(['status']);
  expect(status.stdout).toMatch(new RegExp(`SERVED[^\\n]*FINGERPRINT[\\s\\S]*ci\\s+\\S+, pid \\d+\\s+${fp}`));
  expect(findLeaks(idp, { log: home.stateFilesText(), status: status.stdout, stderr: home.stderrs.join('\n') })).toEqual([]);
});
