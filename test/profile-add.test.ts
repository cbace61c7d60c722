// `authd profile add NAME --provider P` and `authd profile remove NAME`, through the real binary:
// the section each preset writes is one the daemon takes and doctor passes, the rest of the file
// stays byte for byte, and remove gives the file back as it was.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Idp, type Rotation, startIdp } from '../scripts/dev-idp.mjs';
import { parseConfig } from '../src/daemon/config/index.js';
import { devProfile, Home } from './support/harness.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

let idp: Idp;
let home: Home;
let configFile: string;
/** A hand-written config: comments, a default, odd spacing; profile add must keep every byte of it. */
let original: string;

interface Case {
  preset: string;
  args: string[];
  issuer: string;
  /** What the written profile says, as the config parser reads it. */
  settings: Record<string, unknown>;
  /** The profile points at the local provider, so doctor's provider check can pass here. */
  local: boolean;
}

let cases: Case[];

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 30 });
  home = new Home();
  configFile = join(home.dir, 'config.toml');
  original = `# authd, by hand
default_profile = "dev"   # the local provider

[profiles.dev]            # comments after a header stay too
issuer    = "${idp.issuer}"
client_id = "authd-cli"
device_poll_interval = 0.05
`;
  const host = new URL(idp.issuer).host;
  cases = [
    {
      preset: 'github', args: ['--client-id', 'Iv23liTEST'], issuer: 'https://github.com/login/oauth/access_token', local: false,
      settings: {
        device_authorization_endpoint: 'https://github.com/login/device/code',
        authorization_endpoint: 'https://github.com/login/oauth/authorize',
        client_id: 'Iv23liTEST', scopes: [], git_hosts: ['github.com'], git_username: 'x-access-token',
      },
    },
    {
      preset: 'gitlab', args: ['--client-id', 'gl-app', '--url', `${idp.issuer}/`], issuer: idp.issuer, local: true,
      settings: { scopes: ['openid', 'read_repository', 'write_repository'], git_hosts: [host], git_username: 'oauth2' },
    },
    {
      preset: 'entra', args: ['--client-id', '0d1e2f3a-0000-4000-8000-000000000001', '--tenant', TENANT.toUpperCase()],
      issuer: `https://login.microsoftonline.com/${TENANT}/v2.0`, local: false,
      settings: { scopes: ['openid', 'offline_access', 'https://graph.microsoft.com/.default'], refresh_with_scopes: true, git_hosts: [] },
    },
    {
      preset: 'google', args: ['--client-id', '123-abc.apps.googleusercontent.com', '--client-secret-public', 'GOCSPX-not-secret'],
      issuer: 'https://accounts.google.com', local: false,
      settings: { client_secret_public: 'GOCSPX-not-secret', scopes: ['openid', 'email'] },
    },
    {
      preset: 'okta', args: ['--client-id', '0oa1b2c3', '--url', idp.issuer, '--git-host', 'git.acme.test'], issuer: idp.issuer, local: true,
      settings: { scopes: ['openid', 'offline_access'], git_hosts: ['git.acme.test'], git_username: 'oauth2' },
    },
    {
      preset: 'auth0', args: ['--client-id', 'a0client', '--url', idp.issuer, '--audience', 'https://api.acme.test'],
      issuer: `${idp.issuer}/`, local: true,
      settings: { audience: 'https://api.acme.test', scopes: ['openid', 'offline_access'] },
    },
    {
      preset: 'keycloak', args: ['--client-id', 'authd', '--url', idp.issuer, '--realm', 'dev'], issuer: `${idp.issuer}/realms/dev`, local: true,
      settings: { client_id: 'authd', scopes: ['openid', 'offline_access'] },
    },
    {
      preset: 'generic', args: ['--client-id', 'authd-cli', '--issuer', idp.issuer], issuer: idp.issuer, local: true,
      settings: { client_id: 'authd-cli', scopes: ['openid', 'offline_access'] },
    },
  ];
  // A Keycloak realm at /realms/dev: the local provider's discovery document, under the realm's issuer.
  const discovery = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
  idp.intercept((req, res) => {
    if (req.url !== '/realms/dev/.well-known/openid-configuration') return false;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...discovery, issuer: `${idp.issuer}/realms/dev` }));
    return true;
  });
});

afterAll(async () => {
  await home?.dispose();
  await idp?.close();
});

function resetConfig(text = original): void {
  writeFileSync(configFile, text, { mode: 0o600 });
}

async function profilesJson(h = home): Promise<{ default_profile: string | null; profiles: { name: string; flow: string; issuer: string | null }[] }> {
  const r = await h.run(['profiles', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

async function doctorChecks(): Promise<Map<string, { status: string; detail: string }>> {
  const r = await home.run(['doctor', '--json']);
  const out = JSON.parse(r.stdout) as { checks: { name: string; status: string; detail: string }[] };
  return new Map(out.checks.map((c) => [c.name, c]));
}

describe('each preset', () => {
  for (const preset of ['github', 'gitlab', 'entra', 'google', 'okta', 'auth0', 'keycloak', 'generic']) {
    test(`${preset}: profile add appends a commented section the daemon lists and doctor passes; profile remove gives the file back byte for byte`, async () => {
      const c = cases.find((x) => x.preset === preset)!;
      resetConfig();
      const r = await home.run(['profile', 'add', 'work', '--provider', c.preset, ...c.args]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`Then log in: authd login -p work`);

      const text = readFileSync(configFile, 'utf8');
      expect(text.slice(0, original.length)).toBe(original);
      const section = text.slice(original.length);
      expect(section).toMatch(/^\n\[profiles\.work\]\n# /);
      // Every setting comes with a comment saying what it is.
      const lines = section.trim().split('\n');
      for (const [i, line] of lines.entries()) if (/^\w+ = /.test(line)) expect(lines[i - 1], line).toMatch(/^# /);
      for (const line of lines) if (!line.startsWith('# https://')) expect(line.length, line).toBeLessThanOrEqual(102);
      expect(parseConfig(text, configFile).profiles.get('work')).toMatchObject(c.settings);

      const listed = (await profilesJson()).profiles.find((p) => p.name === 'work');
      expect(listed).toEqual({ name: 'work', flow: 'auto', issuer: c.issuer, is_default: false });

      const checks = await doctorChecks();
      expect(checks.get('config')).toMatchObject({ status: 'ok', detail: `${configFile}: 2 profile(s)` });
      // The provider's own issuer: the local one writes it without Auth0's trailing slash.
      if (c.local) expect(checks.get('profile work')).toMatchObject({ status: 'ok', detail: `provider reachable (${c.issuer.replace(/\/$/, '')})` });
      // The provider's own endpoint is asked (a HEAD of GitHub's token endpoint, which has no discovery): reached or not, doctor names it.
      else expect(checks.get('profile work')!.detail).toContain(c.issuer);

      const removed = await home.run(['profile', 'remove', 'work']);
      expect(removed.code, removed.stderr).toBe(0);
      expect(removed.stderr).toBe(`✓ Removed profile work from ${configFile}\n`);
      expect(readFileSync(configFile, 'utf8')).toBe(original);
      expect((await profilesJson()).profiles.map((p) => p.name)).toEqual(['dev']);
    });
  }
});

describe('profile add', () => {
  test('prints the section it wrote and what to register at the provider', async () => {
    resetConfig();
    const r = await home.run(['profile', 'add', 'kc', '--provider', 'keycloak', '--client-id', 'authd', '--url', idp.issuer, '--realm', 'dev']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`✓ Added to ${configFile}:\n\n  [profiles.kc]\n`);
    expect(r.stderr).toContain(`  issuer = "${idp.issuer}/realms/dev"\n`);
    expect(r.stderr).toContain('Next, at Keycloak:\n');
    expect(r.stderr).toContain('OAuth 2.0 Device Authorization Grant');
    expect(r.stderr).toContain('Valid redirect URIs: http://127.0.0.1/callback, without a port');
  });

  test('--default makes it the default profile, and remove takes default_profile away with it, saying so', async () => {
    const noDefault = original.replace(/^default_profile.*\n/m, '');
    resetConfig(noDefault);
    const r = await home.run(['profile', 'add', 'corp', '--provider', 'generic', '--client-id', 'authd-cli', '--issuer', idp.issuer, '--default']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('(now the default profile)');
    expect(readFileSync(configFile, 'utf8')).toMatch(/^# authd, by hand\ndefault_profile = "corp"\n\n\[profiles\.dev\]/);
    expect((await profilesJson()).default_profile).toBe('corp');

    const removed = await home.run(['profile', 'remove', 'corp']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stderr).toContain('It was the default profile: default_profile is gone too');
    expect(readFileSync(configFile, 'utf8')).toBe(noDefault);
    expect((await profilesJson()).default_profile).toBeNull();
  });

  test('with no config file it creates one, 0600, in a new 0700 directory', async () => {
    const fresh = new Home();
    const dir = join(mkdtempSync(join(tmpdir(), 'authd-cfg.')), 'authd');
    const file = join(dir, 'config.toml');
    try {
      const r = await fresh.run(['profile', 'add', 'gh', '--provider', 'github', '--client-id', 'Iv23liTEST'], { env: { AUTHD_CONFIG: file } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`✓ Created ${file}:`);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toMatch(/^\[profiles\.gh\]\n/);
      const listed = await fresh.run(['profiles', '--json'], { env: { AUTHD_CONFIG: file } });
      expect(JSON.parse(listed.stdout).profiles).toEqual([{ name: 'gh', flow: 'auto', issuer: 'https://github.com/login/oauth/access_token', is_default: false }]);
    } finally {
      await fresh.dispose();
    }
  });

  test('a name that exists is refused, saying how to remove it; the file is untouched', async () => {
    resetConfig();
    const r = await home.run(['profile', 'add', 'dev', '--provider', 'github', '--client-id', 'Iv23liTEST']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`there is already a profile "dev" in ${configFile}`);
    expect(r.stderr).toContain('authd profile remove dev');
    expect(readFileSync(configFile, 'utf8')).toBe(original);
  });

  test('every refusal exits 2 with the reason and leaves the file as it was', async () => {
    resetConfig();
    const refusals: [string[], string][] = [
      [['bad name', '--provider', 'github', '--client-id', 'x'], 'invalid profile name'],
      [['w', '--client-id', 'x'], 'profile add needs --provider P (github, gitlab, entra, google, okta, auth0, keycloak, generic)'],
      [['w', '--provider', 'gitlba', '--client-id', 'x'], 'unknown provider preset "gitlba" (did you mean gitlab?)'],
      [['w', '--provider', 'github'], 'the github preset needs --client-id ID'],
      [['w', '--provider', 'gitlab'], 'the gitlab preset needs --client-id ID'],
      [['w', '--provider', 'entra', '--client-id', 'x'], 'the entra preset needs --tenant TENANT_ID'],
      [['w', '--provider', 'google', '--client-id', 'x'], 'the google preset needs --client-secret-public VALUE'],
      [['w', '--provider', 'okta', '--client-id', 'x'], 'the okta preset needs --url URL'],
      [['w', '--provider', 'auth0', '--client-id', 'x'], 'the auth0 preset needs --url URL'],
      [['w', '--provider', 'keycloak', '--client-id', 'x', '--url', 'https://kc.acme.test'], 'the keycloak preset needs --realm REALM'],
      [['w', '--provider', 'generic', '--client-id', 'x'], 'the generic preset needs --issuer URL'],
      [['w', '--provider', 'github', '--client-id', 'x', '--tenant', TENANT], '--tenant is not an option of the github preset'],
      [['w', '--provider', 'gitlab', '--client-id', 'x', '--client-secret-public', 's'], '--client-secret-public is only for google'],
      [['w', '--provider', 'entra', '--client-id', 'x', '--tenant', 'common'], '--tenant must be the tenant ID, a GUID (got common)'],
      [['w', '--provider', 'gitlab', '--client-id', 'x', '--url', 'http://gitlab.acme.test'], '--url must use https unless the host is loopback'],
      [['w', '--provider', 'auth0', '--client-id', 'x', '--url', 'https://acme.auth0.com/api'], '--url for auth0 is the tenant\'s domain, without a path'],
      [['w', '--provider', 'okta', '--client-id', 'x', '--url', 'https://acme.okta.com', '--git-host', 'https://git.acme.test'], 'is not a host name'],
    ];
    for (const [args, message] of refusals) {
      const r = await home.run(['profile', 'add', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
    expect(readFileSync(configFile, 'utf8')).toBe(original);
  });

  test('the tenant refusal says why a domain or common will not do, and what to give instead', async () => {
    const r = await home.run(['profile', 'add', 'w', '--provider', 'entra', '--client-id', 'x', '--tenant', 'contoso.onmicrosoft.com']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('authd checks the issuer exactly');
    expect(r.stderr).toContain('9188040d-6c67-4c5b-b112-36a304b66dad');
  });
});

describe('profile remove', () => {
  test('an unknown name is refused with a guess', async () => {
    resetConfig();
    const r = await home.run(['profile', 'remove', 'deb']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('there is no profile "deb"');
    expect(r.stderr).toContain('(did you mean dev?)');
    expect(readFileSync(configFile, 'utf8')).toBe(original);
  });

  test('a logged-in profile is refused until `authd logout` has revoked its session', async () => {
    resetConfig();
    await home.login('dev');
    const refused = await home.run(['profile', 'remove', 'dev']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('profile dev is logged in or holds a stored secret');
    expect(refused.stderr).toContain('run `authd logout -p dev` first');
    expect(readFileSync(configFile, 'utf8')).toBe(original);

    expect((await home.run(['logout', '-p', 'dev'])).code).toBe(0);
    const removed = await home.run(['profile', 'remove', 'dev']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(readFileSync(configFile, 'utf8')).toBe('# authd, by hand\n');
  });
});

describe("an installed app's public client secret (Google's)", () => {
  test('is sent with the device login and each refresh; the provider refuses the same client without it', async () => {
    const h = new Home();
    // Tokens of 2 s: authd refreshes ahead of expiry for a token in use.
    const shortLived = await startIdp({ accessTokenTtl: 2 });
    try {
      h.writeConfig({
        installed: devProfile(shortLived, { client_id: 'authd-installed', client_secret_public: 'installed-not-secret' }),
        without: devProfile(shortLived, { client_id: 'authd-installed' }),
      });
      expect((await h.login('installed')).subject).toBe('alice');
      const refreshed = new Promise<Rotation>((resolve) => shortLived.onRotation((r) => r.grantType === 'refresh_token' && resolve(r)));
      expect((await h.run(['get-token', '-p', 'installed'])).code).toBe(0);
      const rotation = await refreshed;
      expect(rotation.error).toBeUndefined();
      expect(rotation.accessToken).toBeDefined();

      const refused = await h.run(['login', '-p', 'without']);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('the provider refused client authd-installed');
    } finally {
      await h.dispose();
      await shortLived.close();
    }
  });
});
