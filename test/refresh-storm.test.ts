// The reason authd exists: many processes needing a token the moment it expires cause one refresh.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { devProfile, findLeaks, Home, type Result, sleep, theOneToken } from './support/harness.js';

let idp: Idp;
let home: Home;

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 2 });
  home = new Home();
  // No refresh ahead of callers here (its own tests below have homes of their own): 1 s after the
  // storm's refresh it would refresh again, and on a busy machine the fifty callers are not all
  // answered by then, so "exactly one refresh" would count it.
  home.writeConfig({ acme: devProfile(idp, { refresh_ahead: false }) }, { default_profile: 'acme' });
  await home.login();
});

afterAll(async () => {
  await home?.dispose();
  await idp?.close();
});

// The first four tests run side by side: the last three have a provider and a home of their own, and
// all four mostly wait (for a token to expire, for a refresh ahead of it). The rest use the shared
// home after them.
test.concurrent('fifty parallel get-token calls at the moment the token expires cause exactly one refresh', async () => {
  const pid = home.daemonPid();
  expect(pid).toBeTypeOf('number');
  const before = { ...idp.stats };
  // Hold the daemon still while fifty clients connect and send their request, and the token expires:
  // when it resumes, all fifty requests are there at once.
  process.kill(pid!, 'SIGSTOP');
  let calls: Promise<Result>[];
  try {
    calls = Array.from({ length: 50 }, () => home.run(['get-token']));
    await sleep(4000);
  } finally {
    process.kill(pid!, 'SIGCONT');
  }
  const results = await Promise.all(calls);
  const after = { ...idp.stats };

  // Issued by the provider (whether it is still active depends on how fast a busy machine answered fifty callers).
  const token = theOneToken(results);
  expect(idp.issued.has(token)).toBe(true);
  expect(after.refreshes - before.refreshes).toBe(1);
  expect(after.revokedGrants - before.revokedGrants).toBe(0);
  expect(after.reuseDetected).toBe(0);
});

test.concurrent('a token in use is refreshed in the background before it expires, so the next caller does not wait', async () => {
  // 8 s tokens: served down to 2 s left (a quarter), refreshed ahead at 4 s left (another quarter).
  const slow = await startIdp({ accessTokenTtl: 8 });
  const ahead = new Home();
  try {
    ahead.writeConfig({ acme: devProfile(slow) }, { default_profile: 'acme' });
    await ahead.login();
    const first = JSON.parse((await ahead.run(['get-token', '--format', 'json'])).stdout) as { access_token: string; expires_at: number };
    const before = slow.stats.refreshes;
    // Wait until about 2.5 s are left: past the refresh-ahead point, before callers would have to wait.
    await sleep(first.expires_at * 1000 - Date.now() - 2500);
    expect(slow.stats.refreshes - before).toBe(1);
    const second = JSON.parse((await ahead.run(['get-token', '--format', 'json'])).stdout) as { access_token: string };
    expect(second.access_token).not.toBe(first.access_token);
    expect(slow.stats.refreshes - before).toBe(1);
  } finally {
    await ahead.dispose();
    await slow.close();
  }
});

test.concurrent('an idle session is not refreshed in the background', async () => {
  const own = await startIdp({ accessTokenTtl: 2 });
  const idle = new Home();
  try {
    idle.writeConfig({ acme: devProfile(own) }, { default_profile: 'acme' });
    await idle.login();
    const before = own.stats.refreshes;
    await sleep(2500);
    expect(own.stats.refreshes - before).toBe(0);
  } finally {
    await idle.dispose();
    await own.close();
  }
});

test.concurrent('asking for more time than a token ever has does not refresh on every call', async () => {
  // 20 s tokens: however slow this machine is, six calls take less than half of that.
  const own = await startIdp({ accessTokenTtl: 20 });
  const greedy = new Home();
  try {
    greedy.writeConfig({ acme: devProfile(own) }, { default_profile: 'acme' });
    await greedy.login();
    const before = own.stats.refreshes;
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await greedy.run(['get-token', '--min-ttl', '3600']));
    for (const r of results) expect(r.code).toBe(0);
    // A refresh each time the token passes half its life (at most once here), not one per call.
    expect(own.stats.refreshes - before).toBeLessThanOrEqual(1);
  } finally {
    await greedy.dispose();
    await own.close();
  }
});

test('a token past its expiry is never handed out: the next call refreshes it', async () => {
  const first = await home.run(['get-token', '--format', 'json']);
  expect(first.code).toBe(0);
  const a = JSON.parse(first.stdout) as { access_token: string; expires_at: number };
  // expires_at is in whole seconds, rounded down: a second later the token has expired for certain.
  await sleep((a.expires_at + 1) * 1000 - Date.now() + 100);
  const second = await home.run(['get-token', '--format', 'json']);
  const b = JSON.parse(second.stdout) as { access_token: string; expires_at: number };
  expect(b.access_token).not.toBe(a.access_token);
  // expires_at is in whole seconds, rounded down.
  expect(b.expires_at).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000));
  expect((await idp.introspect(b.access_token)).active).toBe(true);
});

test('no token issued by the provider appears in the log, status or any stderr', async () => {
  const status = await home.run(['status']);
  const statusJson = await home.run(['status', '--json']);
  expect(status.code).toBe(0);
  const leaks = findLeaks(idp, {
    'daemon log and state files': home.stateFilesText(),
    'authd status': status.stdout,
    'authd status --json': statusJson.stdout,
    stderr: home.stderrs.join('\n'),
  });
  expect(leaks).toEqual([]);
  expect(idp.issued.size).toBeGreaterThan(3);
});
