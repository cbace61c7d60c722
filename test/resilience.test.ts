// What a user sees when things go wrong: the provider goes down or revokes the session, the user
// logs out, the daemon dies, two logins race. Each test has its own provider and its own home.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { approveDeviceCode, type Idp, type StartIdpOptions, startIdp } from '../scripts/dev-idp.mjs';
import { AUTHD, devProfile, findLeaks, Home, type ProfileSpec, readEvents, type Result, sleep } from './support/harness.js';
import type { OnFinished } from './support/provider-behaviour.js';

interface TokenJson {
  access_token: string;
  token_type: string;
  expires_at: number;
  profile: string;
}

interface StatusJson {
  daemon: { pid: number; socket: string };
  profiles: { profile: string; logged_in: boolean; login_pending: boolean; last_error?: string }[];
}

// Each test has its own provider and home, and most of them wait (for a token to expire, for a
// daemon to go): they run side by side, each cleaning up with its own context's onTestFinished.
async function setup(opts: StartIdpOptions, profiles: (idp: Idp) => Record<string, ProfileSpec>, finished: OnFinished): Promise<{ idp: Idp; home: Home }> {
  const idp = await startIdp(opts);
  const home = new Home();
  finished(async () => {
    await home.dispose();
    await idp.close();
  });
  home.writeConfig(profiles(idp), { default_profile: 'acme' });
  return { idp, home };
}

async function tokenJson(home: Home, args: string[] = []): Promise<TokenJson> {
  const r = await home.run(['get-token', '--format', 'json', ...args]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as TokenJson;
}

async function statusOf(home: Home, profile: string): Promise<StatusJson['profiles'][number]> {
  const r = await home.run(['status', '--json']);
  expect(r.code).toBe(0);
  const s = JSON.parse(r.stdout) as StatusJson;
  const p = s.profiles.find((x) => x.profile === profile);
  expect(p).toBeDefined();
  return p!;
}

/** Sleeps until `ms` (Unix ms). */
async function sleepUntil(ms: number): Promise<void> {
  const d = ms - Date.now();
  if (d > 0) await sleep(d);
}

/** A process that exited (a zombie waiting for its reaper counts as gone). */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (isRunning(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still running after ${ms} ms`);
    await sleep(20);
  }
}

/** One error sentence plus at most one line saying what to do; never a stack trace. */
function expectCleanError(r: Result): void {
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^authd: \S/);
  expect(lines.length).toBeLessThanOrEqual(2);
  expect(r.stderr).not.toMatch(/\n\s+at \S/);
  expect(r.stderr).not.toMatch(/Error:|TypeError|undefined/);
}

test.concurrent('while the provider is down a still-valid token is served; once it expires get-token exits 4; when the provider is back it recovers by itself', async ({ onTestFinished }) => {
  // 6 s tokens, refreshed when under 4 s are left: a token can be due for refresh yet still valid.
  const { idp, home } = await setup({ accessTokenTtl: 6 }, (i) => ({ acme: devProfile(i, { min_ttl: 4, refresh_ahead: false }) }), onTestFinished);
  await home.login();
  const first = await tokenJson(home);
  const before = { ...idp.stats };

  await idp.stop();
  // Due for refresh (under 4 s left) but not expired (expires_at is rounded down: over 2 s left).
  await sleepUntil(first.expires_at * 1000 - 2000);
  const served = await home.run(['get-token']);
  expect(served.stderr).toBe('');
  expect(served.code).toBe(0);
  expect(served.stdout.trim()).toBe(first.access_token);
  // …and it did try the provider: the failure is shown in status.
  expect((await statusOf(home, 'acme')).last_error).toBeTruthy();

  await sleepUntil(first.expires_at * 1000 + 1100);
  const down = await home.run(['get-token']);
  expect(down.code).toBe(4);
  expectCleanError(down);
  expect(down.stderr).toMatch(/provider/i);
  expect(down.stderr).not.toContain(first.access_token);

  await idp.start();
  let back: Result | undefined;
  const deadline = Date.now() + 10_000;
  for (;;) {
    back = await home.run(['get-token']);
    if (back.code === 0 || Date.now() > deadline) break;
    await sleep(250);
  }
  expect(back.code).toBe(0);
  const token = back.stdout.trim();
  expect(token).not.toBe(first.access_token);
  expect((await idp.introspect(token)).active).toBe(true);
  expect(idp.stats.deviceGrants).toBe(before.deviceGrants);
  expect(idp.stats.refreshes).toBeGreaterThan(before.refreshes);
  expect(idp.stats.reuseDetected).toBe(0);
  expect(idp.stats.revokedGrants).toBe(before.revokedGrants);
  expect(findLeaks(idp, { stderr: home.stderrs.join('\n'), log: home.stateFilesText() })).toEqual([]);
});

test.concurrent('a session revoked at the provider makes get-token exit 3 telling the user to log in again; a new login recovers', async ({ onTestFinished }) => {
  const { idp, home } = await setup({ accessTokenTtl: 3 }, (i) => ({ acme: devProfile(i) }), onTestFinished);
  await home.login();
  const first = await tokenJson(home);
  expect(await idp.revokeGrantsFor('alice')).toBeGreaterThan(0);

  await sleepUntil(first.expires_at * 1000 + 1100);
  const dead = await home.run(['get-token']);
  expect(dead.code).toBe(3);
  expectCleanError(dead);
  expect(dead.stderr).toContain('run `authd login -p acme`');
  // Asking again gives the same answer: the dead session is not retried into something else.
  const again = await home.run(['get-token', '-p', 'acme']);
  expect(again.code).toBe(3);
  expect(again.stderr).toContain('run `authd login -p acme`');

  const st = await statusOf(home, 'acme');
  expect(st.logged_in).toBe(false);
  expect(st.last_error).toBeTruthy();
  const human = await home.run(['status']);
  expect(human.stdout).toMatch(/acme\s+device\s+logged out/);

  const grantsBefore = idp.stats.deviceGrants;
  await home.login();
  expect(idp.stats.deviceGrants).toBe(grantsBefore + 1);
  const fresh = await home.run(['get-token']);
  expect(fresh.code).toBe(0);
  expect((await idp.introspect(fresh.stdout.trim())).active).toBe(true);
  expect((await statusOf(home, 'acme')).logged_in).toBe(true);
  expect(idp.stats.reuseDetected).toBe(0);
  expect(findLeaks(idp, { stderr: home.stderrs.join('\n'), log: home.stateFilesText() })).toEqual([]);
});

test.concurrent('logout revokes the refresh token at the provider, removes it from the store, and get-token then exits 3', async ({ onTestFinished }) => {
  const { idp, home } = await setup({ accessTokenTtl: 30 }, (i) => ({ acme: devProfile(i) }), onTestFinished);
  await home.login();
  expect((await home.run(['get-token'])).code).toBe(0);
  const rt = home.storedSession('acme')?.refresh_token;
  expect(rt).toBeTypeOf('string');
  expect((await idp.introspect(String(rt))).active).toBe(true);

  const out = await home.run(['logout', '-p', 'acme']);
  expect(out.code).toBe(0);
  expect(out.stdout).toBe('');
  expect(out.stderr).toMatch(/logged out/i);
  expect((await idp.introspect(String(rt))).active).toBe(false);
  expect(home.storedSession('acme')).toBeUndefined();

  const after = await home.run(['get-token']);
  expect(after.code).toBe(3);
  expectCleanError(after);
  expect(after.stderr).toContain('run `authd login -p acme`');
  expect((await statusOf(home, 'acme')).logged_in).toBe(false);
});

test.concurrent('logout --all logs out of every profile and revokes each session', async ({ onTestFinished }) => {
  const { idp, home } = await setup({ accessTokenTtl: 30 }, (i) => ({ acme: devProfile(i), beta: devProfile(i) }), onTestFinished);
  await home.login('acme');
  await home.login('beta');
  const rts = ['acme', 'beta'].map((p) => String(home.storedSession(p)?.refresh_token));
  for (const rt of rts) expect((await idp.introspect(rt)).active).toBe(true);

  const out = await home.run(['logout', '--all']);
  expect(out.code).toBe(0);
  expect(out.stderr).toMatch(/acme/);
  expect(out.stderr).toMatch(/beta/);
  for (const rt of rts) expect((await idp.introspect(rt)).active).toBe(false);
  expect(home.storedSession('acme')).toBeUndefined();
  expect(home.storedSession('beta')).toBeUndefined();
  expect((await home.run(['get-token', '-p', 'acme'])).code).toBe(3);
  expect((await home.run(['get-token', '-p', 'beta'])).code).toBe(3);
});

test.concurrent('logout when not logged in says so and exits 0', async ({ onTestFinished }) => {
  const { home } = await setup({ accessTokenTtl: 30 }, (i) => ({ acme: devProfile(i), beta: devProfile(i) }), onTestFinished);
  const one = await home.run(['logout', '-p', 'acme']);
  expect(one.code).toBe(0);
  expect(one.stdout).toBe('');
  expect(one.stderr).toMatch(/acme.*not logged in/);
  const all = await home.run(['logout', '--all']);
  expect(all.code).toBe(0);
  expect(all.stderr).toMatch(/acme.*not logged in/);
  expect(all.stderr).toMatch(/beta.*not logged in/);
});

for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
  test.concurrent(`after the daemon is stopped with ${signal}, get-token starts a new one that continues the session from the store`, async ({ onTestFinished }) => {
    // No refresh ahead: on a busy machine it came due (2 s in) just as the kill did, and a kill while the
    // provider's answer to a refresh is on its way loses the session (the known window; crash-safety).
    const { idp, home } = await setup({ accessTokenTtl: 4 }, (i) => ({ acme: devProfile(i, { refresh_ahead: false }) }), onTestFinished);
    await home.login();
    const first = await tokenJson(home);
    const pid = home.daemonPid();
    expect(pid).toBeTypeOf('number');
    const before = { ...idp.stats };

    process.kill(pid!, signal);
    await waitGone(pid!);
    const r = await home.run(['get-token']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const pid2 = home.daemonPid();
    expect(pid2).toBeTypeOf('number');
    expect(pid2).not.toBe(pid);
    expect(isRunning(pid2!)).toBe(true);

    // The new daemon refreshes with the stored refresh token (--min-ttl above the lifetime forces it).
    const later = await tokenJson(home, ['--min-ttl', '5']);
    expect(later.access_token).not.toBe(first.access_token);
    expect((await idp.introspect(later.access_token)).active).toBe(true);
    expect(idp.stats.deviceGrants).toBe(before.deviceGrants);
    expect(idp.stats.refreshes).toBeGreaterThan(before.refreshes);
    expect(idp.stats.reuseDetected).toBe(0);
    expect(idp.stats.revokedGrants).toBe(before.revokedGrants);
  });
}

test.concurrent('daemon status exits 5 and prints the socket path when not running; daemon start and stop control it', async ({ onTestFinished }) => {
  const { home } = await setup({ accessTokenTtl: 30 }, (i) => ({ acme: devProfile(i) }), onTestFinished);
  const none = await home.run(['daemon', 'status']);
  expect(none.code).toBe(5);
  expect(none.stdout).toContain(home.socket);

  const start = await home.run(['daemon', 'start']);
  expect(start.code).toBe(0);
  const pid = home.daemonPid();
  expect(pid).toBeTypeOf('number');
  expect(isRunning(pid!)).toBe(true);
  const running = await home.run(['daemon', 'status']);
  expect(running.code).toBe(0);
  expect(running.stdout).toContain(String(pid));
  expect(running.stdout).toContain(home.socket);

  // Starting it again keeps the one that runs.
  expect((await home.run(['daemon', 'start'])).code).toBe(0);
  expect(home.daemonPid()).toBe(pid);

  const stop = await home.run(['daemon', 'stop']);
  expect(stop.code).toBe(0);
  await waitGone(pid!);
  const stopped = await home.run(['daemon', 'status']);
  expect(stopped.code).toBe(5);
  expect(stopped.stdout).toContain(home.socket);

  // Without autostart a command that needs the daemon exits 5.
  const noAuto = await home.run(['get-token'], { env: { AUTHD_NO_AUTOSTART: '1' } });
  expect(noAuto.code).toBe(5);
  expectCleanError(noAuto);
  expect((await home.run(['daemon', 'status'])).code).toBe(5);
});

test.concurrent('two logins started at once for the same profile show the same code, and one approval logs both in', async ({ onTestFinished }) => {
  const { idp, home } = await setup({ accessTokenTtl: 30 }, (i) => ({ acme: devProfile(i) }), onTestFinished);
  expect((await home.run(['daemon', 'start'])).code).toBe(0);
  const before = idp.stats.deviceGrants;

  const children = [0, 1].map(() => spawn(AUTHD, ['login', '--json', '-p', 'acme'], { env: home.env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const codes: Promise<Record<string, unknown>>[] = [];
  const finished = children.map((child) => {
    let shown: (ev: Record<string, unknown>) => void = () => undefined;
    codes.push(new Promise((r) => {
      shown = r;
    }));
    return readEvents(child, (ev) => {
      if (ev.event === 'device_code') shown(ev);
    });
  });
  const [a, b] = await Promise.all(codes);
  expect(a!.user_code).toBeTypeOf('string');
  expect(b!.user_code).toBe(a!.user_code);
  expect([a!.joined, b!.joined].sort()).toEqual([false, true]);

  await approveDeviceCode(String(a!.verification_uri_complete));
  const results = await Promise.all(finished);
  for (const events of results) {
    expect(events.at(-1)).toMatchObject({ event: 'logged_in', profile: 'acme', subject: 'alice' });
  }
  expect(idp.stats.deviceGrants).toBe(before + 1);
  expect((await home.run(['get-token'])).code).toBe(0);
});

test.concurrent('get-token never starts a login: not logged in, it exits 3 at once and nothing is pending', async ({ onTestFinished }) => {
  const { idp, home } = await setup({ accessTokenTtl: 30 }, (i) => ({ acme: devProfile(i) }), onTestFinished);
  expect((await home.run(['daemon', 'start'])).code).toBe(0);
  const before = { ...idp.stats };
  const started = Date.now();
  const r = await home.run(['get-token']);
  expect(Date.now() - started).toBeLessThan(3000);
  expect(r.code).toBe(3);
  expectCleanError(r);
  expect(r.stderr).toContain('run `authd login -p acme`');
  await sleep(300);
  const st = await statusOf(home, 'acme');
  expect(st.login_pending).toBe(false);
  expect(st.logged_in).toBe(false);
  expect(idp.stats.tokenRequests).toBe(before.tokenRequests);
});
