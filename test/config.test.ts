import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { addProfile, isLoopbackUrl, loadConfig, loopbackRedirect, parseConfig, removeProfile, setDefaultProfile } from '../src/daemon/config/index.js';
import { AuthdError } from '../src/protocol/errors.js';

const FILE = '/home/u/.config/authd/config.toml';

/** The AuthdError that parsing `text` throws (fails the test if it parses). */
function configError(text: string): AuthdError {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    expect(err).toBeInstanceOf(AuthdError);
    const e = err as AuthdError;
    expect(e.code).toBe('config_error');
    return e;
  }
  throw new Error('expected a config error, but the config parsed');
}

function thrown(fn: () => unknown): AuthdError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AuthdError);
    return err as AuthdError;
  }
  throw new Error('expected an error');
}

const DESIGN_EXAMPLE = `default_profile = "acme"

[profiles.acme]                      # a human, interactive
issuer    = "https://login.acme.com" # OIDC discovery; or give the endpoints below
client_id = "authd-cli"
flow      = "device"                 # device | client_credentials | api_key
scopes    = ["openid", "offline_access", "api"]
audience  = "https://api.acme.com"   # optional (resource indicator / audience param)
git_hosts = ["git.acme.com"]         # hosts this profile answers for as a git helper
git_username = "oauth2"              # username given to git (default "oauth2")

[profiles.ci]                        # a service, non-interactive
issuer = "https://login.acme.com"
client_id = "build-bot"
flow = "client_credentials"
client_secret_env = "ACME_BOT_SECRET"   # or stored with \`authd secret set ci\` (stdin)

[profiles.gh]                        # no discovery: explicit endpoints
device_authorization_endpoint = "https://github.com/login/device/code"
token_endpoint = "https://github.com/login/oauth/access_token"
client_id = "Iv1.abc"
flow = "device"
`;

describe('parsing a valid config', () => {
  it('defaults: flow auto (browser or device flow) with openid offline_access', () => {
    const c = parseConfig('[profiles.acme]\nissuer = "https://login.acme.com"\nclient_id = "cli"\n', FILE);
    expect(c).toMatchObject({ path: FILE, exists: true, store: 'auto' });
    expect(c.defaultProfile).toBeUndefined();
    expect(c.profiles.get('acme')).toEqual({
      name: 'acme',
      issuer: 'https://login.acme.com',
      client_id: 'cli',
      flow: 'auto',
      scopes: ['openid', 'offline_access'],
      git_hosts: [],
      git_username: 'oauth2',
      git_auth: 'basic',
      timeout: 10,
      refresh_ahead: true,
      client_auth: 'client_secret_basic',
    });
  });

  it('the example from the design document parses, including the explicit-endpoints profile', () => {
    const c = parseConfig(DESIGN_EXAMPLE, FILE);
    expect(c.defaultProfile).toBe('acme');
    expect([...c.profiles.keys()]).toEqual(['acme', 'ci', 'gh']);
    expect(c.profiles.get('acme')).toMatchObject({
      scopes: ['openid', 'offline_access', 'api'],
      audience: 'https://api.acme.com',
      git_hosts: ['git.acme.com'],
    });
    expect(c.profiles.get('ci')).toMatchObject({ flow: 'client_credentials', scopes: [], client_secret_env: 'ACME_BOT_SECRET' });
    const gh = c.profiles.get('gh');
    expect(gh?.issuer).toBeUndefined();
    expect(gh).toMatchObject({
      flow: 'device',
      device_authorization_endpoint: 'https://github.com/login/device/code',
      token_endpoint: 'https://github.com/login/oauth/access_token',
      client_id: 'Iv1.abc',
    });
  });

  it('an issuer is kept exactly as written (discovery compares it byte for byte)', () => {
    const c = parseConfig('[profiles.a]\nissuer = "https://login.acme.com"\nclient_id = "x"\n', FILE);
    expect(c.profiles.get('a')?.issuer).toBe('https://login.acme.com');
  });

  it('an empty file is an empty config', () => {
    const c = parseConfig('# nothing yet\n', FILE);
    expect(c.profiles.size).toBe(0);
    expect(c.exists).toBe(true);
  });

  it('every optional setting is read', () => {
    const c = parseConfig(
      `store = "memory"
[profiles.a]
issuer = "https://login.acme.com"
revocation_endpoint = "https://login.acme.com/revoke"
client_id = "x"
min_ttl = 120
device_poll_interval = 0.5
timeout = 30
refresh_ahead = false
git_hosts = ["Git.Acme.com", "git.acme.com:8443"]
git_username = "x-access-token"
`, FILE);
    expect(c.store).toBe('memory');
    expect(c.profiles.get('a')).toMatchObject({
      revocation_endpoint: 'https://login.acme.com/revoke',
      min_ttl: 120,
      device_poll_interval: 0.5,
      timeout: 30,
      refresh_ahead: false,
      git_hosts: ['git.acme.com', 'git.acme.com:8443'],
      git_username: 'x-access-token',
    });
  });

  it('an api_key profile needs neither an issuer nor a client_id', () => {
    const c = parseConfig('[profiles.key]\nflow = "api_key"\n', FILE);
    expect(c.profiles.get('key')).toMatchObject({ flow: 'api_key', client_id: '', scopes: [] });
  });

  it('a quoted profile name with a dot is one profile', () => {
    const c = parseConfig('[profiles."acme.prod"]\nissuer = "https://login.acme.com"\nclient_id = "x"\n', FILE);
    expect([...c.profiles.keys()]).toEqual(['acme.prod']);
  });
});

describe('errors name the file, the line and the field', () => {
  it('a typo in a field name is reported with file, line and the valid names', () => {
    const e = configError('[profiles.acme]\nclient_id = "x"\nisser = "https://login.acme.com"\n');
    expect(e.message).toBe(`${FILE}:3: profiles.acme.isser is not a known setting (did you mean issuer?)`);
    expect(e.hint).toContain('issuer, device_authorization_endpoint, token_endpoint');
    expect(e.hint).toContain('refresh_ahead');
  });

  it('two swapped letters count as one typo, as for commands and flags', () => {
    const e = configError('[profiles.acme]\nclient_id = "x"\nflwo = "device"\n');
    expect(e.message).toBe(`${FILE}:3: profiles.acme.flwo is not a known setting (did you mean flow?)`);
  });

  it('an unknown top-level table is reported (profile instead of profiles)', () => {
    const e = configError('# c\n[profile.acme]\nissuer = "https://login.acme.com"\n');
    expect(e.message).toBe(`${FILE}:2: profile is not a known setting (did you mean profiles?)`);
    expect(e.hint).toContain('default_profile, store, profiles');
  });

  it('a wrong flow names the line, the field, the choices and what was written', () => {
    const text = `default_profile = "acme"

# work account
[profiles.acme]
issuer = "https://login.acme.com"
client_id = "cli"
flow = "devise"
`;
    const e = configError(text);
    expect(e.message).toBe(`${FILE}:7: profiles.acme.flow must be one of device, browser, auto, client_credentials, api_key, token_exchange, jwt_bearer (got "devise")`);
    expect(e.hint).toContain('device');
  });

  it('a TOML syntax error names the line', () => {
    const e = configError('[profiles.acme]\nissuer = "https://login.acme.com"\nclient_id = \n');
    expect(e.message).toMatch(new RegExp(`^${FILE}:3: invalid TOML at column \\d+: `));
    expect(e.message).not.toContain('\n');
    expect(e.hint).toContain('line 3');
  });

  it('a TOML syntax error does not quote the offending line', () => {
    const e = configError('[profiles.acme]\nclient_id = "x"\nclient_secret = "hunter2-very-secret\n');
    expect(e.message).toMatch(new RegExp(`^${FILE}:3: `));
    expect(`${e.message} ${e.hint}`).not.toContain('hunter2');
  });

  it('an unknown field is found under [profiles] with dotted keys', () => {
    const e = configError('[profiles]\nacme.issuer = "https://login.acme.com"\nacme.client_id = "x"\nacme.scope = ["a"]\n');
    expect(e.message).toBe(`${FILE}:4: profiles.acme.scope is not a known setting (did you mean scopes?)`);
  });

  it('a field in an inline table falls back to the line of the profile', () => {
    const e = configError('[profiles]\nacme = { client_id = "x", issuer = "http://login.acme.com" }\n');
    expect(e.message).toMatch(new RegExp(`^${FILE}:2: profiles.acme.issuer must use https`));
  });

  it('text inside a multi-line string does not fool the line finder', () => {
    const e = configError(`[profiles.acme]
audience = """
flow = "device"
"""
client_id = "x"
issuer = "https://login.acme.com"
flow = "nope"
`);
    expect(e.message).toMatch(new RegExp(`^${FILE}:7: profiles.acme.flow`));
  });

  it('a field in a quoted profile name is located', () => {
    const e = configError('[profiles."acme.prod"]\nclient_id = "x"\ntimeout = 0\nissuer = "https://a.example"\n');
    expect(e.message).toBe(`${FILE}:3: profiles."acme.prod".timeout must be between 1 and 300 seconds (got 0)`);
  });

  it('an unquoted dotted profile name gets a hint to quote it', () => {
    const e = configError('[profiles.acme.prod]\nclient_id = "x"\n');
    expect(e.message).toMatch(/profiles\.acme\.prod is not a known setting/);
    expect(e.hint).toContain('[profiles."acme.prod"]');
  });

  it('type errors name the expected type', () => {
    expect(configError('[profiles.a]\nissuer = "https://a.example"\nclient_id = "x"\nscopes = "openid"\n').message)
      .toBe(`${FILE}:4: profiles.a.scopes must be an array of strings (got a string)`);
    expect(configError('[profiles.a]\nissuer = "https://a.example"\nclient_id = "x"\ntimeout = "10"\n').message)
      .toBe(`${FILE}:4: profiles.a.timeout must be a number of seconds (got a string)`);
    expect(configError('[profiles.a]\nissuer = "https://a.example"\nclient_id = "x"\nrefresh_ahead = "yes"\n').message)
      .toBe(`${FILE}:4: profiles.a.refresh_ahead must be true or false (got a string)`);
    expect(configError('[profiles.a]\nissuer = "https://a.example"\nclient_id = 42\n').message)
      .toBe(`${FILE}:3: profiles.a.client_id must be a string (got an integer)`);
    expect(configError('[profiles.a]\nissuer = "https://a.example"\nclient_id = "x"\ngit_hosts = ["a", 2]\n').message)
      .toBe(`${FILE}:4: profiles.a.git_hosts must be an array of strings, but item 2 is an integer`);
    expect(configError('profiles = "acme"\n').message).toBe(`${FILE}:1: profiles must be a table of profiles (got a string)`);
  });

  it('numbers outside their range are refused', () => {
    const base = '[profiles.a]\nissuer = "https://a.example"\nclient_id = "x"\n';
    expect(configError(`${base}min_ttl = 90000\n`).message).toBe(`${FILE}:4: profiles.a.min_ttl must be between 0 and 86400 seconds (got 90000)`);
    expect(configError(`${base}device_poll_interval = 0.01\n`).message).toMatch(/device_poll_interval must be between 0.05 and 60 seconds/);
    expect(configError(`${base}timeout = nan\n`).message).toMatch(/timeout must be between 1 and 300 seconds \(got NaN\)/);
  });

  it('a misplaced client_secret_env at the top level is an unknown setting, not a secret', () => {
    const e = configError('client_secret_env = "X"\n');
    expect(e.message).toBe(`${FILE}:1: client_secret_env is not a known setting`);
  });

  it('an unknown store backend is refused', () => {
    const e = configError('store = "keychain"\n');
    expect(e.message).toBe(`${FILE}:1: store must be one of auto, keyring, file, memory (got "keychain")`);
    expect(e.hint).toBe('Set it to one of: auto, keyring, file, memory.');
    expect(configError('store = "keyrng"\n').hint).toBe('Did you mean "keyring"?');
    expect(configError('store = true\n').hint).toBe('Write it as a quoted string, e.g. store = "auto".');
  });

  it('an invalid profile name is refused', () => {
    const e = configError('[profiles."my profile"]\nclient_id = "x"\n');
    expect(e.message).toBe(`${FILE}:1: "my profile" is not a valid profile name`);
  });

  it('default_profile naming a missing profile is an error', () => {
    const e = configError('default_profile = "acmee"\n[profiles.acme]\nissuer = "https://a.example"\nclient_id = "x"\n');
    expect(e.message).toBe(`${FILE}:1: default_profile is "acmee", but there is no profile of that name in this file`);
    expect(e.hint).toContain('acme');
  });

  it('a device profile without client_id is refused', () => {
    const e = configError('[profiles.a]\nissuer = "https://a.example"\n');
    expect(e.message).toBe(`${FILE}:1: profiles.a.client_id is required for the device flow or browser login`);
    expect(configError('[profiles.a]\nissuer = "https://a.example"\nflow = "device"\n').message)
      .toBe(`${FILE}:1: profiles.a.client_id is required for the device flow`);
  });

  it('a device profile needs an issuer or both endpoints', () => {
    expect(configError('[profiles.a]\nclient_id = "x"\n').message)
      .toBe(`${FILE}:1: profiles.a needs issuer, or both device_authorization_endpoint and token_endpoint, for the device flow`);
    expect(configError('[profiles.gh]\nclient_id = "x"\ndevice_authorization_endpoint = "https://github.com/login/device/code"\n').message)
      .toBe(`${FILE}:1: profiles.gh has no issuer, so the device flow needs token_endpoint as well`);
  });

  it('a client_credentials profile needs an issuer or a token endpoint', () => {
    expect(configError('[profiles.ci]\nclient_id = "x"\nflow = "client_credentials"\n').message)
      .toBe(`${FILE}:1: profiles.ci needs issuer or token_endpoint for the client_credentials flow`);
    const ok = parseConfig('[profiles.ci]\nclient_id = "x"\nflow = "client_credentials"\ntoken_endpoint = "https://a.example/token"\n', FILE);
    expect(ok.profiles.get('ci')?.token_endpoint).toBe('https://a.example/token');
  });

  it('git_hosts takes host names, not URLs', () => {
    const e = configError('[profiles.a]\nissuer = "https://a.example"\nclient_id = "x"\ngit_hosts = ["https://git.acme.com"]\n');
    expect(e.message).toBe(`${FILE}:4: profiles.a.git_hosts has an invalid item "https://git.acme.com": each entry is a host name such as git.acme.com (optionally with :port and a /path prefix), not a URL`);
  });

  it('git_hosts entries may carry a port and a path prefix; the host is case-insensitive', () => {
    const c = parseConfig('[profiles.a]\nissuer = "https://a.example"\nclient_id = "x"\ngit_hosts = ["Git.Acme.com:8443/Team/", "b.example"]\n', FILE);
    expect(c.profiles.get('a')?.git_hosts).toEqual(['git.acme.com:8443/Team', 'b.example']);
  });

  it('every message is one line', () => {
    const e = configError('[profiles.a]\nclient_id = "x"\nflow = "x"\n');
    expect(e.message).not.toContain('\n');
  });
});

describe('URLs', () => {
  const withIssuer = (issuer: string): string => `[profiles.a]\nclient_id = "x"\nissuer = "${issuer}"\n`;

  it('an http issuer on a public host is refused', () => {
    const e = configError(withIssuer('http://login.acme.com'));
    expect(e.message).toBe(`${FILE}:3: profiles.a.issuer must use https unless the host is loopback (got http://login.acme.com)`);
    expect(e.hint).toContain('https://');
  });

  it('http on 127.0.0.1 and localhost is allowed', () => {
    for (const issuer of ['http://127.0.0.1:4000', 'http://localhost:4000/oidc', 'http://[::1]:4000', 'http://127.9.8.7']) {
      expect(parseConfig(withIssuer(issuer), FILE).profiles.get('a')?.issuer).toBe(issuer);
    }
  });

  it('http endpoints follow the same rule', () => {
    const e = configError('[profiles.gh]\nclient_id = "x"\ndevice_authorization_endpoint = "https://gh.example/code"\ntoken_endpoint = "http://gh.example/token"\n');
    expect(e.message).toMatch(new RegExp(`^${FILE}:4: profiles.gh.token_endpoint must use https`));
  });

  it('a relative or scheme-less URL is refused', () => {
    expect(configError(withIssuer('login.acme.com')).message)
      .toBe(`${FILE}:3: profiles.a.issuer must be an absolute URL such as https://login.example.com (got "login.acme.com")`);
    expect(configError(withIssuer('ftp://login.acme.com')).message).toMatch(/must be an https:\/\/ URL/);
  });

  it('credentials in a URL are refused without echoing them', () => {
    const e = configError(withIssuer('https://bob:s3cr3tpw@login.acme.com'));
    expect(e.message).toBe(`${FILE}:3: profiles.a.issuer must not contain a user name or password`);
    expect(`${e.message} ${e.hint}`).not.toContain('s3cr3tpw');
  });

  it('authorization_endpoint (browser login without discovery, GitHub) follows the URL rules', () => {
    const gh = '[profiles.gh]\ndevice_authorization_endpoint = "https://github.com/login/device/code"\ntoken_endpoint = "https://github.com/login/oauth/access_token"\nclient_id = "Iv1"\n';
    expect(parseConfig(`${gh}authorization_endpoint = "https://github.com/login/oauth/authorize"\n`, FILE).profiles.get('gh')?.authorization_endpoint)
      .toBe('https://github.com/login/oauth/authorize');
    expect(configError(`${gh}authorization_endpoint = "http://github.com/login/oauth/authorize"\n`).message).toContain('must use https');
  });

  it('an issuer with a query is refused', () => {
    expect(configError(withIssuer('https://login.acme.com/?tenant=x')).message).toMatch(/issuer must not contain a query or fragment/);
  });

  it('isLoopbackUrl accepts only loopback hosts', () => {
    for (const u of ['http://127.0.0.1', 'http://127.1', 'http://127.255.255.254:8080', 'http://localhost', 'http://LOCALHOST:3000', 'http://[::1]:80', 'http://[0:0:0:0:0:0:0:1]']) {
      expect(isLoopbackUrl(new URL(u)), u).toBe(true);
    }
    for (const u of ['http://128.0.0.1', 'http://10.0.0.1', 'http://localhost.evil.com', 'http://127.0.0.1.nip.io', 'http://[::2]', 'http://example.com', 'http://0.0.0.0']) {
      expect(isLoopbackUrl(new URL(u)), u).toBe(false);
    }
  });
});

describe('browser login settings', () => {
  const browser = (lines: string): string => `[profiles.a]\nissuer = "https://a.example"\nclient_id = "x"\n${lines}`;

  it('a browser profile takes an explicit authorization_endpoint and a loopback redirect_uri registered at the provider', () => {
    const c = parseConfig(`[profiles.gh]
client_id = "x"
flow = "browser"
authorization_endpoint = "https://github.com/login/oauth/authorize"
token_endpoint = "https://github.com/login/oauth/access_token"
redirect_uri = "http://127.0.0.1:8400/callback"
`, FILE);
    expect(c.profiles.get('gh')).toMatchObject({
      flow: 'browser', authorization_endpoint: 'https://github.com/login/oauth/authorize', redirect_uri: 'http://127.0.0.1:8400/callback',
      scopes: ['openid', 'offline_access'],
    });
    expect(parseConfig(browser('redirect_uri = "http://localhost:8400/"\n'), FILE).profiles.get('a')?.redirect_uri).toBe('http://localhost:8400/');
  });

  it('a redirect_uri names its host, the address listened on, its port if one was written (even :80), and its path', () => {
    expect(loopbackRedirect('http://localhost:8400/')).toEqual({ host: 'localhost', listen: '127.0.0.1', port: 8400, path: '/' });
    expect(loopbackRedirect('http://[::1]/cb')).toEqual({ host: '[::1]', listen: '::1', path: '/cb' });
    expect(loopbackRedirect('http://127.0.0.1:80/cb')).toEqual({ host: '127.0.0.1', listen: '127.0.0.1', port: 80, path: '/cb' });
    expect(loopbackRedirect('http://127.0.0.1')).toEqual({ host: '127.0.0.1', listen: '127.0.0.1', path: '/' });
  });

  it('a redirect_uri that is not plain http on a loopback address is refused, saying what is wrong', () => {
    const cases: [string, string][] = [
      ['https://127.0.0.1:8400/', 'it must be a plain http:// URL'],
      ['http://example.com:8400/', 'its host must be 127.0.0.1, [::1] or localhost'],
      ['http://127.0.0.2:8400/', 'its host must be 127.0.0.1, [::1] or localhost'],
      ['http://0.0.0.0:8400/', 'its host must be 127.0.0.1, [::1] or localhost'],
      ['http://127.0.0.1:8400/cb?x=1', 'it must not have a query or fragment'],
      ['http://127.0.0.1:8400/cb#x', 'it must not have a query or fragment'],
      ['http://127.0.0.1:0/', 'its port must be between 1 and 65535'],
      ['http://me:pw@127.0.0.1:8400/', 'it must not contain a user name or password'],
      ['127.0.0.1:8400', 'it must be a URL'],
    ];
    for (const [uri, why] of cases) {
      const e = configError(browser(`flow = "browser"\nredirect_uri = ${JSON.stringify(uri)}\n`));
      expect(e.message, uri).toMatch(new RegExp(`^${FILE}:5: profiles\\.a\\.redirect_uri is not a loopback redirect: `));
      expect(e.message, uri).toContain(why);
      expect(e.message).not.toContain('pw@');
    }
  });

  it('redirect_uri is for browser logins only', () => {
    const e = configError('[profiles.ci]\ntoken_endpoint = "https://a.example/token"\nclient_id = "x"\nflow = "client_credentials"\nredirect_uri = "http://127.0.0.1:8400/"\n');
    expect(e.message).toBe(`${FILE}:5: profiles.ci.redirect_uri is only used by the browser login`);
    expect(configError(browser('flow = "device"\nredirect_uri = "http://127.0.0.1:8400/"\n')).message).toMatch(/redirect_uri is only used by the browser login/);
  });

  it('without an issuer, a browser login needs authorization_endpoint and token_endpoint', () => {
    expect(configError('[profiles.a]\nclient_id = "x"\nflow = "browser"\n').message)
      .toBe(`${FILE}:1: profiles.a needs issuer, or both authorization_endpoint and token_endpoint, for the browser login`);
    expect(configError('[profiles.a]\nclient_id = "x"\nauthorization_endpoint = "https://a.example/authorize"\n').message)
      .toBe(`${FILE}:1: profiles.a has no issuer, so the browser login needs token_endpoint as well`);
    const auto = parseConfig('[profiles.a]\nclient_id = "x"\nauthorization_endpoint = "https://a.example/authorize"\ntoken_endpoint = "https://a.example/token"\n', FILE);
    expect(auto.profiles.get('a')).toMatchObject({ flow: 'auto', authorization_endpoint: 'https://a.example/authorize' });
  });
});

describe('refresh_with_scopes', () => {
  const profile = (lines: string): string => `[profiles.a]\nissuer = "https://a.example"\nclient_id = "x"\n${lines}`;

  it('is off unless a profile says so; then each refresh sends the profile\'s scopes', () => {
    expect(parseConfig(profile(''), FILE).profiles.get('a')?.refresh_with_scopes).toBeUndefined();
    expect(parseConfig(profile('refresh_with_scopes = true\n'), FILE).profiles.get('a')).toMatchObject({
      refresh_with_scopes: true, scopes: ['openid', 'offline_access'],
    });
    expect(parseConfig(profile('refresh_with_scopes = false\n'), FILE).profiles.get('a')?.refresh_with_scopes).toBe(false);
  });

  it('is true or false, not a string or a list of scopes', () => {
    const e = configError(profile('refresh_with_scopes = "true"\n'));
    expect(e.message).toBe(`${FILE}:4: profiles.a.refresh_with_scopes must be true or false (got a string)`);
    expect(e.hint).toBe('Write it without quotes: true or false.');
    expect(configError(profile('refresh_with_scopes = ["openid"]\n')).message)
      .toBe(`${FILE}:4: profiles.a.refresh_with_scopes must be true or false (got an array)`);
    expect(configError(profile('refresh_with_scopes = 1\n')).message)
      .toBe(`${FILE}:4: profiles.a.refresh_with_scopes must be true or false (got an integer)`);
  });

  it('is refused where there is no refresh token to refresh, or no scope to send', () => {
    const ci = configError('[profiles.ci]\ntoken_endpoint = "https://a.example/token"\nclient_id = "x"\nflow = "client_credentials"\nrefresh_with_scopes = true\n');
    expect(ci.message).toBe(`${FILE}:5: profiles.ci.refresh_with_scopes is only used when a person's login is refreshed (device or browser login), not by the client_credentials flow`);
    const empty = configError(profile('scopes = []\nrefresh_with_scopes = true\n'));
    expect(empty.message).toBe(`${FILE}:5: profiles.a.refresh_with_scopes is true, but scopes is empty: there are no scopes to send`);
  });
});

describe('secrets stay out of the config', () => {
  it('a client_secret in the config is refused without echoing it', () => {
    const e = configError('[profiles.ci]\nissuer = "https://a.example"\nclient_id = "bot"\nflow = "client_credentials"\nclient_secret = "hunter2-hunter2"\n');
    expect(e.message).toBe(`${FILE}:5: profiles.ci.client_secret is not allowed because a config file must not hold secrets`);
    expect(e.hint).toContain('authd secret set ci');
    expect(e.hint).toContain('client_secret_env');
    expect(`${e.message} ${e.hint}`).not.toContain('hunter2');
  });

  it('other secret-looking keys are refused the same way', () => {
    for (const key of ['api_key', 'refresh_token', 'password']) {
      const e = configError(`[profiles.k]\nflow = "api_key"\n${key} = "topsecretvalue"\n`);
      expect(e.message).toMatch(/must not hold secrets/);
      expect(`${e.message} ${e.hint}`).not.toContain('topsecretvalue');
    }
  });

  it("client_secret_public (an installed app's documented non-secret, Google's) is taken for a device profile", () => {
    const c = parseConfig('[profiles.g]\nissuer = "https://accounts.google.com"\nclient_id = "1.apps.googleusercontent.com"\nclient_secret_public = "GOCSPX-abc"\n', FILE);
    expect(c.profiles.get('g')?.client_secret_public).toBe('GOCSPX-abc');
  });

  it('client_secret_public is refused for a service identity, whose secret is a real one, without echoing it', () => {
    for (const flow of ['client_credentials', 'api_key']) {
      const e = configError(`[profiles.ci]\nissuer = "https://login.acme.com"\nclient_id = "bot"\nflow = "${flow}"\nclient_secret_public = "sk-live-123"\n`);
      expect(e.message).toBe(`${FILE}:5: profiles.ci.client_secret_public is only for a client that logs a person in (device or browser login), not for the ${flow} flow`);
      expect(e.hint).toContain('authd secret set ci');
      expect(`${e.message} ${e.hint}`).not.toContain('sk-live');
    }
  });

  it('client_secret_env must be a variable name, and a pasted secret is not echoed', () => {
    const e = configError('[profiles.ci]\nissuer = "https://a.example"\nclient_id = "bot"\nclient_secret_env = "sk-live-abc.123"\n');
    expect(e.message).toBe(`${FILE}:4: profiles.ci.client_secret_env must be the name of an environment variable (letters, digits and _, not starting with a digit)`);
    expect(`${e.message} ${e.hint}`).not.toContain('sk-live');
  });
});

describe('files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'authd-config-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a missing config file is an empty config, not an error', () => {
    const path = join(dir, 'config.toml');
    const c = loadConfig(path);
    expect(c).toMatchObject({ path, exists: false, store: 'auto' });
    expect(c.profiles.size).toBe(0);
  });

  it('loadConfig reads and validates the file', () => {
    const path = join(dir, 'config.toml');
    writeFileSync(path, DESIGN_EXAMPLE);
    expect(loadConfig(path).defaultProfile).toBe('acme');
    writeFileSync(path, '[profiles.a]\nclient_id = "x"\nisser = "https://a.example"\n');
    expect(thrown(() => loadConfig(path)).message).toMatch(new RegExp(`^${path}:3: profiles.a.isser`));
  });

  it('an unreadable config is a config error, not an empty config', () => {
    expect(thrown(() => loadConfig(dir)).code).toBe('config_error');
  });

  it('authd use rewrites only default_profile and keeps comments', () => {
    const path = join(dir, 'config.toml');
    writeFileSync(path, DESIGN_EXAMPLE.replace('default_profile = "acme"', '# my setup\ndefault_profile = "acme"   # switch with authd use'));
    const before = readFileSync(path, 'utf8');
    setDefaultProfile(path, 'gh');
    const after = readFileSync(path, 'utf8');
    expect(after).toBe(before.replace('default_profile = "acme"   #', 'default_profile = "gh"   #'));
    expect(loadConfig(path).defaultProfile).toBe('gh');
    expect(readdirSync(dir)).toEqual(['config.toml']);
  });

  it('authd use inserts default_profile after the leading comments when there is none', () => {
    const path = join(dir, 'config.toml');
    const body = '# authd config\n# second line\n\n[profiles.acme]\nissuer = "https://a.example"\nclient_id = "x"\n';
    writeFileSync(path, body);
    setDefaultProfile(path, 'acme');
    expect(readFileSync(path, 'utf8')).toBe(
      '# authd config\n# second line\ndefault_profile = "acme"\n\n[profiles.acme]\nissuer = "https://a.example"\nclient_id = "x"\n');
  });

  it('authd use inserts at the very top when the file starts with a table', () => {
    const path = join(dir, 'config.toml');
    writeFileSync(path, '[profiles.acme]\nissuer = "https://a.example"\nclient_id = "x"\n');
    setDefaultProfile(path, 'acme');
    expect(readFileSync(path, 'utf8')).toBe('default_profile = "acme"\n[profiles.acme]\nissuer = "https://a.example"\nclient_id = "x"\n');
  });

  it('a default_profile inside a profile table is not mistaken for the top-level one', () => {
    const path = join(dir, 'config.toml');
    // `default_profile` under a table would be an unknown profile key, so only the top level can hold it;
    // the rewrite must still look only before the first table.
    writeFileSync(path, '[profiles.a]\nissuer = "https://a.example"\nclient_id = "x"\n[profiles.b]\nissuer = "https://b.example"\nclient_id = "y"\n');
    setDefaultProfile(path, 'b');
    expect(readFileSync(path, 'utf8').startsWith('default_profile = "b"\n[profiles.a]\n')).toBe(true);
  });

  it('authd use keeps the file mode and CRLF line endings', () => {
    const path = join(dir, 'config.toml');
    writeFileSync(path, 'default_profile = "a"\r\n[profiles.a]\r\nissuer = "https://a.example"\r\nclient_id = "x"\r\n[profiles.b]\r\nflow = "api_key"\r\n');
    chmodSync(path, 0o640);
    setDefaultProfile(path, 'b');
    expect(readFileSync(path, 'utf8')).toBe('default_profile = "b"\r\n[profiles.a]\r\nissuer = "https://a.example"\r\nclient_id = "x"\r\n[profiles.b]\r\nflow = "api_key"\r\n');
    expect(statSync(path).mode & 0o777).toBe(0o640);
  });

  it('authd use through a symlinked config updates the target and keeps the link', () => {
    const real = join(dir, 'dotfiles-config.toml');
    const link = join(dir, 'config.toml');
    writeFileSync(real, '[profiles.a]\nflow = "api_key"\n');
    symlinkSync(real, link);
    setDefaultProfile(link, 'a');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toBe('default_profile = "a"\n[profiles.a]\nflow = "api_key"\n');
  });

  // Needs chattr and a filesystem with the immutable flag (ext4, xfs, btrfs); skipped elsewhere.
  it('authd use that cannot write the config says why, naming the directory the file is really in, and changes nothing', (ctx) => {
    const real = join(dir, 'dotfiles', 'authd.toml');
    const link = join(dir, 'config.toml');
    mkdirSync(join(dir, 'dotfiles'));
    writeFileSync(real, DESIGN_EXAMPLE);
    symlinkSync(real, link);
    const chattr = (flag: string) => spawnSync('chattr', [flag, real], { stdio: 'ignore' }).status === 0;
    if (!chattr('+i')) ctx.skip('chattr +i is not available here');
    let e: AuthdError;
    try {
      e = thrown(() => setDefaultProfile(link, 'gh'));
    } finally {
      chattr('-i');
    }
    expect(e.code).toBe('config_error');
    expect(e.message).toBe(`cannot write the config file ${link} (EPERM)`);
    expect(e.hint).toBe(`Check that you can write to ${join(dir, 'dotfiles')}.`);
    expect(readFileSync(real, 'utf8')).toBe(DESIGN_EXAMPLE);
    expect(readdirSync(join(dir, 'dotfiles'))).toEqual(['authd.toml']);
  });

  it('authd use with an unknown profile changes nothing', () => {
    const path = join(dir, 'config.toml');
    writeFileSync(path, DESIGN_EXAMPLE);
    const e = thrown(() => setDefaultProfile(path, 'nope'));
    expect(e.code).toBe('unknown_profile');
    expect(e.message).toBe(`there is no profile "nope" in ${path}`);
    expect(e.hint).toBe('Choose one of: acme, ci, gh.');
    expect(readFileSync(path, 'utf8')).toBe(DESIGN_EXAMPLE);
  });

  it('authd use without a config file creates nothing', () => {
    const path = join(dir, 'config.toml');
    const e = thrown(() => setDefaultProfile(path, 'acme'));
    expect(e.code).toBe('config_error');
    expect(e.message).toBe(`no profiles are configured (${path} does not exist)`);
    expect(e.hint).toContain(path);
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('authd use on an invalid config reports the config error and changes nothing', () => {
    const path = join(dir, 'config.toml');
    const body = '[profiles.a]\nflow = "api_key"\nisser = "x"\n';
    writeFileSync(path, body);
    expect(thrown(() => setDefaultProfile(path, 'a')).code).toBe('config_error');
    expect(readFileSync(path, 'utf8')).toBe(body);
  });

  const SECTION = [{ comment: ['what it is', 'https://docs.example/page'] }, { comment: ['the client'], key: 'client_id', value: 'cli' },
    { comment: [], key: 'issuer', value: 'https://login.example' }];

  it('authd profile add appends the section after one blank line, keeping CRLF line endings and the file mode', () => {
    const path = join(dir, 'config.toml');
    const body = '# mine\r\n[profiles.a]\r\nflow = "api_key"\r\n';
    writeFileSync(path, body);
    chmodSync(path, 0o640);
    const { created, section } = addProfile(path, 'new.one', SECTION, false);
    expect(created).toBe(false);
    expect(section).toBe('[profiles."new.one"]\r\n# what it is\r\n# https://docs.example/page\r\n# the client\r\nclient_id = "cli"\r\nissuer = "https://login.example"\r\n');
    expect(readFileSync(path, 'utf8')).toBe(`${body}\r\n${section}`);
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(loadConfig(path).profiles.get('new.one')).toMatchObject({ client_id: 'cli', issuer: 'https://login.example' });
  });

  it('authd profile add to a file without a final newline separates the section by a blank line', () => {
    const path = join(dir, 'config.toml');
    writeFileSync(path, '[profiles.a]\nflow = "api_key"');
    addProfile(path, 'b', SECTION, false);
    expect(readFileSync(path, 'utf8')).toMatch(/^\[profiles\.a\]\nflow = "api_key"\n\n\[profiles\.b\]\n/);
  });

  it('authd profile remove takes a section out of the middle, leaving the comments that lead into the next table', () => {
    const path = join(dir, 'config.toml');
    const keep = '# top\n\n[profiles.a]\nflow = "api_key"\n';
    const rest = '\n# the CI bot\n[profiles.ci]   # service\nflow = "api_key"\n';
    writeFileSync(path, `${keep}\n[profiles.b]\nflow = "api_key"\n#scopes = ["x"]\n${rest}`);
    expect(removeProfile(path, 'b')).toEqual({ defaultCleared: false });
    expect(readFileSync(path, 'utf8')).toBe(`${keep}${rest}`);
  });

  it('authd profile remove of the first table takes the blank lines after it too', () => {
    const path = join(dir, 'config.toml');
    writeFileSync(path, '[profiles.a]\nflow = "api_key"\n\n\n# b\n[profiles.b]\nflow = "api_key"\n');
    removeProfile(path, 'a');
    expect(readFileSync(path, 'utf8')).toBe('# b\n[profiles.b]\nflow = "api_key"\n');
  });

  it('authd profile remove refuses a profile written as an inline table, and changes nothing', () => {
    const path = join(dir, 'config.toml');
    const body = '[profiles]\na = { flow = "api_key" }\nb = { flow = "api_key" }\n';
    writeFileSync(path, body);
    const e = thrown(() => removeProfile(path, 'a'));
    expect(e.message).toBe(`profile a is not written as a [profiles.a] table in ${path}, so authd cannot tell its lines apart`);
    expect(readFileSync(path, 'utf8')).toBe(body);
  });
});
