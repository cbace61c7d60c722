// Issue 12's "done when": each provider preset passes its fixture test, and what `profile add` writes
// passes `authd doctor`. For each preset: the real `authd profile add NAME --provider P`, pointed at
// the provider fixture (test/support/provider-fixtures.ts, which answers as the provider's pages
// show); then doctor, a device login, get-token, a forced refresh under the provider's rotation
// rules, and logout, each through the real binary, with nothing in the profile but what the preset
// wrote. GitHub, Entra and Google presets write the provider's fixed origin: only that origin is
// changed to the fixture's, every other line stays as the preset wrote it.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'vitest';
import { approveDeviceCode, startIdp } from '../scripts/dev-idp.mjs';
import { AUTHD, findLeaks, Home, type Result, readEvents } from './support/harness.js';
import { freePort } from './support/ports.js';
import { ProviderFixture, type ProviderName } from './support/provider-fixtures.js';

interface Case {
  provider: ProviderName;
  title: string;
  /** The fixture signs its ID tokens for this client (GitHub issues none). */
  clientId: string;
  /** The preset's options besides --client-id, pointed at the fixture where the preset takes a URL. */
  options(f: ProviderFixture): string[];
  /** The provider's fixed origin the preset writes, and the settings that hold it. */
  fixed?: { origin: string; keys: string[] };
  /** The token endpoint's path, for a preset with explicit endpoints (no discovery): doctor asks it. */
  tokenPath?: string;
  /** What the device authorization request must carry (from the preset's scopes and audience). */
  deviceForm: Record<string, string>;
  /** The scopes each refresh asks for again (Entra's refresh request carries them); the others send none. */
  refreshScope?: string;
  /** Google's installed-app "client secret", which it wants on each poll and refresh. */
  publicSecret?: string;
  /** Each refresh brings a new refresh token (GitHub, GitLab, Entra, Keycloak, Auth0), or the one authd has stays (Okta, Google). */
  rotates: boolean;
  /** The provider publishes a revocation endpoint (not GitHub, not Entra). */
  revokes: boolean;
  /** The host the preset's git_hosts names (after the rewrite), and the user name git gets. */
  git?: { host(f: ProviderFixture): string; username: string };
}

const CASES: Case[] = [
  {
    provider: 'github', title: 'GitHub', clientId: 'Iv23liFixtureApp01', options: () => [],
    fixed: { origin: 'https://github.com', keys: ['device_authorization_endpoint', 'token_endpoint', 'authorization_endpoint'] },
    tokenPath: '/login/oauth/access_token',
    // A GitHub App's user token carries the app's permissions: scopes = [], so no scope is asked for.
    deviceForm: { client_id: 'Iv23liFixtureApp01' },
    rotates: true, revokes: false, git: { host: () => 'github.com', username: 'x-access-token' },
  },
  {
    provider: 'entra', title: 'Microsoft Entra ID', clientId: 'entra-authd-cli',
    // The tenant ID as the admin center may show it; the preset writes it as Entra's issuer does, in lower case.
    options: () => ['--tenant', '9188040D-6C67-4C5B-B112-36A304B66DAD'],
    fixed: { origin: 'https://login.microsoftonline.com', keys: ['issuer'] },
    deviceForm: { client_id: 'entra-authd-cli', scope: 'openid offline_access https://graph.microsoft.com/.default' },
    refreshScope: 'openid offline_access https://graph.microsoft.com/.default',
    rotates: true, revokes: false,
  },
  {
    provider: 'google', title: 'Google', clientId: 'google-authd-cli', options: () => ['--client-secret-public', 'GOCSPX-fixture-not-secret'],
    fixed: { origin: 'https://accounts.google.com', keys: ['issuer'] },
    deviceForm: { client_id: 'google-authd-cli', scope: 'openid email' },
    publicSecret: 'GOCSPX-fixture-not-secret', rotates: false, revokes: true,
  },
  {
    provider: 'okta', title: 'Okta', clientId: 'okta-authd-cli', options: (f) => ['--url', `${f.origin}/oauth2/default`],
    deviceForm: { client_id: 'okta-authd-cli', scope: 'openid offline_access' },
    rotates: false, revokes: true,
  },
  {
    provider: 'auth0', title: 'Auth0', clientId: 'auth0-authd-cli', options: (f) => ['--url', f.origin, '--audience', 'https://api.acme.test'],
    deviceForm: { client_id: 'auth0-authd-cli', scope: 'openid offline_access', audience: 'https://api.acme.test' },
    rotates: true, revokes: true,
  },
  {
    provider: 'keycloak', title: 'Keycloak', clientId: 'keycloak-authd-cli', options: (f) => ['--url', f.origin, '--realm', 'acme'],
    deviceForm: { client_id: 'keycloak-authd-cli', scope: 'openid offline_access' },
    rotates: true, revokes: true,
  },
  {
    provider: 'gitlab', title: 'GitLab', clientId: 'gitlab-authd-cli', options: (f) => ['--url', f.origin],
    deviceForm: { client_id: 'gitlab-authd-cli', scope: 'openid read_repository write_repository' },
    rotates: true, revokes: true, git: { host: (f) => new URL(f.origin).host, username: 'oauth2' },
  },
];

interface Setup {
  fixture: ProviderFixture;
  home: Home;
  name: string;
  configFile: string;
}

/** A provider fixture and an empty home (file store); both gone after the test, and no token they saw in a message or log. */
async function setup(ctx: TestContext, c: Case): Promise<Setup> {
  const fixture = await ProviderFixture.start(c.provider);
  fixture.polls = ['authorization_pending', 'approve'];
  const home = new Home('authd-pl.');
  const configFile = join(home.dir, 'config.toml');
  writeFileSync(configFile, 'store = "file"\n', { mode: 0o600 });
  // Nothing the provider issued ever reaches a message or the state directory.
  ctx.onTestFinished(() => fixture.closeWith(home));
  return { fixture, home, name: `my-${c.provider}`, configFile };
}

/** `authd profile add` as a user runs it; for a preset with the provider's fixed origin, that origin then points at the fixture. */
async function addProfile(ctx: TestContext, c: Case, s: Setup): Promise<void> {
  const r = await s.home.run(['profile', 'add', s.name, '--provider', c.provider, '--client-id', c.clientId, ...c.options(s.fixture)]);
  ctx.expect(r.stderr).toContain(`Then log in: authd login -p ${s.name}`);
  ctx.expect(r.code).toBe(0);
  if (!c.fixed) return;
  const written = readFileSync(s.configFile, 'utf8');
  const pointed = written.replaceAll(`"${c.fixed.origin}`, `"${s.fixture.origin}`);
  // Only the settings that name the provider's origin change; every comment, scope and git setting stays.
  const before = written.split('\n');
  const after = pointed.split('\n');
  const changed = before.flatMap((line, i) => (line === after[i] ? [] : [line.split(' = ')[0]]));
  ctx.expect(changed).toEqual(c.fixed.keys);
  writeFileSync(s.configFile, pointed);
}

interface Doctor {
  code: number;
  ok: boolean;
  checks: Map<string, { status: string; detail: string }>;
}

async function doctor(home: Home): Promise<Doctor> {
  const r = await home.run(['doctor', '--json']);
  const out = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; status: string; detail: string }[] };
  return { code: r.code, ok: out.ok, checks: new Map(out.checks.map((ch) => [ch.name, ch])) };
}

function token(ctx: TestContext, r: Result): { access_token: string; expires_at: number } {
  ctx.expect(r.stderr).toBe('');
  ctx.expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { access_token: string; expires_at: number };
}

/** get-token, made to refresh now: a --min-ttl just under the provider's documented lifetime. */
function refreshNow(s: Setup): Promise<Result> {
  return s.home.run(['get-token', '-p', s.name, '--min-ttl', String(s.fixture.lifetime - 1), '--format', 'json']);
}

/** What doctor says of a provider it reached: the issuer it discovered, or how the token endpoint answered a HEAD. */
function reachable(c: Case, f: ProviderFixture): string {
  if (c.tokenPath) return `provider reachable (token endpoint ${f.origin}${c.tokenPath} answered HTTP 404)`;
  return `provider reachable (${f.issuer})`;
}

function rotationText(c: Case): string {
  return c.rotates ? 'to the new refresh token each time' : 'keeping the one refresh token';
}

describe.concurrent('a profile written by `authd profile add --provider P` works against P as P documents it', () => {
  for (const c of CASES) {
    const logout = c.revokes ? 'logs out revoking at the provider' : 'logs out saying the provider cannot revoke';
    test.concurrent(`a profile added with --provider ${c.provider} passes doctor, logs in, refreshes (${rotationText(c)}) and ${logout}, against ${c.title}'s documented endpoints`, async (ctx) => {
      const s = await setup(ctx, c);
      const { fixture, home, name } = s;
      await addProfile(ctx, c, s);

      // doctor: the config is fine and the provider answers: its discovery document, or (explicit
      // endpoints, nothing to discover) its token endpoint, asked with a HEAD.
      const d = await doctor(s.home);
      ctx.expect(d.checks.get('config')).toMatchObject({ status: 'ok', detail: `${s.configFile}: 1 profile(s)` });
      ctx.expect(d.checks.get(`profile ${name}`)).toMatchObject({ status: 'ok', detail: reachable(c, fixture) });
      ctx.expect(d.checks.get(`profile ${name} login`)).toMatchObject({ status: 'warning', detail: 'logged out' });
      ctx.expect(d.ok).toBe(true);
      ctx.expect(d.code).toBe(0);
      if (c.tokenPath) ctx.expect(fixture.requests.map((r) => [r.kind, r.status])).toEqual([['other', 404]]);
      else ctx.expect(fixture.requests.filter((r) => r.kind === 'discovery').length).toBeGreaterThan(0);

      // Device login, approved at the provider after one "authorization_pending".
      const l = await home.run(['login', '--json', '-p', name]);
      ctx.expect(l.stderr).toBe('');
      ctx.expect(l.code).toBe(0);
      const events = l.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
      ctx.expect(events.map((e) => e.event)).toEqual(['device_code', 'logged_in']);
      ctx.expect(events[0]!.verification_uri).toEqual(ctx.expect.stringContaining(`${fixture.origin}/`));
      ctx.expect(events[1]).toEqual({ event: 'logged_in', profile: name, subject: fixture.issuer === undefined ? null : 'alice' });
      ctx.expect(fixture.polled.map((p) => p.error)).toEqual(['authorization_pending', undefined]);
      const asked = fixture.requests.find((r) => r.kind === 'device authorization')!;
      // (Google's device authorization needs only client_id and scope; authd sends its public secret there too.)
      const { client_secret: _, ...deviceForm } = asked.form;
      ctx.expect(c.publicSecret ? deviceForm : asked.form).toEqual(c.deviceForm);

      // get-token: the token the provider issued at login, with the provider's documented lifetime.
      const t = token(ctx, await home.run(['get-token', '-p', name, '--format', 'json']));
      ctx.expect(fixture.issued.has(t.access_token)).toBe(true);
      ctx.expect(fixture.refreshes).toHaveLength(0);
      ctx.expect(t.expires_at - Date.now() / 1000).toBeGreaterThan(fixture.lifetime - 10);
      ctx.expect(t.expires_at - Date.now() / 1000).toBeLessThanOrEqual(fixture.lifetime);
      const loggedIn = await doctor(s.home);
      ctx.expect(loggedIn.checks.get(`profile ${name} login`)).toMatchObject({ status: 'ok', detail: ctx.expect.stringMatching(/^logged in/) });
      ctx.expect(loggedIn.code).toBe(0);

      // Two forced refreshes: each presents the refresh token the provider's rules leave valid.
      const a = token(ctx, await refreshNow(s));
      const b = token(ctx, await refreshNow(s));
      ctx.expect(new Set([t.access_token, a.access_token, b.access_token]).size).toBe(3);
      const [r1, r2] = fixture.refreshes;
      ctx.expect(r1!.status).toBe(200);
      ctx.expect(r2!.status).toBe(200);
      ctx.expect(r1!.form).toMatchObject({ grant_type: 'refresh_token', client_id: c.clientId, refresh_token: fixture.loginRefreshToken });
      const stored = home.storedSession(name)!.refresh_token;
      if (c.rotates) {
        ctx.expect(r2!.form.refresh_token).not.toBe(fixture.loginRefreshToken);
        ctx.expect(stored).not.toBe(r2!.form.refresh_token);
      } else {
        ctx.expect(r2!.form.refresh_token).toBe(fixture.loginRefreshToken);
        ctx.expect(stored).toBe(fixture.loginRefreshToken);
      }
      ctx.expect(fixture.reuses).toBe(0);
      // RFC 6749 §6 lets a refresh leave the scopes out, and only the Entra preset sends them.
      for (const r of [r1!, r2!]) {
        if (c.refreshScope) ctx.expect(r.form.scope).toBe(c.refreshScope);
        else ctx.expect(r.form).not.toHaveProperty('scope');
      }
      // Google wants its installed-app secret with each poll and refresh; nobody else gets a client secret.
      for (const r of [...fixture.polled, ...fixture.refreshes]) {
        if (c.publicSecret) ctx.expect(r.form.client_secret).toBe(c.publicSecret);
        else ctx.expect(r.form).not.toHaveProperty('client_secret');
      }

      // git asks the preset's git host: the current token, under the user name the provider wants.
      if (c.git) {
        const g = await home.run(['git-credential', 'get'], { input: `protocol=https\nhost=${c.git.host(fixture)}\n\n` });
        ctx.expect(g.stderr).toBe('');
        ctx.expect(g.stdout).toContain(`username=${c.git.username}\npassword=${b.access_token}\n`);
      }

      // logout: revoked where the provider publishes a revocation endpoint, forgotten here either way.
      const before = fixture.requests.length;
      const out = await home.run(['logout', '-p', name]);
      ctx.expect(out.code).toBe(0);
      if (c.revokes) {
        ctx.expect(out.stderr).toContain(`Logged out of ${name} (revoked at the provider)`);
        const revoked = fixture.requests.filter((r) => r.kind === 'revocation');
        ctx.expect(revoked.map((r) => [r.form.token, r.status])).toEqual([[stored, 200]]);
      } else {
        ctx.expect(out.stderr).toContain(`Logged out of ${name}`);
        ctx.expect(out.stderr).toContain('the provider offers no revocation endpoint; the token stays valid there until it expires');
        ctx.expect(fixture.requests.length).toBe(before);
      }
      ctx.expect(home.storedSession(name)).toBeUndefined();
      const after = await home.run(['get-token', '-p', name]);
      ctx.expect(after.code).toBe(3);
      ctx.expect(after.stderr).toContain(`authd login -p ${name}`);
    });
  }
});


describe('doctor asks a provider with explicit endpoints too', () => {
  test('a --provider github profile whose token endpoint is a closed port fails doctor as an unreachable discovery does; pointed at the provider, it passes', async (ctx) => {
    const c = CASES.find((x) => x.provider === 'github')!;
    const s = await setup(ctx, c);
    const closed = `http://127.0.0.1:${await freePort()}`;
    const r = await s.home.run(['profile', 'add', s.name, '--provider', 'github', '--client-id', c.clientId]);
    ctx.expect(r.code, r.stderr).toBe(0);
    const written = readFileSync(s.configFile, 'utf8');
    writeFileSync(s.configFile, written.replaceAll(`"${c.fixed!.origin}`, `"${closed}`));

    const down = await doctor(s.home);
    ctx.expect(down.checks.get(`profile ${s.name}`)).toEqual({
      name: `profile ${s.name}`, status: 'failed',
      detail: `cannot reach the provider for the reachability check (a HEAD request) to ${closed}${c.tokenPath}: connection refused`,
      fix: `check that the provider is running at ${closed}, and the endpoint URLs of profile ${s.name}`,
    });
    ctx.expect(down.checks.has(`profile ${s.name} login`)).toBe(false);
    ctx.expect(down.ok).toBe(false);

    // The same closed port as a discovery profile's issuer: the same failure, the same exit code.
    writeFileSync(s.configFile, 'store = "file"\n');
    const g = await s.home.run(['profile', 'add', 'my-generic', '--provider', 'generic', '--client-id', 'x', '--issuer', closed]);
    ctx.expect(g.code, g.stderr).toBe(0);
    const discovery = await doctor(s.home);
    ctx.expect(discovery.checks.get('profile my-generic')).toMatchObject({
      status: 'failed', detail: `cannot reach the provider for the discovery request to ${closed}/.well-known/openid-configuration: connection refused`,
    });
    ctx.expect(discovery.code).toBe(1);
    ctx.expect(down.code).toBe(discovery.code);

    // Pointed at the provider: reachable, and the provider was asked.
    writeFileSync(s.configFile, written.replaceAll(`"${c.fixed!.origin}`, `"${s.fixture.origin}`));
    const up = await doctor(s.home);
    ctx.expect(up.checks.get(`profile ${s.name}`)).toMatchObject({ status: 'ok', detail: reachable(c, s.fixture) });
    ctx.expect(up.code).toBe(0);
    ctx.expect(s.fixture.requests.map((q) => [q.kind, q.status])).toEqual([['other', 404]]);
  });

  test('a token endpoint answered by a redirect or a 502 fails doctor, saying it may not be the provider', async (ctx) => {
    const c = CASES.find((x) => x.provider === 'github')!;
    const s = await setup(ctx, c);
    let status = 302;
    const odd = createServer((_req, res) => {
      res.writeHead(status, status === 302 ? { location: 'http://portal.example/' } : {});
      res.end();
    });
    await new Promise<void>((resolve) => odd.listen(0, '127.0.0.1', resolve));
    ctx.onTestFinished(() => new Promise<void>((resolve) => odd.close(() => resolve())));
    const origin = `http://127.0.0.1:${(odd.address() as { port: number }).port}`;
    const r = await s.home.run(['profile', 'add', s.name, '--provider', 'github', '--client-id', c.clientId]);
    ctx.expect(r.code, r.stderr).toBe(0);
    writeFileSync(s.configFile, readFileSync(s.configFile, 'utf8').replaceAll(`"${c.fixed!.origin}`, `"${origin}`));
    for (const [code, why] of [[302, 'a redirect: a captive portal or proxy may be in the way'], [502, 'the provider, or a proxy in front of it, is failing']] as const) {
      status = code;
      const d = await doctor(s.home);
      ctx.expect(d.checks.get(`profile ${s.name}`)).toEqual({
        name: `profile ${s.name}`, status: 'failed', detail: `the token endpoint ${origin}${c.tokenPath} answered HTTP ${code}: ${why}`,
        fix: 'check the network (proxy, captive portal), or try again later',
      });
      ctx.expect(d.code).toBe(1);
    }
  });
});

describe('the generic preset against a standard OpenID provider', () => {
  test('a profile added with --provider generic --issuer passes doctor, logs in, refreshes (to the new refresh token each time) and logs out revoking, against the dev provider', async (ctx) => {
    const idp = await startIdp({ accessTokenTtl: 600 });
    const home = new Home('authd-pl.');
    const configFile = join(home.dir, 'config.toml');
    writeFileSync(configFile, 'store = "file"\n', { mode: 0o600 });
    ctx.onTestFinished(async () => {
      await home.dispose();
      await idp.close();
    });
    const name = 'my-generic';
    const added = await home.run(['profile', 'add', name, '--provider', 'generic', '--client-id', 'authd-cli', '--issuer', idp.issuer]);
    ctx.expect(added.stderr).toContain(`Then log in: authd login -p ${name}`);
    ctx.expect(added.code).toBe(0);

    const d = await doctor(home);
    ctx.expect(d.checks.get(`profile ${name}`)).toMatchObject({ status: 'ok', detail: `provider reachable (${idp.issuer})` });
    ctx.expect(d.checks.get(`profile ${name} login`)).toMatchObject({ status: 'warning', detail: 'logged out' });
    ctx.expect(d.code).toBe(0);

    // Device login (flow "auto", no browser here), approved on the provider's own pages.
    const child = spawn(AUTHD, ['login', '--json', '-p', name], { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const events = await readEvents(child, async (ev) => {
      if (ev.event === 'device_code') await approveDeviceCode(String(ev.verification_uri_complete));
    });
    ctx.expect(events.map((e) => e.event)).toEqual(['device_code', 'logged_in']);
    ctx.expect(events[1]).toEqual({ event: 'logged_in', profile: name, subject: 'alice' });
    const login = idp.rotations.find((r) => r.grantType === 'urn:ietf:params:oauth:grant-type:device_code' && r.issued)!;
    ctx.expect(login).toBeDefined();

    const t = JSON.parse((await home.run(['get-token', '-p', name, '--format', 'json'])).stdout) as { access_token: string; expires_at: number };
    ctx.expect(idp.issued.has(t.access_token)).toBe(true);
    ctx.expect(t.expires_at - Date.now() / 1000).toBeGreaterThan(590);

    // Two forced refreshes: oidc-provider rotates, so each presents the refresh token the last answer carried.
    for (let i = 0; i < 2; i++) {
      const r = await home.run(['get-token', '-p', name, '--min-ttl', '599', '--format', 'json']);
      ctx.expect(r.stderr).toBe('');
      ctx.expect(r.code).toBe(0);
    }
    const refreshes = idp.rotations.filter((r) => r.grantType === 'refresh_token');
    ctx.expect(refreshes.map((r) => [r.presented, r.error])).toEqual([[login.issued, undefined], [refreshes[0]!.issued, undefined]]);
    const stored = home.storedSession(name)!.refresh_token;
    ctx.expect(stored).toBe(refreshes[1]!.issued);
    ctx.expect(idp.stats.reuseDetected).toBe(0);

    const out = await home.run(['logout', '-p', name]);
    ctx.expect(out.code).toBe(0);
    ctx.expect(out.stderr).toContain(`Logged out of ${name} (revoked at the provider)`);
    ctx.expect((await idp.introspect(String(stored))).active).toBe(false);
    ctx.expect(home.storedSession(name)).toBeUndefined();
    ctx.expect(findLeaks(idp, { stderr: home.stderrs.join('\n'), state: home.stateFilesText() })).toEqual([]);
  });
});
