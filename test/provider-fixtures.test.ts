// What a user sees with each real provider: the real authd binary against a local server that
// answers exactly as that provider's documentation shows (test/support/provider-fixtures.ts, which
// cites the page behind every answer). Device login end to end, refresh as each provider rotates
// (or does not), logout, and the failures each provider documents in its own shape.
import { describe, type TestContext, test } from 'vitest';
import { Home, type ProfileSpec, type Result } from './support/harness.js';
import { type PollStep, ProviderFixture, type ProviderName } from './support/provider-fixtures.js';

interface Setup {
  fixture: ProviderFixture;
  home: Home;
  name: ProviderName;
}

/** What a profile for the provider says besides its issuer and client: Entra wants the scopes again with each refresh. */
const PROFILE: Partial<Record<ProviderName, ProfileSpec>> = { entra: { refresh_with_scopes: true } };

/** A provider fixture and a home with one profile for it (named after the provider); both gone after the test. */
async function setup(ctx: TestContext, name: ProviderName, polls: PollStep[] = ['approve']): Promise<Setup> {
  const fixture = await ProviderFixture.start(name);
  fixture.polls = polls;
  const home = new Home('authd-f.');
  home.writeConfig({ [name]: fixture.profile(PROFILE[name]) }, { default_profile: name, store: 'file' });
  // Nothing the provider issued ever reaches a message or the state directory.
  ctx.onTestFinished(() => fixture.closeWith(home));
  return { fixture, home, name };
}

interface Login {
  code: number;
  events: Record<string, unknown>[];
  stderr: string;
}

/** `authd login --json -p NAME` to its end (killed after `timeoutMs`). */
async function login({ home, name }: Setup, timeoutMs = 25_000): Promise<Login> {
  const r = await home.run(['login', '--json', '-p', name], { timeoutMs });
  const events = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: r.code, events, stderr: r.stderr };
}

async function loggedIn(ctx: TestContext, s: Setup): Promise<void> {
  const l = await login(s);
  ctx.expect(l.stderr).toBe('');
  ctx.expect(l.code).toBe(0);
}

/** get-token, made to refresh now: a --min-ttl just under the provider's documented lifetime. */
function refreshNow({ home, fixture, name }: Setup): Promise<Result> {
  return home.run(['get-token', '-p', name, '--min-ttl', String(fixture.lifetime - 1), '--format', 'json']);
}

function token(ctx: TestContext, r: Result): { access_token: string; expires_at: number } {
  ctx.expect(r.stderr).toBe('');
  ctx.expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { access_token: string; expires_at: number };
}

async function loggedInStatus(s: Setup): Promise<boolean> {
  const r = await s.home.run(['status', '--json']);
  const status = JSON.parse(r.stdout) as { profiles: { profile: string; logged_in: boolean }[] };
  return status.profiles.find((p) => p.profile === s.name)!.logged_in;
}

/** A refresh that ended the session: exit 3 with the login hint; the session is gone, and its refresh token is never sent again. */
async function sessionEnded(ctx: TestContext, s: Setup, r: Result, heard: string): Promise<void> {
  ctx.expect(r.code).toBe(3);
  ctx.expect(r.stdout).toBe('');
  ctx.expect(r.stderr).toContain(heard);
  ctx.expect(r.stderr).toContain(`run \`authd login -p ${s.name}\``);
  const asked = s.fixture.refreshes.length;
  const again = await s.home.run(['get-token', '-p', s.name]);
  ctx.expect(again.code).toBe(3);
  ctx.expect(s.fixture.refreshes.length).toBe(asked);
  ctx.expect(s.home.storedSession(s.name)).toBeUndefined();
  ctx.expect(await loggedInStatus(s)).toBe(false);
}

const badGateway: PollStep = { status: 502, contentType: 'text/html', body: '<html><body><h1>Unicorn!</h1></body></html>' };

describe.concurrent('GitHub (no discovery; /login/device/code and /login/oauth/access_token)', () => {
  test.concurrent('a GitHub device login answered "authorization_pending" with HTTP 200 logs in, asking GitHub for JSON every time', async (ctx) => {
    const s = await setup(ctx, 'github', ['authorization_pending', 'authorization_pending', 'approve']);
    const l = await login(s);
    ctx.expect(l.stderr).toBe('');
    ctx.expect(l.code).toBe(0);
    ctx.expect(l.events.map((e) => e.event)).toEqual(['device_code', 'logged_in']);
    ctx.expect(l.events[0]).toMatchObject({ verification_uri: `${s.fixture.origin}/login/device`, user_code: ctx.expect.stringMatching(/^\w{4}-\w{4}$/) });
    ctx.expect(l.events[0]).toMatchObject({ verification_uri_complete: null });
    ctx.expect(l.events[1]).toEqual({ event: 'logged_in', profile: 'github', subject: null });
    ctx.expect(s.fixture.polled.map((p) => [p.status, p.error])).toEqual([[200, 'authorization_pending'], [200, 'authorization_pending'], [200, undefined]]);

    const t = token(ctx, await s.home.run(['get-token', '--format', 'json']));
    ctx.expect(t.access_token).toMatch(/^ghu_/);
    ctx.expect(s.fixture.issued.has(t.access_token)).toBe(true);
    // GitHub App user tokens live 8 h (expires_in 28800).
    ctx.expect(t.expires_at - Date.now() / 1000).toBeGreaterThan(28_790);
    ctx.expect(t.expires_at - Date.now() / 1000).toBeLessThanOrEqual(28_800);
    // Without Accept: application/json GitHub answers form-encoded.
    for (const r of s.fixture.requests) ctx.expect(r.accept).toContain('application/json');
    // The device flow needs no client secret.
    for (const r of s.fixture.requests) ctx.expect(r.form).not.toHaveProperty('client_secret');
  });

  test.concurrent('a GitHub device login that GitHub slows down waits 5 s more, keeps that pace through a 502, and then succeeds', async (ctx) => {
    const s = await setup(ctx, 'github', ['slow_down', badGateway, 'approve']);
    const l = await login(s);
    ctx.expect(l.code).toBe(0);
    const polls = s.fixture.polled;
    // One slow_down (the scripted one): authd never polled early enough for GitHub to send another.
    ctx.expect(polls.map((p) => p.status)).toEqual([200, 502, 200]);
    ctx.expect(polls.filter((p) => p.error === 'slow_down')).toHaveLength(1);
    // interval 1 + 5 s for this and every later poll (RFC 8628 §3.5; GitHub sends the new interval, 6).
    ctx.expect(polls[1]!.at - polls[0]!.at).toBeGreaterThanOrEqual(5_900);
    ctx.expect(polls[2]!.at - polls[1]!.at).toBeGreaterThanOrEqual(5_900);
  });

  const terminal: [string, number, string][] = [
    ['expired_token', 3, 'the login code expired before it was approved'],
    ['token_expired', 3, 'the login code expired before it was approved'],
    ['incorrect_device_code', 3, 'the login code expired before it was approved'],
    ['access_denied', 3, 'the login was denied at the provider'],
    ['device_flow_disabled', 1, 'the provider refused client Iv23liFixtureApp01 of profile github for the device login request (HTTP 200 device_flow_disabled from'],
    ['incorrect_client_credentials', 1, 'the provider refused client Iv23liFixtureApp01 of profile github for the device login request (HTTP 200 incorrect_client_credentials from'],
  ];
  for (const [code, exit, says] of terminal) {
    test.concurrent(`a GitHub device login answered "${code}" with HTTP 200 stops polling and exits ${exit}: "${says.slice(0, 40)}…"`, async (ctx) => {
      const s = await setup(ctx, 'github', [code]);
      const l = await login(s);
      ctx.expect(l.code).toBe(exit);
      ctx.expect(l.stderr).toContain(says);
      // The user can log in again when the code is gone; when the client is refused, only its settings help.
      ctx.expect(l.stderr).toContain(exit === 3 ? 'run `authd login -p github`' : 'check client_id in profile github');
      ctx.expect(s.fixture.polled).toHaveLength(1);
      ctx.expect(s.home.storedSession('github')).toBeUndefined();
    });
  }

  test.concurrent('a GitHub App token is refreshed with its refresh token alone: GitHub rotates it, authd keeps the new one and never presents a used one', async (ctx) => {
    const s = await setup(ctx, 'github');
    await loggedIn(ctx, s);
    const first = s.fixture.loginRefreshToken!;
    const a = token(ctx, await refreshNow(s));
    const b = token(ctx, await refreshNow(s));
    ctx.expect(new Set([a.access_token, b.access_token]).size).toBe(2);
    const [r1, r2] = s.fixture.refreshes;
    ctx.expect(r1!.form).toMatchObject({ grant_type: 'refresh_token', refresh_token: first, client_id: 'Iv23liFixtureApp01' });
    // "client_secret: Required unless the user access token was generated using the device flow."
    ctx.expect(r1!.form).not.toHaveProperty('client_secret');
    ctx.expect(r2!.form.refresh_token).not.toBe(first);
    ctx.expect(s.home.storedSession('github')!.refresh_token).not.toBe(r2!.form.refresh_token);
    ctx.expect(s.fixture.reuses).toBe(0);
    ctx.expect(b.expires_at - Date.now() / 1000).toBeGreaterThan(28_790);
  });

  test.concurrent('a GitHub refresh token already used elsewhere gets HTTP 200 bad_refresh_token: get-token exits 3 with the login hint and the session is gone', async (ctx) => {
    const s = await setup(ctx, 'github');
    await loggedIn(ctx, s);
    ctx.expect(s.fixture.refreshElsewhere().status).toBe(200);
    const r = await refreshNow(s);
    await sessionEnded(ctx, s, r,
      `the session of profile github has ended: the provider refused the refresh request (HTTP 200 bad_refresh_token from ${s.fixture.origin}/login/oauth/access_token: The refresh token passed is incorrect or expired.)`);
  });

  test.concurrent('logout from GitHub forgets the session here and says GitHub offers no revocation endpoint', async (ctx) => {
    const s = await setup(ctx, 'github');
    await loggedIn(ctx, s);
    const asked = s.fixture.requests.length;
    const out = await s.home.run(['logout', '-p', 'github']);
    ctx.expect(out.code).toBe(0);
    ctx.expect(out.stderr).toContain('Logged out of github');
    ctx.expect(out.stderr).toContain('the provider offers no revocation endpoint; the token stays valid there until it expires');
    ctx.expect(out.stderr).not.toContain('revoked at the provider');
    ctx.expect(s.fixture.requests.length).toBe(asked);
    ctx.expect(s.home.storedSession('github')).toBeUndefined();
  });
});

describe.concurrent('Microsoft Entra ID (v2.0: /{tenant}/v2.0 discovery, /devicecode, /token)', () => {
  test.concurrent('an Entra device login shows the page and code (Entra gives no complete URL), polls through 400 authorization_pending and logs in as the ID token\'s user', async (ctx) => {
    const s = await setup(ctx, 'entra', ['authorization_pending', 'approve']);
    const l = await login(s);
    ctx.expect(l.stderr).toBe('');
    ctx.expect(l.code).toBe(0);
    ctx.expect(l.events[0]).toMatchObject({ event: 'device_code', verification_uri: `${s.fixture.origin}/devicelogin` });
    ctx.expect(l.events[0]).toMatchObject({ verification_uri_complete: null });
    ctx.expect(l.events[1]).toEqual({ event: 'logged_in', profile: 'entra', subject: 'alice' });
    ctx.expect(s.fixture.polled.map((p) => [p.status, p.error])).toEqual([[400, 'authorization_pending'], [200, undefined]]);
    token(ctx, await s.home.run(['get-token', '--format', 'json']));
  });

  test.concurrent('each Entra refresh brings a new refresh token: authd presents the newest, though Entra keeps the old one valid', async (ctx) => {
    const s = await setup(ctx, 'entra');
    await loggedIn(ctx, s);
    token(ctx, await refreshNow(s));
    token(ctx, await refreshNow(s));
    const [r1, r2] = s.fixture.refreshes;
    ctx.expect(r1!.form.refresh_token).toBe(s.fixture.loginRefreshToken);
    ctx.expect(r2!.form.refresh_token).not.toBe(s.fixture.loginRefreshToken);
    ctx.expect(r2!.form).not.toHaveProperty('client_secret');
    ctx.expect([r1!.form.scope, r2!.form.scope]).toEqual(['openid offline_access', 'openid offline_access']);
  });

  test.concurrent('an Entra profile without refresh_with_scopes has its refresh refused (invalid_request, AADSTS900144: no scope): the session ends', async (ctx) => {
    const s = await setup(ctx, 'entra');
    s.home.writeConfig({ entra: s.fixture.profile() }, { default_profile: 'entra', store: 'file' });
    await loggedIn(ctx, s);
    const r = await refreshNow(s);
    ctx.expect(s.fixture.refreshes[0]!.form).not.toHaveProperty('scope');
    await sessionEnded(ctx, s, r, `HTTP 400 invalid_request from ${s.fixture.origin}/9188040d-6c67-4c5b-b112-36a304b66dad/oauth2/v2.0/token: AADSTS900144: The request body must contain the following parameter: 'scope'.`);
  });

  test.concurrent('a scope added to an Entra profile after login is refused on refresh (invalid_scope, AADSTS70011): the session ends, so the next login asks for it', async (ctx) => {
    const s = await setup(ctx, 'entra');
    await loggedIn(ctx, s);
    const mail = 'https://graph.microsoft.com/Mail.Read';
    s.home.writeConfig({ entra: s.fixture.profile({ ...PROFILE.entra, scopes: ['openid', 'offline_access', mail] }) }, { default_profile: 'entra', store: 'file' });
    const r = await refreshNow(s);
    ctx.expect(s.fixture.refreshes[0]!.form.scope).toBe(`openid offline_access ${mail}`);
    await sessionEnded(ctx, s, r, `HTTP 400 invalid_scope from ${s.fixture.origin}/9188040d-6c67-4c5b-b112-36a304b66dad/oauth2/v2.0/token: AADSTS70011: The provided value for the input parameter 'scope' is not valid.`);
    await loggedIn(ctx, s);
    ctx.expect(s.fixture.requests.filter((q) => q.kind === 'device authorization').at(-1)!.form.scope).toBe(`openid offline_access ${mail}`);
    token(ctx, await refreshNow(s));
  });

  for (const aadsts of [70008, 700082]) {
    test.concurrent(`an Entra refresh token expired by inactivity (invalid_grant, AADSTS${aadsts}) ends the session: exit 3 with the login hint`, async (ctx) => {
      const s = await setup(ctx, 'entra');
      await loggedIn(ctx, s);
      s.fixture.refreshScript.push({ code: 'invalid_grant', detail: { aadsts, description: 'The refresh token has expired due to inactivity.' } });
      const r = await refreshNow(s);
      await sessionEnded(ctx, s, r, `(HTTP 400 invalid_grant from ${s.fixture.origin}/9188040d-6c67-4c5b-b112-36a304b66dad/oauth2/v2.0/token: AADSTS${aadsts}: The refresh token has expired due to inactivity.`);
      // Entra's trace and correlation ids are cut out of the one-line message.
      ctx.expect(r.stderr).not.toContain('0000aaaa-11bb');
    });
  }

  test.concurrent('Entra asking for multi-factor authentication on a refresh (interaction_required, AADSTS50076): exit 3 saying a new login is needed and why, and nothing is retried', async (ctx) => {
    const s = await setup(ctx, 'entra');
    await loggedIn(ctx, s);
    s.fixture.refreshScript.push('interaction_required');
    const r = await refreshNow(s);
    ctx.expect(r.stderr).toContain('profile entra needs a new login: the provider refused the refresh request until you sign in interactively, e.g. for multi-factor authentication (HTTP 400 interaction_required');
    ctx.expect(r.stderr).toContain('AADSTS50076: Due to a configuration change made by your administrator');
    await sessionEnded(ctx, s, r, 'interaction_required');
    const asked = s.fixture.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    ctx.expect(s.fixture.requests.length).toBe(asked);
  });

  test.concurrent('an Entra app registration without public client flows (invalid_client, AADSTS7000218) fails the device login with exit 1 naming the client', async (ctx) => {
    const s = await setup(ctx, 'entra', ['invalid_client']);
    const l = await login(s);
    ctx.expect(l.code).toBe(1);
    ctx.expect(l.stderr).toContain('the provider refused client entra-authd-cli of profile entra for the device login request (HTTP 401 invalid_client');
    ctx.expect(l.stderr).toContain('AADSTS7000218');
    ctx.expect(s.fixture.polled).toHaveLength(1);
  });

  test.concurrent('an Entra refresh refused for the client (unauthorized_client, AADSTS700016) exits 1 and keeps the session', async (ctx) => {
    const s = await setup(ctx, 'entra');
    await loggedIn(ctx, s);
    s.fixture.refreshScript.push('unauthorized_client');
    const r = await refreshNow(s);
    ctx.expect(r.code).toBe(1);
    ctx.expect(r.stderr).toContain('the provider refused client entra-authd-cli of profile entra for the refresh request (HTTP 400 unauthorized_client');
    ctx.expect(await loggedInStatus(s)).toBe(true);
    ctx.expect(s.home.storedSession('entra')!.refresh_token).toBe(s.fixture.loginRefreshToken);
  });

  const terminal: [string, string][] = [
    ['authorization_declined', 'the login was denied at the provider'],
    ['expired_token', 'the login code expired before it was approved'],
    ['bad_verification_code', 'the login code expired before it was approved'],
  ];
  for (const [code, says] of terminal) {
    test.concurrent(`an Entra device login answered 400 ${code} stops polling and exits 3: "${says}"`, async (ctx) => {
      const s = await setup(ctx, 'entra', [code]);
      const l = await login(s);
      ctx.expect(l.code).toBe(3);
      ctx.expect(l.stderr).toContain(says);
      ctx.expect(s.fixture.polled).toHaveLength(1);
    });
  }

  test.concurrent('logout from Entra forgets the session here and says Entra offers no revocation endpoint', async (ctx) => {
    const s = await setup(ctx, 'entra');
    await loggedIn(ctx, s);
    const out = await s.home.run(['logout', '-p', 'entra']);
    ctx.expect(out.code).toBe(0);
    ctx.expect(out.stderr).toContain('the provider offers no revocation endpoint');
    ctx.expect(s.home.storedSession('entra')).toBeUndefined();
  });
});

describe.concurrent('Google (discovery; /device/code, /token, /revoke)', () => {
  test.concurrent('a Google device login shows Google\'s verification_url, polls through 428 authorization_pending and logs in', async (ctx) => {
    const s = await setup(ctx, 'google', ['authorization_pending', 'approve']);
    const l = await login(s);
    ctx.expect(l.stderr).toBe('');
    ctx.expect(l.code).toBe(0);
    ctx.expect(l.events[0]).toMatchObject({ event: 'device_code', verification_uri: `${s.fixture.origin}/device` });
    ctx.expect(l.events[1]).toEqual({ event: 'logged_in', profile: 'google', subject: 'alice' });
    ctx.expect(s.fixture.polled.map((p) => [p.status, p.error])).toEqual([[428, 'authorization_pending'], [200, undefined]]);
    ctx.expect(token(ctx, await s.home.run(['get-token', '--format', 'json'])).access_token).toMatch(/^ya29\./);
  });

  test.concurrent('Google does not rotate refresh tokens: its refresh answers carry none, and authd keeps sending the one it has', async (ctx) => {
    const s = await setup(ctx, 'google');
    await loggedIn(ctx, s);
    const a = token(ctx, await refreshNow(s));
    const b = token(ctx, await refreshNow(s));
    ctx.expect(a.access_token).not.toBe(b.access_token);
    ctx.expect(s.fixture.refreshes.map((r) => r.form.refresh_token)).toEqual([s.fixture.loginRefreshToken, s.fixture.loginRefreshToken]);
    ctx.expect(s.home.storedSession('google')!.refresh_token).toBe(s.fixture.loginRefreshToken);
  });

  test.concurrent('Google answering a refresh with "Token has been expired or revoked." ends the session: exit 3 with the login hint', async (ctx) => {
    const s = await setup(ctx, 'google');
    await loggedIn(ctx, s);
    s.fixture.refreshScript.push('invalid_grant');
    await sessionEnded(ctx, s, await refreshNow(s), `(HTTP 400 invalid_grant from ${s.fixture.origin}/token: Token has been expired or revoked.)`);
  });

  test.concurrent('logout from Google revokes the refresh token at Google\'s revocation endpoint', async (ctx) => {
    const s = await setup(ctx, 'google');
    await loggedIn(ctx, s);
    const out = await s.home.run(['logout', '-p', 'google']);
    ctx.expect(out.code).toBe(0);
    ctx.expect(out.stderr).toContain('Logged out of google (revoked at the provider)');
    const revoked = s.fixture.requests.filter((r) => r.kind === 'revocation');
    ctx.expect(revoked.map((r) => [r.form.token, r.status])).toEqual([[s.fixture.loginRefreshToken, 200]]);
  });

  const terminal: [string, string][] = [
    ['access_denied', 'the login was denied at the provider'],
    ['expired_token', 'the login code expired before it was approved'],
  ];
  for (const [code, says] of terminal) {
    test.concurrent(`a Google device login answered ${code} (HTTP ${code === 'access_denied' ? 403 : 400}) stops polling and exits 3: "${says}"`, async (ctx) => {
      const s = await setup(ctx, 'google', [code]);
      const l = await login(s);
      ctx.expect(l.code).toBe(3);
      ctx.expect(l.stderr).toContain(says);
      ctx.expect(s.fixture.polled).toHaveLength(1);
    });
  }
});

describe.concurrent('Auth0 (discovery; /oauth/device/code, /oauth/token, /oauth/revoke)', () => {
  test.concurrent('an Auth0 device login polls through 403 authorization_pending and logs in; the complete URL is shown', async (ctx) => {
    const s = await setup(ctx, 'auth0', ['authorization_pending', 'approve']);
    const l = await login(s);
    ctx.expect(l.code).toBe(0);
    ctx.expect(l.events[0]).toMatchObject({ verification_uri_complete: ctx.expect.stringContaining(`${s.fixture.origin}/activate?user_code=`) });
    ctx.expect(s.fixture.polled.map((p) => p.status)).toEqual([403, 200]);
  });

  test.concurrent('an Auth0 device code that expires: authd stops at the one expired_token (403) and never polls on into invalid_grant', async (ctx) => {
    const s = await setup(ctx, 'auth0', ['expired_token']);
    const l = await login(s);
    ctx.expect(l.code).toBe(3);
    ctx.expect(l.stderr).toContain('the login code expired before it was approved');
    ctx.expect(s.fixture.polled.map((p) => [p.status, p.error])).toEqual([[403, 'expired_token']]);
  });

  test.concurrent('an Auth0 device login the user cancels (403 access_denied) exits 3 saying it was denied', async (ctx) => {
    const s = await setup(ctx, 'auth0', ['access_denied']);
    const l = await login(s);
    ctx.expect(l.code).toBe(3);
    ctx.expect(l.stderr).toContain('the login was denied at the provider');
  });

  test.concurrent('a stale copy of an Auth0 session replaying a rotated refresh token makes Auth0 revoke the family: authd\'s next refresh gets 403 invalid_grant and exits 3; authd itself never replayed one', async (ctx) => {
    const s = await setup(ctx, 'auth0');
    await loggedIn(ctx, s);
    token(ctx, await refreshNow(s));
    ctx.expect(s.fixture.reuses).toBe(0);
    // A backup of the credentials file, restored elsewhere, presents the login's refresh token.
    ctx.expect(s.fixture.refreshElsewhere().status).toBe(403);
    const r = await refreshNow(s);
    await sessionEnded(ctx, s, r, `(HTTP 403 invalid_grant from ${s.fixture.origin}/oauth/token: Unknown or invalid refresh token.)`);
    ctx.expect(s.fixture.reuses).toBe(1);
  });

  test.concurrent('logout from Auth0 revokes the refresh token at /oauth/revoke', async (ctx) => {
    const s = await setup(ctx, 'auth0');
    await loggedIn(ctx, s);
    const out = await s.home.run(['logout', '-p', 'auth0']);
    ctx.expect(out.stderr).toContain('Logged out of auth0 (revoked at the provider)');
    ctx.expect(s.fixture.requests.filter((r) => r.kind === 'revocation').map((r) => r.form.token)).toEqual([s.fixture.loginRefreshToken]);
  });
});

describe.concurrent('Okta (custom authorization server /oauth2/default)', () => {
  test.concurrent('an Okta device login polls through 400 authorization_pending and logs in; Okta\'s refresh token persists across refreshes', async (ctx) => {
    const s = await setup(ctx, 'okta', ['authorization_pending', 'approve']);
    await loggedIn(ctx, s);
    ctx.expect(s.fixture.polled.map((p) => p.status)).toEqual([400, 200]);
    token(ctx, await refreshNow(s));
    token(ctx, await refreshNow(s));
    ctx.expect(s.fixture.refreshes.map((r) => r.form.refresh_token)).toEqual([s.fixture.loginRefreshToken, s.fixture.loginRefreshToken]);
  });

  test.concurrent('Okta answering "The refresh token is invalid or expired." ends the session: exit 3 with the login hint', async (ctx) => {
    const s = await setup(ctx, 'okta');
    await loggedIn(ctx, s);
    s.fixture.refreshScript.push('invalid_grant');
    await sessionEnded(ctx, s, await refreshNow(s), `(HTTP 400 invalid_grant from ${s.fixture.origin}/oauth2/default/v1/token: The refresh token is invalid or expired.)`);
  });

  test.concurrent('logout from Okta revokes the refresh token at /v1/revoke', async (ctx) => {
    const s = await setup(ctx, 'okta');
    await loggedIn(ctx, s);
    const out = await s.home.run(['logout', '-p', 'okta']);
    ctx.expect(out.stderr).toContain('Logged out of okta (revoked at the provider)');
    ctx.expect(s.fixture.requests.filter((r) => r.kind === 'revocation').map((r) => r.form.token)).toEqual([s.fixture.loginRefreshToken]);
  });
});

describe.concurrent('Keycloak (realm acme)', () => {
  test.concurrent('a Keycloak device login logs in, its 5-minute tokens refresh, and logout revokes at the realm\'s /revoke', async (ctx) => {
    const s = await setup(ctx, 'keycloak', ['authorization_pending', 'approve']);
    await loggedIn(ctx, s);
    const t = token(ctx, await refreshNow(s));
    ctx.expect(t.expires_at - Date.now() / 1000).toBeLessThanOrEqual(300);
    const current = s.home.storedSession('keycloak')!.refresh_token;
    ctx.expect(current).not.toBe(s.fixture.loginRefreshToken);
    const out = await s.home.run(['logout', '-p', 'keycloak']);
    ctx.expect(out.stderr).toContain('Logged out of keycloak (revoked at the provider)');
    ctx.expect(s.fixture.requests.filter((r) => r.kind === 'revocation').map((r) => r.form.token)).toEqual([current]);
  });

  for (const description of ['Token is not active', 'Session not active']) {
    test.concurrent(`Keycloak answering a refresh with invalid_grant "${description}" ends the session: exit 3 with the login hint`, async (ctx) => {
      const s = await setup(ctx, 'keycloak');
      await loggedIn(ctx, s);
      s.fixture.refreshScript.push({ code: 'invalid_grant', detail: { description } });
      await sessionEnded(ctx, s, await refreshNow(s), `(HTTP 400 invalid_grant from ${s.fixture.origin}/realms/acme/protocol/openid-connect/token: ${description})`);
    });
  }
});

describe.concurrent('GitLab (discovery; /oauth/authorize_device, /oauth/token, /oauth/revoke)', () => {
  test.concurrent('a GitLab refresh token rotated by another copy of the session gets invalid_grant: authd exits 3 and never sends the dead token again', async (ctx) => {
    const s = await setup(ctx, 'gitlab', ['authorization_pending', 'approve']);
    await loggedIn(ctx, s);
    ctx.expect(s.fixture.polled.map((p) => p.status)).toEqual([400, 200]);
    ctx.expect(s.fixture.refreshElsewhere().status).toBe(200);
    const r = await refreshNow(s);
    await sessionEnded(ctx, s, r, `(HTTP 400 invalid_grant from ${s.fixture.origin}/oauth/token: The provided authorization grant is invalid`);
    // GitLab.com blocked the IP of a client that kept resending a dead refresh token (glab !4242).
    for (let i = 0; i < 3; i++) ctx.expect((await s.home.run(['get-token', '-p', 'gitlab'])).code).toBe(3);
    ctx.expect(s.fixture.refreshes).toHaveLength(1);
  });

  test.concurrent('a GitLab refresh rotates the pair, and logout revokes the current refresh token at /oauth/revoke', async (ctx) => {
    const s = await setup(ctx, 'gitlab');
    await loggedIn(ctx, s);
    token(ctx, await refreshNow(s));
    const current = s.home.storedSession('gitlab')!.refresh_token;
    ctx.expect(current).not.toBe(s.fixture.loginRefreshToken);
    const out = await s.home.run(['logout', '-p', 'gitlab']);
    ctx.expect(out.stderr).toContain('Logged out of gitlab (revoked at the provider)');
    ctx.expect(s.fixture.requests.filter((r) => r.kind === 'revocation').map((r) => [r.form.token, r.status])).toEqual([[current, 200]]);
    ctx.expect(s.fixture.reuses).toBe(0);
  });
});
