// Long-lived secrets show their age (issue 15, part 4): an API key or client secret set with `authd
// secret set` records when; past the profile's max_age get-token warns on stderr once a day (the
// daemon remembers), status and doctor say so each time; past its --expires date it is refused with
// the command that rotates it. The real daemon runs under libfaketime, its clock moved days ahead
// through a timestamp file while it runs; the clients, and the provider, keep the real time.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import type { AuthdClient as SdkClient } from '../src/client/sdk.js';
import type { ProfileConfig } from '../src/daemon/config/index.js';
import { ageWarning } from '../src/daemon/secret-age.js';
import { Home, type Result } from './support/harness.js';

const { AuthdClient } = createRequire(import.meta.url)('../dist/sdk.cjs') as { AuthdClient: typeof SdkClient };
const GIT_HELPER = resolve(__dirname, '../bin/git-credential-authd');

const KEY = 'sk_live_0123456789abcdef9f3a';
const KEY_2 = 'sk_live_fedcba98765432107777';
const DAY = 86_400_000;

/** libfaketime, as Debian's faketime package installs it. */
function libfaketime(): string {
  for (const dir of readdirSync('/usr/lib').map((d) => join('/usr/lib', d, 'faketime'))) {
    const lib = join(dir, 'libfaketime.so.1');
    if (existsSync(lib)) return lib;
  }
  throw new Error('libfaketime is not installed (apt-get install faketime; .ci/run does)');
}

/** A date in the real calendar, `days` from now, as --expires takes it (YYYY-MM-DD: from 00:00 UTC). */
function dateIn(days: number): string {
  return new Date(Date.now() + days * DAY).toISOString().slice(0, 10);
}

function warning(text: string): string {
  return `authd: warning: ${text}\n`;
}

describe('against a daemon whose clock moves ahead', () => {
  let idp: Idp;
  let home: Home;
  let daemon: ChildProcess;
  const clockFile = () => join(home.dir, 'faketime');
  /** The daemon's clock, this far ahead of the real one (libfaketime reads the file at every call). */
  const clock = (offset: string) => writeFileSync(clockFile(), `${offset}\n`);
  const getToken = (profile: string, extra: string[] = [], env: Record<string, string> = {}) =>
    home.run(['get-token', '-p', profile, ...extra], { env });

  beforeAll(async () => {
    idp = await startIdp({ accessTokenTtl: 3600 });
    home = new Home('authd-sa.');
    home.writeConfig({
      key: { flow: 'api_key', max_age: '90d', git_hosts: ['api.example.com'] },
      ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', scopes: ['api:read'], max_age: '2w' },
      exp: { flow: 'api_key' },
      soon: { flow: 'api_key' },
    });
    clock('+0');
    // Started directly: `authd daemon run` gives the daemon only the environment it needs (no LD_PRELOAD).
    daemon = spawn(process.execPath, [resolve(__dirname, '../dist/daemon.mjs'), 'run'], {
      env: { ...home.env, LD_PRELOAD: libfaketime(), FAKETIME_TIMESTAMP_FILE: clockFile(), FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    await new Promise<void>((ready) => daemon.stderr!.on('data', (d: Buffer) => d.toString().includes('listening') && ready()));
  });

  afterAll(async () => {
    await home?.dispose();
    daemon?.kill('SIGKILL');
    await idp?.close();
  });

  test('a key older than max_age warns once on get-token, not on the next get-token that day, again the next day', async () => {
    clock('+0');
    expect((await home.run(['secret', 'set', 'key'], { input: `${KEY}\n` })).code).toBe(0);
    expect(await getToken('key')).toEqual({ code: 0, stdout: `${KEY}\n`, stderr: '' });

    clock('+91d');
    const old = warning('the API key of profile key was set 91 days ago, longer than its max_age of 90d: rotate it with `authd secret set key`');
    expect(await getToken('key')).toEqual({ code: 0, stdout: `${KEY}\n`, stderr: old });
    // The same day: quiet, in every format, from either client.
    expect(await getToken('key')).toEqual({ code: 0, stdout: `${KEY}\n`, stderr: '' });
    expect((await getToken('key', ['--format', 'json'], { AUTHD_NATIVE: '0' })).stderr).toBe('');
    clock('+2207h'); // 91 days and 23 hours
    expect(await getToken('key', ['--format', 'header'])).toEqual({ code: 0, stdout: `Authorization: Bearer ${KEY}\n`, stderr: '' });

    // The next day, again: the Node client prints the same line the native client did.
    clock('+2209h'); // 92 days and 1 hour
    const older = warning('the API key of profile key was set 92 days ago, longer than its max_age of 90d: rotate it with `authd secret set key`');
    expect(await getToken('key', [], { AUTHD_NATIVE: '0' })).toEqual({ code: 0, stdout: `${KEY}\n`, stderr: older });
    expect((await getToken('key')).stderr).toBe('');

    // The SDK returns it in its result (and prints nothing); git shows it beside the credential.
    clock('+2234h'); // 93 days and 2 hours
    const sdk = new AuthdClient({ env: home.env, autostart: false });
    try {
      const first = await sdk.getToken({ profile: 'key' });
      expect(first).toMatchObject({ access_token: KEY, warning: expect.stringContaining('set 93 days ago, longer than its max_age of 90d') });
      expect((await sdk.getToken({ profile: 'key' })).warning).toBeUndefined();
    } finally {
      sdk.close();
    }
    clock('+2259h'); // 94 days and 3 hours
    const git = await new Promise<Result>((done) => {
      const child = spawn(GIT_HELPER, ['get'], { env: home.env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d; });
      child.stderr.on('data', (d: Buffer) => { stderr += d; });
      child.on('close', (code) => done({ code: code ?? 1, stdout, stderr }));
      child.stdin.end('protocol=https\nhost=api.example.com\n\n');
    });
    expect(git.code).toBe(0);
    expect(git.stdout).toBe(`username=oauth2\npassword=${KEY}\n`);
    expect(git.stderr).toBe(warning('the API key of profile key was set 94 days ago, longer than its max_age of 90d: rotate it with `authd secret set key`'));

    // Not a word of the key itself, anywhere.
    expect(home.stderrs.join('\n')).not.toContain(KEY);
    expect(home.stateFilesText()).not.toContain(KEY);
  });

  test('status and doctor show the age each time, and warn', async () => {
    clock('+2259h');
    for (let i = 0; i < 2; i++) {
      const s = await home.run(['status']);
      expect(s.code).toBe(0);
      expect(s.stdout).toMatch(/^STORED SECRET +PROFILE +SET +EXPIRES +MAX AGE\n +key +94d ago +- +90d\n/m);
      expect(s.stderr).toBe(warning('the API key of profile key was set 94 days ago, longer than its max_age of 90d: rotate it with `authd secret set key`'));
    }
    const json = JSON.parse((await home.run(['status', '--json'])).stdout) as { profiles: { profile: string; secret: Record<string, unknown> | null }[] };
    const key = json.profiles.find((p) => p.profile === 'key')!.secret!;
    expect(key).toMatchObject({ max_age: '90d', expired: false, expires_at: null, warning: expect.stringContaining('rotate it with `authd secret set key`') });
    expect(key.age_seconds as number).toBeGreaterThanOrEqual(94 * 86_400);
    expect(key.age_seconds as number).toBeLessThan(95 * 86_400);
    expect(json.profiles.find((p) => p.profile === 'exp')!.secret).toBeNull(); // nothing stored

    const d = await home.run(['doctor']);
    expect(d.stdout).toContain('! profile key secret: the API key of profile key was set 94 days ago, longer than its max_age of 90d: rotate it with `authd secret set key`\n'
      + '    fix: run `authd secret set key` with the new one on stdin\n');
    // A warning, not a failure: get-token still serves it.
    expect(d.stdout).toContain('✓ profile key login: API key set');
    expect(d.stdout).not.toContain(KEY);

    // get-token's once a day is its own: status and doctor did not use it up, nor it theirs.
    clock('+2284h'); // 95 days and 4 hours
    expect((await getToken('key')).stderr).toMatch(/^authd: warning: the API key of profile key was set 95 days ago/);
  });

  test('a client secret past max_age warns in its own words, and keeps getting tokens from the provider', async () => {
    clock('+0');
    expect((await home.run(['secret', 'set', 'ci'], { input: 'svc-secret' })).code).toBe(0);
    const fresh = await getToken('ci');
    expect(fresh.stderr).toBe('');
    expect(fresh.code).toBe(0);
    clock('+15d');
    const r = await getToken('ci', ['--min-ttl', '3600']); // a token the provider issues now
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(warning('the client secret of profile ci was set 15 days ago, longer than its max_age of 2w: rotate it with `authd secret set ci`'));
    expect(await idp.introspect(r.stdout.trim())).toMatchObject({ active: true, client_id: 'svc' });
    expect(home.stderrs.join('\n')).not.toContain('svc-secret');
  });

  test('a key past its --expires date is refused with the command that rotates it; setting it again clears that', async () => {
    clock('+0');
    const until = dateIn(30);
    const set = await home.run(['secret', 'set', 'exp', '--expires', until], { input: KEY });
    expect(set).toMatchObject({ code: 0, stderr: `✓ Stored the secret for profile exp, valid until ${until}T00:00:00Z\n` });
    expect(await getToken('exp')).toEqual({ code: 0, stdout: `${KEY}\n`, stderr: '' });
    const before = await home.run(['status']);
    expect(before.stdout).toMatch(/^ +exp +just now +in (29|30)d +-\n/m);
    expect(before.stderr).toBe('');

    clock('+31d'); // the key the daemon has in memory is refused all the same
    for (const env of [{}, { AUTHD_NATIVE: '0' }] as Record<string, string>[]) {
      const r = await getToken('exp', [], env);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^authd: the API key of profile exp expired (\\d+ hours|1 day) ago \\(${until}T00:00:00Z\\)\n`
        + '  rotate it with `authd secret set exp` \\(it reads the new one from stdin\\)\n$'));
    }
    // Nor does `authd login` call it verified.
    const login = await home.run(['login', '-p', 'exp']);
    expect(login.code).toBe(3);
    expect(login.stderr).toMatch(/^authd: the API key of profile exp expired .*\n {2}rotate it with `authd secret set exp`/);
    const s = await home.run(['status']);
    expect(s.stdout).toMatch(/^ +exp +31d ago +expired +-\n/m);
    expect(s.stderr).toMatch(/^authd: warning: the API key of profile exp expired .* ago \(.*\): rotate it with `authd secret set exp`\n/m);
    const d = await home.run(['doctor']);
    expect(d.code).toBe(1);
    expect(d.stdout).toMatch(/^✗ profile exp secret: the API key of profile exp expired .*\n {4}fix: run `authd secret set exp` with the new one on stdin\n/m);

    // A new key, without --expires: served, no expiry, no warning.
    const again = await home.run(['secret', 'set', 'exp'], { input: KEY_2 });
    expect(again.stderr).toBe('✓ Stored the secret for profile exp (replacing the previous one)\n');
    expect(await getToken('exp')).toEqual({ code: 0, stdout: `${KEY_2}\n`, stderr: '' });
    expect((await home.run(['status'])).stdout).toMatch(/^ +exp +just now +- +-\n/m);
  });

  test('a key within a week of its --expires date warns on get-token once a day, and status and doctor say when it expires', async () => {
    clock('+0');
    const until = dateIn(30);
    expect((await home.run(['secret', 'set', 'soon', '--expires', until], { input: KEY })).code).toBe(0);
    clock('+22d'); // 7 to 8 days left: not yet
    expect(await getToken('soon')).toEqual({ code: 0, stdout: `${KEY}\n`, stderr: '' });
    clock('+24d'); // 5 to 6 days left
    const soon = new RegExp(`^authd: warning: the API key of profile soon expires in [56] days \\(${until}T00:00:00Z\\): rotate it with \`authd secret set soon\`\n$`);
    const first = await getToken('soon');
    expect(first.stdout).toBe(`${KEY}\n`);
    expect(first.stderr).toMatch(soon);
    expect(await getToken('soon', [], { AUTHD_NATIVE: '0' })).toEqual({ code: 0, stdout: `${KEY}\n`, stderr: '' }); // once a day
    clock('+25d');
    const nextDay = await getToken('soon', [], { AUTHD_NATIVE: '0' });
    expect(nextDay.stderr).toMatch(/^authd: warning: the API key of profile soon expires in [45] days /);
    expect((await home.run(['status'])).stderr).toMatch(/^authd: warning: the API key of profile soon expires in [45] days /m);
    expect((await home.run(['doctor'])).stdout).toMatch(/^! profile soon secret: the API key of profile soon expires in [45] days .*\n {4}fix: run `authd secret set soon` with the new one on stdin\n/m);
  });

  test('a malformed or past --expires is a usage error, and the secret is not stored', async () => {
    clock('+0');
    for (const bad of ['2030-02-30', '2030-13-01', 'tomorrow', '2030-06-30T10:00', '2030-06-30 10:00Z', '30-06-2030', '2030-06-30T24:00Z']) {
      const r = await home.run(['secret', 'set', 'exp', '--expires', bad], { input: KEY });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`authd: --expires ${JSON.stringify(bad)} is not a date authd reads: give YYYY-MM-DD (from 00:00 UTC that day) or YYYY-MM-DDTHH:MM[:SS] followed by Z or an offset`);
    }
    const past = await home.run(['secret', 'set', 'exp', '--expires', '2021-03-04T05:06:07+02:00'], { input: KEY });
    expect(past).toMatchObject({ code: 2, stderr: expect.stringContaining("authd: --expires 2021-03-04T03:06:07Z is not in the future (by this daemon's clock); the secret was not stored") });
    expect((await getToken('exp')).stdout).toBe(`${KEY_2}\n`);
    // The forms it takes: a date, a date-time in UTC or with an offset.
    for (const [given, stored] of [['2031-01-02T03:04Z', '2031-01-02T03:04:00Z'], ['2031-01-02T03:04:05-01:30', '2031-01-02T04:34:05Z']]) {
      const r = await home.run(['secret', 'set', 'exp', '--expires', given!], { input: KEY_2 });
      expect(r.stderr).toContain(`valid until ${stored}`);
    }
  });
});

describe('a daemon at the real time', () => {
  let home: Home;

  beforeAll(() => {
    home = new Home('authd-sb.');
  });

  afterAll(async () => {
    await home?.dispose();
  });

  test('a secret stored before authd kept its date works, and is "set at an unknown time"', async () => {
    home.writeConfig({ old: { flow: 'api_key', max_age: '90d' }, plain: { flow: 'api_key' } });
    // As an older authd might have left it: no stored_at.
    const entries = { 'secret:old': { v: 1, secret: KEY }, 'secret:plain': { v: 1, secret: KEY_2 } };
    mkdirSync(home.stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(home.stateDir, 'credentials.json'), `${JSON.stringify({ v: 1, entries })}\n`, { mode: 0o600 });
    const env = { AUTHD_STORE: 'file' };

    const unknown = warning('the API key of profile old was set at an unknown time (before authd kept the date), so it may be older than its max_age of 90d: rotate it with `authd secret set old`');
    expect(await home.run(['get-token', '-p', 'old'], { env })).toEqual({ code: 0, stdout: `${KEY}\n`, stderr: unknown });
    expect(await home.run(['get-token', '-p', 'old'], { env })).toEqual({ code: 0, stdout: `${KEY}\n`, stderr: '' });
    // Without max_age there is nothing to warn about.
    expect(await home.run(['get-token', '-p', 'plain'], { env })).toEqual({ code: 0, stdout: `${KEY_2}\n`, stderr: '' });

    const s = await home.run(['status'], { env });
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/^ +old +at an unknown time +- +90d\n +plain +at an unknown time +- +-\n/m);
    expect(s.stderr).toBe(unknown);
    const d = await home.run(['doctor'], { env });
    expect(d.stdout).toContain('✓ profile plain secret: API key set at an unknown time\n');
    expect(d.stdout).toContain('! profile old secret: the API key of profile old was set at an unknown time');

    // Set again, it has a date.
    expect((await home.run(['secret', 'set', 'old'], { input: KEY, env })).code).toBe(0);
    expect(await home.run(['get-token', '-p', 'old'], { env })).toEqual({ code: 0, stdout: `${KEY}\n`, stderr: '' });
    expect((await home.run(['doctor'], { env })).stdout).toContain('✓ profile old secret: API key set just now (max_age 90d)\n');
  });

  const badConfigs: [string, Record<string, string | number>, RegExp][] = [
    ['a max_age in words', { flow: 'api_key', max_age: '3 months' },
      /^authd: .*config\.toml:4: profiles\.bad\.max_age must be an age such as "90d", "12h" or "2w": a whole number of hours \(h\), days \(d\) or weeks \(w\), at most 3650d \(got "3 months"\)\n {2}Write it as a quoted string, e\.g\. max_age = "90d"\.\n$/],
    ['a max_age without its unit', { flow: 'api_key', max_age: 90 }, /profiles\.bad\.max_age must be an age such as "90d".* \(got an integer\)/],
    ['a max_age of zero', { flow: 'api_key', max_age: '0d' }, /profiles\.bad\.max_age must be an age .* \(got "0d"\)/],
    ['a max_age over ten years', { flow: 'api_key', max_age: '3651d' }, /at most 3650d \(got "3651d"\)/],
    ['a max_age on a profile a person logs in to', { issuer: 'http://127.0.0.1:9/', client_id: 'x', flow: 'device', max_age: '90d' },
      /profiles\.bad\.max_age is the age of a secret stored with `authd secret set`; the device flow has none\n {2}Set it on a client_credentials or api_key profile, or remove it\.\n$/],
  ];
  for (const [name, profile, message] of badConfigs) {
    test(`${name} is a config error naming the line (exit 2)`, async () => {
      home.writeConfig({ bad: profile });
      const r = await home.run(['get-token', '-p', 'bad']);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
    });
  }
});

describe('how far ahead an expiry is warned about', () => {
  const p = { name: 'k', flow: 'api_key' } as ProfileConfig;
  const HOUR = 3600_000;

  test('a week ahead, or a quarter of the validity where that is shorter; with no date it was set, a week', () => {
    // Thirty days' validity: from seven days before.
    expect(ageWarning(p, { value: 'x', setAt: 0, expiresAt: 30 * DAY }, 23 * DAY - HOUR)).toBeUndefined();
    expect(ageWarning(p, { value: 'x', setAt: 0, expiresAt: 30 * DAY }, 23 * DAY + HOUR)).toBe(
      `the API key of profile k expires in 6 days (1970-01-31T00:00:00Z): rotate it with \`authd secret set k\``);
    // A day's validity: from six hours before, not from its first hour.
    expect(ageWarning(p, { value: 'x', setAt: 0, expiresAt: DAY }, HOUR)).toBeUndefined();
    expect(ageWarning(p, { value: 'x', setAt: 0, expiresAt: DAY }, 17 * HOUR)).toBeUndefined();
    expect(ageWarning(p, { value: 'x', setAt: 0, expiresAt: DAY }, 19 * HOUR)).toMatch(/ expires in 5 hours /);
    // Set before authd kept the date: a week.
    expect(ageWarning(p, { value: 'x', expiresAt: 30 * DAY }, 22 * DAY)).toBeUndefined();
    expect(ageWarning(p, { value: 'x', expiresAt: 30 * DAY }, 24 * DAY)).toMatch(/ expires in 6 days /);
    // Past it, the refusal speaks (expiredError), not this.
    expect(ageWarning(p, { value: 'x', setAt: 0, expiresAt: DAY }, DAY)).toBeUndefined();
  });

  test('close to its expiry and older than max_age at once: the expiry is said', () => {
    const aged = { ...p, max_age: { text: '2d', seconds: 2 * 86400 } } as ProfileConfig;
    expect(ageWarning(aged, { value: 'x', setAt: 0, expiresAt: 30 * DAY }, 29 * DAY)).toMatch(/ expires in 24 hours /);
    expect(ageWarning(aged, { value: 'x', setAt: 0, expiresAt: 30 * DAY }, 3 * DAY)).toMatch(/ longer than its max_age of 2d/);
  });
});
