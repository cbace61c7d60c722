// Logging in by device flow, and what a user sees around it.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { approveDeviceCode, denyDeviceCode, type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { AUTHD, devProfile, findLeaks, Home, readEvents } from './support/harness.js';

let idp: Idp;
let home: Home;

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 30 });
  home = new Home();
  home.writeConfig({ acme: devProfile(idp), other: devProfile(idp) }, { default_profile: 'acme' });
});

afterAll(async () => {
  const leaks = findLeaks(idp, { log: home.stateFilesText(), stderr: home.stderrs.join('\n') });
  await home?.dispose();
  await idp?.close();
  expect(leaks).toEqual([]);
});

test('get-token before any login exits 3 and says how to log in', async () => {
  const r = await home.run(['get-token']);
  expect(r.code).toBe(3);
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain('authd login -p acme');
});

test('login --json prints the device code, then who logged in; get-token then prints an active token', async () => {
  const child = spawn(AUTHD, ['login', '--json'], { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const events = await readEvents(child, async (ev) => {
    if (ev.event === 'device_code') await approveDeviceCode(String(ev.verification_uri_complete));
  });
  expect(events.map((e) => e.event)).toEqual(['device_code', 'logged_in']);
  expect(events[0]).toMatchObject({ profile: 'acme', user_code: expect.any(String), verification_uri: expect.stringContaining(idp.issuer) });
  expect(events[1]).toEqual({ event: 'logged_in', profile: 'acme', subject: 'alice' });

  const r = await home.run(['get-token']);
  expect(r.code).toBe(0);
  expect(r.stderr).toBe('');
  const token = r.stdout.trim();
  expect(r.stdout).toBe(`${token}\n`);
  expect((await idp.introspect(token)).active).toBe(true);
});

test('a human login shows the URL and code on stderr, nothing on stdout', async () => {
  const child = spawn(AUTHD, ['login', '-p', 'other'], { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  const approved = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /open (http\S+user_code=\S+)/.exec(stderr);
      if (m && !stderr.includes('\u0001')) {
        stderr += '\u0001';
        approveDeviceCode(m[1]!).then(resolve, reject);
      }
    });
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  await approved;
  expect(code).toBe(0);
  expect(stdout).toBe('');
  expect(stderr).toMatch(/one-time code: [A-Z]{4}-[A-Z]{4}/);
  expect(stderr).toContain(`${idp.issuer}/device`);
  expect(stderr).toContain('Logged in to other as alice');
  home.stderrs.push(stderr);
});

test('a login denied at the provider exits 3 with a clear message', async () => {
  home.writeConfig({ acme: devProfile(idp), other: devProfile(idp), denied: devProfile(idp) }, { default_profile: 'acme' });
  const child = spawn(AUTHD, ['login', '--json', '-p', 'denied'], { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const failure = await readEvents(child, async (ev) => {
    if (ev.event === 'device_code') await denyDeviceCode(String(ev.verification_uri_complete));
  }).then(() => 'exit 0', (err: Error) => err.message);
  expect(failure).toMatch(/^exit 3: authd: the login was denied at the provider/);
});

test('status shows who is logged in and the token masked, never the token itself', async () => {
  const token = (await home.run(['get-token'])).stdout.trim();
  const r = await home.run(['status']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/\*\s+acme\s+device\s+logged in\s+alice/);
  expect(r.stdout).toContain(`${token.slice(0, 4)}…${token.slice(-4)}`);
  expect(r.stdout).not.toContain(token);
  const json = JSON.parse((await home.run(['status', '--json'])).stdout) as { profiles: { profile: string; logged_in: boolean }[] };
  expect(json.profiles.find((p) => p.profile === 'acme')?.logged_in).toBe(true);
  expect(JSON.stringify(json)).not.toContain(token);
});

test('profiles lists every profile and use switches the default', async () => {
  const list = await home.run(['profiles']);
  expect(list.stdout).toMatch(/\*\s+acme/);
  expect(list.stdout).toMatch(/\n\s+other\s+device/);
  const use = await home.run(['use', 'other']);
  expect(use.code).toBe(0);
  expect(use.stderr).toContain('Default profile is now other');
  expect((await home.run(['profiles'])).stdout).toMatch(/\*\s+other/);
  const missing = await home.run(['use', 'nope']);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('nope');
  await home.run(['use', 'acme']);
});

test('AUTHD_PROFILE picks the profile when -p is not given', async () => {
  const r = await home.run(['get-token', '--format', 'json'], { env: { AUTHD_PROFILE: 'other' } });
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ profile: 'other' });
});

test('the Node SDK gets a token over one persistent connection', async () => {
  const script = `
    const { AuthdClient } = require(${JSON.stringify(`${process.cwd()}/dist/sdk.cjs`)});
    const c = new AuthdClient();
    (async () => {
      const a = await c.getToken();
      const b = await c.getToken({ profile: 'other' });
      process.stdout.write(JSON.stringify({ a: a.profile, b: b.profile, same: a.access_token === b.access_token }));
      c.close();
    })().catch((e) => { process.stderr.write(e.code + ' ' + e.message); process.exit(1); });`;
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script], { env: home.env });
    let s = '';
    child.stdout.on('data', (d: Buffer) => {
      s += d.toString();
    });
    child.on('close', (code) => (code === 0 ? resolve(s) : reject(new Error(`sdk exited ${code}`)))); // after the last of stdout
  });
  expect(JSON.parse(out)).toEqual({ a: 'acme', b: 'other', same: false });
});

test('--help for every command and --version exit 0 and need no daemon', async () => {
  for (const cmd of ['login', 'get-token', 'exec', 'status', 'logout', 'profiles', 'use', 'daemon', 'doctor']) {
    const r = await home.run([cmd, '--help'], { env: { AUTHD_NO_AUTOSTART: '1', AUTHD_SOCKET: '/nonexistent/authd.sock' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`authd ${cmd}`);
  }
  const v = await home.run(['--version']);
  expect(v.stdout).toMatch(/^authd \d+\.\d+\.\d+\n$/);
});

test('doctor reports the daemon, store, config and that the provider answers', async () => {
  const r = await home.run(['doctor']);
  expect(r.code).toBe(0);
  // No keychain on this test's D-Bus-less environment: auto says so, and keeps to the file store.
  expect(r.stdout).toMatch(/[✓!] store: file \(/);
  expect(r.stdout).toContain('✓ profile acme: provider reachable');
});

test('no socket method ever returns the refresh token', async () => {
  const rt = home.storedSession('acme')?.refresh_token;
  expect(rt).toBeTypeOf('string');
  const { connect } = await import('node:net');
  const socket = connect(home.socket);
  const methods = ['ping', 'getToken', 'status', 'profiles', 'doctor', 'loginWait'];
  const frames = methods.map((method, id) => JSON.stringify({ v: 1, id, method, params: method === 'getToken' ? { minTtl: 0 } : {} }));
  socket.write(`${frames.join('\n')}\n`);
  let answers = '';
  await new Promise<void>((resolve) => {
    socket.on('data', (d: Buffer) => {
      answers += d.toString();
      if (answers.split('\n').length > methods.length) resolve();
    });
  });
  socket.destroy();
  expect(answers.trim().split('\n')).toHaveLength(methods.length);
  expect(answers).toContain('"access_token"');
  expect(answers).not.toContain(rt as string);
});

/** The first `--json` event of a login that is left waiting. */
function firstEvent(child: ReturnType<typeof spawn>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl !== -1) resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
    });
    child.on('exit', (code) => reject(new Error(`login exited ${code} before showing a code`)));
  });
}

async function loginPending(profile: string): Promise<boolean> {
  const r = await home.run(['status', '--json']);
  const s = JSON.parse(r.stdout) as { profiles: { profile: string; login_pending: boolean; logged_in: boolean }[] };
  return s.profiles.find((p) => p.profile === profile)!.login_pending;
}

test('Ctrl-C on every waiting login cancels it: a later approval stores nothing, and the next login gets a new code', async () => {
  home.writeConfig({ acme: devProfile(idp), other: devProfile(idp), fresh: devProfile(idp) }, { default_profile: 'acme' });
  const first = spawn(AUTHD, ['login', '--json', '-p', 'fresh'], { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const code = await firstEvent(first);
  await new Promise((r) => setTimeout(r, 1100));
  const second = spawn(AUTHD, ['login', '--json', '-p', 'fresh'], { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const joined = await firstEvent(second);
  // The joined login shows the same code and the time actually left, not the original 600 s.
  expect(joined).toMatchObject({ joined: true, user_code: code.user_code });
  expect(Number(joined.expires_in)).toBeLessThan(Number(code.expires_in));

  first.kill('SIGINT');
  expect(await loginPending('fresh')).toBe(true); // one client still waits
  second.kill('SIGINT');
  const deadline = Date.now() + 5000;
  while (await loginPending('fresh')) {
    expect(Date.now()).toBeLessThan(deadline);
    await new Promise((r) => setTimeout(r, 50));
  }

  // The user approves the abandoned code afterwards: nobody is polling it, nothing is stored.
  await approveDeviceCode(String(code.verification_uri_complete));
  await new Promise((r) => setTimeout(r, 300));
  expect((await home.run(['get-token', '-p', 'fresh'])).code).toBe(3);

  const third = spawn(AUTHD, ['login', '--json', '-p', 'fresh'], { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const fresh = await firstEvent(third);
  expect(fresh).toMatchObject({ joined: false });
  expect(fresh.user_code).not.toBe(code.user_code);
  third.kill('SIGINT');
});
