// get-token --id-token (issue 15, part 3): the session's OpenID Connect ID token, from the real provider,
// refreshed with the session (one refresh, in the session's one chain), kept with it across a daemon
// restart, and never in the log, status or an error; a profile without one is told why and what to change.
import { createRequire } from 'node:module';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import type { AuthdClient as SdkClient } from '../src/client/sdk.js';
import { devProfile, findLeaks, Home, sleep } from './support/harness.js';
import { ProviderBehaviour, withoutIdToken } from './support/provider-behaviour.js';

const { AuthdClient } = createRequire(import.meta.url)('../dist/sdk.cjs') as { AuthdClient: typeof SdkClient };

/** Seconds an ID token lives here: long enough to outlive a daemon restart, short enough to wait out. */
const ID_TTL = 6;
let idp: Idp;
let provider: ProviderBehaviour;
let home: Home;
/** Every status output, for the leak check. */
const statuses: string[] = [];

beforeAll(async () => {
  // Access tokens outlive the test: every refresh seen here is one for the ID token.
  idp = await startIdp({ accessTokenTtl: 600, idTokenTtl: ID_TTL });
  provider = new ProviderBehaviour(idp);
  home = new Home('authd-id.');
  home.writeConfig({
    acme: devProfile(idp),
    noid: devProfile(idp, { scopes: ['offline_access', 'api:read'] }),
    svc: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', client_secret_env: 'SVC_SECRET' },
    never: devProfile(idp),
    none: devProfile(idp),
    stale: devProfile(idp),
  }, { default_profile: 'acme' });
  await home.login('acme');
});

afterAll(async () => {
  const leaks = home ? findLeaks(idp, { log: home.stateFilesText(), stderr: home.stderrs.join('\n'), status: statuses.join('\n') }) : [];
  await home?.dispose();
  await idp?.close();
  expect(leaks).toEqual([]);
});

function claims(jwt: string): Record<string, unknown> {
  const parts = jwt.split('.');
  expect(parts).toHaveLength(3);
  return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

async function idToken(args: string[] = []): Promise<string> {
  const r = await home.run(['get-token', '--id-token', ...args]);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(r.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]*\n$/);
  return r.stdout.trim();
}

async function status(): Promise<string> {
  const r = await home.run(['status']);
  const j = await home.run(['status', '--json']);
  statuses.push(r.stdout, j.stdout);
  return `${r.stdout}\n${j.stdout}`;
}

test('get-token --id-token prints the ID token the provider issued at login: a JWT for this client, issuer and user; json says until when', async () => {
  const token = await idToken();
  expect(idp.issued.has(token)).toBe(true);
  const c = claims(token);
  expect(c).toMatchObject({ iss: idp.issuer, aud: 'authd-cli', sub: 'alice' });
  expect(c.exp).toBe((c.iat as number) + ID_TTL);
  const j = await home.run(['get-token', '--id-token', '--format', 'json']);
  expect(j.code).toBe(0);
  const out = JSON.parse(j.stdout) as Record<string, unknown>;
  expect(Object.keys(out)).toEqual(['id_token', 'expires_at', 'profile']);
  expect(out).toMatchObject({ id_token: token, profile: 'acme' });
  // Counted from when the request was sent, on this machine's clock, as an access token's expiry is.
  expect(Math.abs((out.expires_at as number) - (c.exp as number))).toBeLessThanOrEqual(2);
  // The access token is another token.
  expect((await home.run(['get-token'])).stdout.trim()).not.toBe(token);
});

test('status says the session holds an ID token and until when, never the token', async () => {
  await idToken();
  const s = await status();
  expect(s).toMatch(/ID token acme: yes, expires in \ds/);
  const j = JSON.parse(statuses.at(-1)!) as { profiles: { profile: string; id_token: { expires_at: number } | null }[] };
  expect(j.profiles.find((p) => p.profile === 'acme')!.id_token).toEqual({ expires_at: expect.any(Number) });
  expect(j.profiles.find((p) => p.profile === 'noid')!.id_token).toBeNull();
});

test('once it has expired, the next callers cause one refresh of the session and all get the new ID token; then it is served from memory', async () => {
  const old = await idToken();
  await sleep(ID_TTL * 1000 + 200);
  const before = { ...idp.stats };
  const results = await Promise.all(Array.from({ length: 5 }, () => home.run(['get-token', '--id-token'])));
  for (const r of results) expect(r).toMatchObject({ code: 0, stderr: '' });
  const fresh = new Set(results.map((r) => r.stdout.trim()));
  expect(fresh.size).toBe(1);
  const token = [...fresh][0]!;
  expect(token).not.toBe(old);
  expect(idp.issued.has(token)).toBe(true);
  expect(claims(token)).toMatchObject({ iss: idp.issuer, aud: 'authd-cli', sub: 'alice' });
  expect(idp.stats.refreshes - before.refreshes).toBe(1);
  expect(await idToken()).toBe(token);
  expect((await home.run(['get-token'])).code).toBe(0);
  expect(idp.stats.refreshes - before.refreshes).toBe(1);
  expect(idp.stats.reuseDetected).toBe(0);
});

test('the ID token is stored with the session: after a daemon restart the same one is served, without a refresh', async () => {
  // One with at least 4 s left, so that it outlives the restart.
  const token = await idToken(['--min-ttl', '4']);
  await home.stop();
  const refreshes = idp.stats.refreshes;
  expect(await idToken(['--min-ttl', '0'])).toBe(token);
  expect(idp.stats.refreshes).toBe(refreshes);
});

test('the SDK: getIdToken gives the same token, and a typed error for a profile without one', async () => {
  const client = new AuthdClient({ env: home.env });
  try {
    const token = await idToken(['--min-ttl', '0']);
    expect(await client.getIdToken({ minTtl: 0 })).toEqual({ id_token: token, expires_at: expect.any(Number), profile: 'acme' });
    await expect(client.getIdToken({ profile: 'noid' })).rejects.toMatchObject({ code: 'config_error' });
  } finally {
    client.close();
  }
});

test('a login whose scopes lack openid, and a service flow, have no ID token: said why and what to change (exit 2)', async () => {
  await home.login('noid');
  const refreshes = idp.stats.refreshes;
  const noid = await home.run(['get-token', '--id-token', '-p', 'noid']);
  expect(noid).toEqual({ code: 2, stdout: '',
    stderr: 'authd: profile noid has no ID token: its scopes do not include "openid", so the provider issues none\n  add "openid" to scopes in [profiles.noid], then run `authd login -p noid`\n' });
  const svc = await home.run(['get-token', '--id-token', '-p', 'svc'], { env: { SVC_SECRET: 'svc-secret' } });
  expect(svc.code).toBe(2);
  expect(svc.stderr).toMatch(/^authd: profile svc uses the client_credentials flow: no user logs in, so there is no ID token\n/);
  expect(idp.stats.refreshes).toBe(refreshes);
  // Its access token is there all the same.
  expect((await home.run(['get-token', '-p', 'noid'])).code).toBe(0);
});

test('a profile not logged in: exit 3, as for an access token', async () => {
  const r = await home.run(['get-token', '--id-token', '-p', 'never']);
  expect(r.code).toBe(3);
  expect(r.stderr).toContain('authd login -p never');
});

test('a provider that issued no ID token at login: exit 3, saying so, with no refresh tried', async () => {
  provider.set('token', withoutIdToken);
  try {
    await home.login('none');
  } finally {
    provider.normal();
  }
  const refreshes = idp.stats.refreshes;
  const r = await home.run(['get-token', '--id-token', '-p', 'none']);
  expect(r.code).toBe(3);
  expect(r.stderr).toMatch(/^authd: the provider issued no ID token to the session of profile none, although its scopes include "openid"\n/);
  expect(idp.stats.refreshes).toBe(refreshes);
});

test('a provider that renews no ID token on refresh: the expired one is never served; one refresh, then exit 3 without more', async () => {
  await home.login('stale');
  const first = await idToken(['-p', 'stale']);
  provider.set('token', withoutIdToken);
  try {
    await sleep(ID_TTL * 1000 + 200);
    const refreshes = idp.stats.refreshes;
    for (let i = 0; i < 3; i++) {
      const r = await home.run(['get-token', '--id-token', '-p', 'stale']);
      expect(r).toMatchObject({ code: 3, stdout: '' });
      expect(r.stderr).toMatch(/^authd: the ID token of profile stale has expired, and its provider issues no new one when the session is refreshed\n/);
    }
    expect(idp.stats.refreshes - refreshes).toBe(1);
    expect(home.stderrs.join('\n')).not.toContain(first);
    // The session itself is fine.
    expect((await home.run(['get-token', '-p', 'stale'])).code).toBe(0);
  } finally {
    provider.normal();
  }
});

test('--id-token takes formats token and json only, and no --scope: usage errors (exit 2)', async () => {
  for (const args of [['--format', 'header'], ['--format', 'exec-credential'], ['--scope', 'api:read']]) {
    const r = await home.run(['get-token', '--id-token', ...args]);
    expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
    expect(r.stderr).toMatch(/--id-token/);
  }
});

test('never in the daemon log, status output or an error', async () => {
  await idToken();
  await status();
  const log = home.logText();
  expect(log).not.toBe('');
  expect(findLeaks(idp, { log, status: statuses.join('\n'), stderr: home.stderrs.join('\n') })).toEqual([]);
});
