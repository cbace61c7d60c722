// Tokens for several APIs from one login (issue 15): get-token --scope asks for a narrower token,
// obtained with the session's refresh token, cached and refreshed on its own, never served for
// another scope set; every refresh of the session, whatever it is for, in one chain, against a real
// provider that rotates refresh tokens and revokes the grant on reuse.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { devProfile, Home, type Result, sleep } from './support/harness.js';

let idp: Idp;
let home: Home;
const SCOPES = ['openid', 'offline_access', 'api:read', 'api:write'];
const SETS = ['api:read', 'api:write', 'api:write api:read'];

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 2 });
  home = new Home('authd-nt.');
  home.writeConfig({ acme: devProfile(idp, { scopes: SCOPES, refresh_ahead: false }) }, { default_profile: 'acme' });
  await home.login();
});

afterAll(async () => {
  await home?.dispose();
  await idp?.close();
});

async function scopesOf(token: string): Promise<string[]> {
  const info = (await idp.introspect(token)) as { active: boolean; scope?: string };
  expect(info.active).toBe(true);
  return (info.scope ?? '').split(' ').sort();
}

test('each scope set gets a token with exactly those scopes, from the one login; the same set in another order is the same token', async () => {
  const tokens = new Map<string, string>();
  // --min-ttl 1 (half the 2 s tokens' lifetime): each is still active when the provider is asked about it.
  for (const set of SETS) {
    const r = await home.run(['get-token', '--scope', set, '--min-ttl', '1']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    tokens.set(set, r.stdout.trim());
    expect(await scopesOf(r.stdout.trim())).toEqual(set.split(' ').sort());
  }
  expect(new Set(tokens.values()).size).toBe(3);
  const again = await home.run(['get-token', '--scope', 'api:read  api:write', '--min-ttl', '0']);
  expect(again.stdout.trim()).toBe(tokens.get('api:write api:read'));
  // The session's own token is none of them, and has the login's scopes.
  const own = (await home.run(['get-token', '--min-ttl', '1'])).stdout.trim();
  expect([...tokens.values()]).not.toContain(own);
  expect(await scopesOf(own)).toEqual(expect.arrayContaining(['api:read', 'api:write']));
});

test('fifty processes across three scope sets at expiry: one refresh per set, one after another, no reuse, each served its own set', async () => {
  for (const set of SETS) expect((await home.run(['get-token', '--scope', set])).code).toBe(0);
  const pid = home.daemonPid();
  expect(pid).toBeTypeOf('number');
  const before = { ...idp.stats };
  // As in refresh-storm.test.ts: the daemon held still while the fifty connect and ask, and every
  // token expires; when it resumes, all fifty requests are there at once.
  process.kill(pid!, 'SIGSTOP');
  let calls: [string, Promise<Result>][];
  try {
    calls = Array.from({ length: 50 }, (_, i) => {
      const set = SETS[i % SETS.length]!;
      return [set, home.run(['get-token', '--scope', set, '--min-ttl', '0'])];
    });
    await sleep(4000);
  } finally {
    process.kill(pid!, 'SIGCONT');
  }
  const results = await Promise.all(calls.map(async ([set, r]) => [set, await r] as const));
  const after = { ...idp.stats };
  for (const [, r] of results) expect(r).toMatchObject({ code: 0, stderr: '' });
  const bySet = new Map<string, Set<string>>();
  for (const [set, r] of results) bySet.set(set, (bySet.get(set) ?? new Set()).add(r.stdout.trim()));
  for (const set of SETS) {
    expect(bySet.get(set)!.size).toBe(1);
    expect(idp.issued.has([...bySet.get(set)!][0]!)).toBe(true);
  }
  expect(after.refreshes - before.refreshes).toBe(3);
  expect(after.reuseDetected).toBe(0);
  expect(after.revokedGrants - before.revokedGrants).toBe(0);
  // The session lives on: its own token is refreshed with the last rotated refresh token.
  expect((await home.run(['get-token', '--min-ttl', '0'])).code).toBe(0);
  expect(idp.stats.reuseDetected).toBe(0);
});

test('a scope outside the login\'s grant is an error naming it (exit 2), not a login; the session stands', async () => {
  const r = await home.run(['get-token', '--scope', 'admin']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^authd: the provider refused the narrowed refresh request .* of profile acme: its login was not granted that \(HTTP 400 invalid_scope/);
  expect(r.stderr).not.toContain('authd login');
  expect((await home.run(['get-token', '--scope', 'api:read'])).code).toBe(0);
  expect(idp.stats.reuseDetected).toBe(0);
});

test('status lists the narrower tokens held', async () => {
  await home.run(['get-token', '--scope', 'api:read', '--min-ttl', '0']);
  const s = JSON.parse((await home.run(['status', '--json'])).stdout) as { profiles: { profile: string; narrowed?: { scopes?: string[] }[] }[] };
  const acme = s.profiles.find((p) => p.profile === 'acme')!;
  expect(acme.narrowed?.map((n) => n.scopes)).toContainEqual(['api:read']);
  expect((await home.run(['status'])).stdout).toMatch(/api:read/);
});

test('bad narrowings are usage errors before the daemon is asked', async () => {
  for (const [args, said] of [
    [['--scope', ''], '--scope must name'],
    [['--scope', 'a"b'], 'is not a scope'],
    [['--scope', 'a\\b'], 'is not a scope'],
    [['--resource', 'not a uri'], '--resource must be an absolute URI'],
    [['--resource', 'https://api.test/#x'], 'must not have a fragment'],
  ] as const) {
    const r = await home.run(['get-token', ...args]);
    expect({ args, code: r.code }).toEqual({ args, code: 2 });
    expect(r.stderr).toContain(said);
  }
});

test('--resource: a token for one of the resources the login asked for (RFC 8707), with its scopes; another resource is refused before the provider is asked', async () => {
  const api = `${idp.issuer}/api/registry`;
  const h = new Home('authd-nr.');
  try {
    h.writeConfig({ acme: devProfile(idp, { scopes: SCOPES, resources: [api, `${idp.issuer}/api/deploy`], refresh_ahead: false }) }, { default_profile: 'acme' });
    await h.login();
    const r = await h.run(['get-token', '--resource', api, '--scope', 'api:read', '--min-ttl', '0']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const info = (await idp.introspect(r.stdout.trim())) as { active: boolean; scope?: string; aud?: string | string[] };
    expect(info).toMatchObject({ active: true, scope: 'api:read' });
    expect([info.aud].flat()).toContain(api);
    const before = { ...idp.stats };
    const other = await h.run(['get-token', '--resource', `${idp.issuer}/api/other`]);
    expect(other).toMatchObject({ code: 2, stdout: '' });
    expect(other.stderr).toContain(`the login of profile acme did not ask for resource ${idp.issuer}/api/other`);
    expect(idp.stats.refreshes).toBe(before.refreshes);
    // The session lives on, with its own token and the narrower one.
    expect((await h.run(['get-token', '--min-ttl', '0'])).code).toBe(0);
    expect((await h.run(['get-token', '--resource', api, '--scope', 'api:read'])).stdout).toBe(r.stdout);
    expect(idp.stats.reuseDetected).toBe(0);
  } finally {
    await h.dispose();
  }
});

test('--audience: only one of the profile\'s audiences (the provider\'s multi-resource policy), else exit 2 before the provider is asked', async () => {
  const h = new Home('authd-na.');
  try {
    h.writeConfig({ acme: devProfile(idp, { scopes: SCOPES, audiences: ['https://api.acme.test'], refresh_ahead: false }) }, { default_profile: 'acme' });
    await h.login();
    const own = (await h.run(['get-token', '--min-ttl', '0'])).stdout;
    const r = await h.run(['get-token', '--audience', 'https://api.acme.test', '--min-ttl', '0']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).not.toBe(own);
    const before = { ...idp.stats };
    const other = await h.run(['get-token', '--audience', 'https://other.test']);
    expect(other).toMatchObject({ code: 2, stdout: '', stderr: expect.stringContaining('profile acme does not list audience https://other.test') });
    expect(idp.stats.refreshes).toBe(before.refreshes);
  } finally {
    await h.dispose();
  }
});
