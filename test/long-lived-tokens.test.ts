// Access tokens that live longer than a Node timer can wait (2^31-1 ms, 24.8 days): the refresh
// ahead of their expiry must wait that long, not fire at once (Node's behaviour for a longer delay,
// with a warning on stderr that used to kill the autostarted daemon).
import { afterEach, expect, onTestFinished, test, vi } from 'vitest';
import { startIdp } from '../scripts/dev-idp.mjs';
import { MAX_TIMER_MS, systemClock } from '../src/daemon/clock.js';
import { devProfile, Home } from './support/harness.js';

const DAY = 86_400_000;

afterEach(() => {
  vi.useRealTimers();
});

test('a timer set 30 days ahead fires once, 30 days later, and can be cancelled after it has been re-armed', () => {
  vi.useFakeTimers({ now: 0 });
  const fired: number[] = [];
  systemClock.setTimeout(() => fired.push(Date.now()), 30 * DAY);
  const cancelled = systemClock.setTimeout(() => fired.push(-1), 30 * DAY);
  vi.advanceTimersByTime(MAX_TIMER_MS + 1000); // past the first link of the chain
  expect(fired).toEqual([]);
  systemClock.clearTimeout(cancelled);
  vi.advanceTimersByTime(30 * DAY);
  expect(fired).toEqual([30 * DAY]);
});

test('with access tokens that live 30 days, the autostarted daemon stays up and serves the cached token without refreshing it', async () => {
  const idp = await startIdp({ accessTokenTtl: 30 * 86_400 });
  const home = new Home();
  onTestFinished(async () => {
    await home.dispose();
    await idp.close();
  });
  home.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme' });
  await home.login(); // autostarts the daemon, and returns once it has the login's 30-day token

  // Each get-token arms the refresh ahead of expiry (at 30 days minus a minute and a half); a timer
  // that fired at once would refresh before the next call, and a warning on the daemon's stderr
  // used to take it down (the next call then started another one).
  const tokens = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const r = await home.run(['get-token']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    tokens.add(r.stdout.trim());
  }
  const status = JSON.parse((await home.run(['status', '--json'])).stdout) as { daemon: { pid: number }; profiles: { refreshes: number }[] };
  expect(tokens.size).toBe(1);
  expect(idp.stats.refreshes).toBe(0);
  expect(status.profiles[0]!.refreshes).toBe(0);
  expect(home.logText().match(/"msg":"daemon started"/g)).toHaveLength(1);
  expect(status.daemon.pid).toBe(home.daemonPid());
  expect(home.logText()).not.toMatch(/daemon crashed|TimeoutOverflowWarning/);
});
