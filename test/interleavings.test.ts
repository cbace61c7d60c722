// The interleavings that used to lose a session: a config edit, a logout, a login or a new secret
// while a refresh is in flight. The real daemon and provider; the refresh is held at the provider
// (test/support/provider-behaviour.ts) while the other command runs, then let through.
import { expect, test } from 'vitest';
import type { Idp } from '../scripts/dev-idp.mjs';
import { devProfile, type Home, type ProfileSpec, type Result, sleep } from './support/harness.js';
import { Hold, type OnFinished, providerAndHome } from './support/provider-behaviour.js';

const withSecret = { env: { SVC_SECRET: 'svc-secret' } };

// Each test has its own provider and home, and mostly waits for a token to expire: they run side by
// side, each cleaning up with its own context's onTestFinished.
function setup(profiles: (idp: Idp) => Record<string, ProfileSpec>, finished: OnFinished) {
  return providerAndHome({ accessTokenTtl: 2 }, profiles, { default_profile: 'acme' }, finished);
}

/**
 * acme serves a token to its last second and refreshes only on demand: on a busy machine a 2 s token
 * handed to the first caller could otherwise be short of the default min_ttl (0.5 s) by the time the
 * second is answered, and a second refresh, allowed, would look like the defect.
 */
function acmeProfile(idp: Idp, extra: ProfileSpec = {}): ProfileSpec {
  return devProfile(idp, { min_ttl: 0, refresh_ahead: false, ...extra });
}

function ciProfile(idp: Idp): ProfileSpec {
  return { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', scopes: ['api:read'], client_secret_env: 'SVC_SECRET' };
}

/** A logged-in acme whose access token has expired, and a hold on the next refresh. */
async function expiredSession(finished: OnFinished) {
  const f = await setup((idp) => ({ acme: acmeProfile(idp), ci: ciProfile(idp) }), finished);
  await f.home.login();
  await sleep(2100);
  const refresh = new Hold();
  f.provider.set('token', refresh.behaviour, 1);
  return { ...f, refresh };
}

/** Gives a second command the chance to go to the provider on its own (the defect) before the test goes on. */
async function settleOrWait(p: Promise<Result>): Promise<void> {
  await Promise.race([p, sleep(500)]);
}

async function expectStillLoggedIn(home: Home, idp: Idp): Promise<void> {
  await sleep(2100);
  const r = await home.run(['get-token']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(idp.stats.reuseDetected).toBe(0);
}

test.concurrent('editing a profile while its refresh is in flight keeps the session: one refresh, no reuse', async ({ onTestFinished }) => {
  const { idp, provider, home, refresh } = await expiredSession(onTestFinished);
  const before = idp.stats.refreshes;
  const first = home.run(['get-token']);
  await refresh.arrived();
  // Same issuer and client; a new setting. The daemon sees the edit at the next command.
  home.writeConfig({ acme: acmeProfile(idp, { device_authorization_endpoint: `${idp.issuer}/device/auth` }), ci: ciProfile(idp) },
    { default_profile: 'acme' });
  expect((await home.run(['status'])).code).toBe(0);
  const second = home.run(['get-token']);
  await settleOrWait(second);
  refresh.release();
  const results = await Promise.all([first, second]);
  for (const r of results) expect(r.code).toBe(0);
  expect(results[0]!.stdout).toBe(results[1]!.stdout);
  expect(idp.stats.refreshes - before).toBe(1);
  expect(provider.seen.token).toBeGreaterThanOrEqual(1);
  await expectStillLoggedIn(home, idp);
});

test.concurrent('commenting a profile out and back in while its refresh is in flight keeps the session', async ({ onTestFinished }) => {
  const { idp, home, refresh } = await expiredSession(onTestFinished);
  const first = home.run(['get-token']);
  await refresh.arrived();
  home.writeConfig({ ci: ciProfile(idp) });
  expect((await home.run(['status'])).code).toBe(0);
  await sleep(20); // a new mtime for the next write
  home.writeConfig({ acme: acmeProfile(idp), ci: ciProfile(idp) }, { default_profile: 'acme' });
  expect((await home.run(['status'])).code).toBe(0);
  const second = home.run(['get-token']);
  await settleOrWait(second);
  refresh.release();
  for (const r of await Promise.all([first, second])) expect(r.code).toBe(0);
  await expectStillLoggedIn(home, idp);
});

test.concurrent('a refresh racing authd logout does not write the session back', async ({ onTestFinished }) => {
  const { provider, home } = await expiredSession(onTestFinished);
  // The provider rotates at once; its answer reaches the daemon only after logout has finished.
  const refresh = new Hold({ after: 'answer' });
  provider.set('token', refresh.behaviour, 1);
  const revocation = new Hold();
  provider.set('revocation', revocation.behaviour, 1);
  const logout = home.run(['logout']);
  await revocation.arrived();
  // While logout waits for the provider, a caller needs a token.
  const get = home.run(['get-token']);
  await Promise.race([get, refresh.arrived()]);
  revocation.release();
  const out = await logout;
  expect(out.code).toBe(0);
  refresh.release();
  const r = await get;
  expect(r.code).toBe(3);
  expect(r.stdout).toBe('');
  expect(home.storedSession('acme')).toBeUndefined();
  const status = JSON.parse((await home.run(['status', '--json'])).stdout) as { profiles: { profile: string; logged_in: boolean }[] };
  expect(status.profiles.find((p) => p.profile === 'acme')!.logged_in).toBe(false);
  expect((await home.run(['get-token'])).code).toBe(3);
});

test.concurrent('authd secret set while a client_credentials get-token is in flight: the get-token still gets a token', async ({ onTestFinished }) => {
  const { provider, home } = await setup((idp) => ({ acme: acmeProfile(idp), ci: ciProfile(idp) }), onTestFinished);
  const hold = new Hold();
  provider.set('token', hold.behaviour, 1);
  const get = home.run(['get-token', '-p', 'ci'], withSecret);
  await hold.arrived();
  const set = await home.run(['secret', 'set', 'ci'], { input: 'svc-secret' });
  expect(set.code).toBe(0);
  hold.release();
  const r = await get;
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
});

test.concurrent('authd login -p ci while a client_credentials get-token is in flight: both succeed, nobody is told to log in', async ({ onTestFinished }) => {
  const { provider, home } = await setup((idp) => ({ acme: acmeProfile(idp), ci: ciProfile(idp) }), onTestFinished);
  const hold = new Hold();
  provider.set('token', hold.behaviour, 1);
  const get = home.run(['get-token', '-p', 'ci'], withSecret);
  await hold.arrived();
  const login = home.run(['login', '-p', 'ci'], withSecret);
  await settleOrWait(login);
  hold.release();
  const [g, l] = await Promise.all([get, login]);
  expect(l.code).toBe(0);
  expect(g.stderr).toBe('');
  expect(g.code).toBe(0);
});
