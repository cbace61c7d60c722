// `authd doctor` against the real binary and a real provider: every profile, whether it can get a
// token (or is logged out, or refused by the provider), and a report even when the daemon cannot start.
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import { startIdp } from '../scripts/dev-idp.mjs';
import { devProfile, Home } from './support/harness.js';

interface JsonCheck {
  name: string;
  status: 'ok' | 'warning' | 'failed';
  detail: string;
  fix: string | null;
}

async function provider() {
  const idp = await startIdp({ accessTokenTtl: 600 });
  const home = new Home();
  onTestFinished(async () => {
    await home.dispose();
    await idp.close();
  });
  return { idp, home };
}

/** The line a check prints, and its fix line, if any. */
function lines(stdout: string, name: string): string[] {
  const all = stdout.split('\n');
  const i = all.findIndex((l) => l.slice(2).startsWith(`${name}: `));
  if (i === -1) return [];
  return all[i + 1]?.startsWith('    fix: ') ? [all[i]!, all[i + 1]!] : [all[i]!];
}

test('doctor lists every profile: who is logged in, a logged-out one with how to log in, a client the provider refuses with the fix', async () => {
  const { idp, home } = await provider();
  const service = (extra = {}) => ({ issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', scopes: ['api:read'], ...extra });
  home.writeConfig({
    acme: devProfile(idp),
    beta: devProfile(idp),
    ci: service(),
    good: service(),
    key: { flow: 'api_key', client_id: '' },
  }, { default_profile: 'acme' });
  await home.login('acme');
  expect((await home.run(['secret', 'set', 'ci'], { input: 'not-the-svc-secret' })).code).toBe(0);
  expect((await home.run(['secret', 'set', 'good'], { input: 'svc-secret' })).code).toBe(0);

  const r = await home.run(['doctor']);
  expect(r.code).toBe(1);
  expect(lines(r.stdout, 'profile acme login')[0]).toMatch(/^✓ profile acme login: logged in as alice \(token valid for 10m\)$/);
  expect(lines(r.stdout, 'profile beta login')).toEqual(['! profile beta login: logged out', '    fix: run `authd login -p beta`']);
  const [refused, fix] = lines(r.stdout, 'profile ci login');
  expect(refused).toMatch(/^✗ profile ci login: the provider refused the client credentials of profile ci \(HTTP 401 invalid_client from http:\/\/127\.0\.0\.1:\d+\/token/);
  expect(fix).toBe('    fix: check client_id and the client secret of profile ci (`authd secret set ci`)');
  expect(lines(r.stdout, 'profile good login')).toEqual(['✓ profile good login: the provider issues tokens to client svc (token valid for 10m)']);
  expect(lines(r.stdout, 'profile key login')).toEqual([
    '! profile key login: logged out: no API key is set', '    fix: run `authd secret set key < key-file`',
  ]);
  // In the config's order, each profile's provider, then its stored secret's age, then its login.
  const names = r.stdout.split('\n').filter((l) => /^. profile /.test(l)).map((l) => l.slice(2, l.indexOf(':')));
  expect(names).toEqual(['profile acme', 'profile acme login', 'profile beta', 'profile beta login', 'profile ci', 'profile ci secret',
    'profile ci login', 'profile good', 'profile good secret', 'profile good login', 'profile key login']);
  expect(lines(r.stdout, 'profile good secret')).toEqual(['✓ profile good secret: client secret set just now']);

  const json = JSON.parse((await home.run(['doctor', '--json'])).stdout) as { ok: boolean; checks: JsonCheck[] };
  expect(json.ok).toBe(false);
  expect(json.checks.find((c) => c.name === 'profile beta login')).toEqual({
    name: 'profile beta login', status: 'warning', detail: 'logged out', fix: 'run `authd login -p beta`',
  });
  expect(json.checks.find((c) => c.name === 'profile ci login')).toMatchObject({ status: 'failed', fix: expect.stringContaining('authd secret set ci') });

  // Fixed: the right secret, and doctor passes (logged-out profiles are warnings, not failures).
  expect((await home.run(['secret', 'set', 'ci'], { input: 'svc-secret' })).code).toBe(0);
  const fixed = await home.run(['doctor']);
  expect(fixed.code).toBe(0);
  expect(lines(fixed.stdout, 'profile ci login')).toEqual(['✓ profile ci login: the provider issues tokens to client svc (token valid for 10m)']);
});

test('doctor says a client_credentials secret from the environment is not checked until the daemon has it', async () => {
  const { idp, home } = await provider();
  home.writeConfig({ ci: { issuer: idp.issuer, client_id: 'svc', flow: 'client_credentials', client_secret_env: 'SVC_SECRET' } });
  const r = await home.run(['doctor']);
  expect(r.code).toBe(0);
  expect(lines(r.stdout, 'profile ci login')).toEqual([
    '! profile ci login: not checked: profile ci needs its client secret from $SVC_SECRET, and this daemon has not been given it',
    '    fix: run `authd login -p ci` with SVC_SECRET set, or store the secret with `authd secret set ci`',
  ]);
  expect(idp.stats.clientCredentials).toBe(0);
});

test('when the daemon cannot start, doctor still reports: the directory at fault with its fix, and that the daemon did not start; exit 1', async () => {
  const home = new Home();
  onTestFinished(() => home.dispose());
  home.writeConfig({});
  const state = join(home.dir, 'state');
  mkdirSync(state);
  chmodSync(state, 0o755);

  const r = await home.run(['doctor']);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe('');
  expect(lines(r.stdout, 'config')).toEqual([`✓ config: ${join(home.dir, 'config.toml')} exists, and only you can change it`]);
  expect(lines(r.stdout, 'state directory')).toEqual([
    `✗ state directory: The state directory ${state} has mode 0755; it must not be accessible by group or others.`,
    `    fix: run \`chmod 700 ${state}\``,
  ]);
  expect(lines(r.stdout, 'daemon')).toEqual([
    '✗ daemon: could not start because of the state directory (above)', `    fix: run \`chmod 700 ${state}\``,
  ]);

  const json = JSON.parse((await home.run(['doctor', '--json'])).stdout) as { ok: boolean; checks: JsonCheck[] };
  expect(json.ok).toBe(false);
  expect(json.checks.map((c) => `${c.name} ${c.status}`)).toEqual([
    'config ok', 'state directory failed', 'socket directory ok', 'credentials file ok', 'daemon failed', 'fast path ok',
  ]);

  // The fix works: doctor then reaches the daemon it starts.
  chmodSync(state, 0o700);
  const fixed = await home.run(['doctor']);
  expect(fixed.stdout).toMatch(/^✓ daemon: running, pid \d+/);
});

test('a daemon that fails for a reason the client cannot see itself: doctor passes on what the daemon said', async () => {
  const home = new Home();
  onTestFinished(() => home.dispose());
  const r = await home.run(['doctor'], { env: { AUTHD_STORE: 'vault' } });
  expect(r.code).toBe(1);
  expect(lines(r.stdout, 'config')).toEqual([
    `✗ config: ${join(home.dir, 'config.toml')} does not exist`, '    fix: create it with at least one [profiles.NAME] table (see the README)',
  ]);
  expect(lines(r.stdout, 'daemon')).toEqual([
    '✗ daemon: could not start: AUTHD_STORE names an unknown store "vault"', '    fix: use auto, keyring, file or memory',
  ]);
});

test('without a keychain, status says so in one line and doctor gives the reason and the fix', async () => {
  const home = new Home();
  onTestFinished(() => home.dispose());
  home.writeConfig({});
  const noBus = { env: { DBUS_SESSION_BUS_ADDRESS: '' } };
  const status = await home.run(['status'], noBus);
  expect(status.code).toBe(0);
  expect(status.stdout.split('\n').filter((l) => l.startsWith('warning'))).toEqual([
    'warning  no keychain: secrets are in a 0600 file (see `authd doctor`)',
  ]);
  const doctor = await home.run(['doctor'], noBus);
  const credentials = join(home.stateDir, 'credentials.json');
  expect(lines(doctor.stdout, 'store')[0]).toBe(
    `! store: file (${credentials}): No usable keychain was found, so authd keeps its secrets in the file ${credentials}: `
    + 'The Secret Service keychain is unavailable: DBUS_SESSION_BUS_ADDRESS is empty, so there is no D-Bus session bus. '
    + 'To use the keychain, run authd in a desktop session, or on a machine without one under `dbus-run-session` with gnome-keyring started unlocked '
    + '(`printf %s "$PASSWORD" | gnome-keyring-daemon --unlock --components=secrets`); to silence this, set store = "file".');
});

test('doctor says which client answers get-token and git: the native one, Node with AUTHD_NATIVE=0, Node only (with the fix) where it was not built', async () => {
  const { idp, home } = await provider();
  home.writeConfig({ acme: devProfile(idp) });
  const native = await home.run(['doctor'], { env: { AUTHD_NATIVE: '' } }); // as in a run of the suite with AUTHD_NATIVE=0
  expect(lines(native.stdout, 'fast path')).toEqual([expect.stringMatching(/^✓ fast path: native: get-token and git's get answer in C \(.*dist\/authd-native\)/)]);
  const off = await home.run(['doctor'], { env: { AUTHD_NATIVE: '0' } });
  expect(lines(off.stdout, 'fast path')).toEqual([expect.stringMatching(/^✓ fast path: Node: AUTHD_NATIVE=0 is set/)]);

  // An installation built without a C compiler: bin/ and dist/ without dist/authd-native.
  const copy = mkdtempSync(join(tmpdir(), 'authd-nocc.'));
  onTestFinished(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(join(__dirname, '../bin'), join(copy, 'bin'), { recursive: true });
  cpSync(join(__dirname, '../dist'), join(copy, 'dist'), { recursive: true, filter: (src) => !src.endsWith('authd-native') });
  const r = await home.run(['doctor', '--json'], { bin: join(copy, 'bin', 'authd') });
  const check = (JSON.parse(r.stdout) as { checks: JsonCheck[] }).checks.find((c) => c.name === 'fast path');
  expect(check).toEqual({ name: 'fast path', status: 'warning', detail: expect.stringMatching(/^Node only: .*authd-native was not built/),
    fix: expect.stringContaining('install a C compiler') });
});
