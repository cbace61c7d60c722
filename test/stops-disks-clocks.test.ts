// What used to lose a session around a refresh: a graceful stop, a full disk, a clock ahead of the
// provider's, a provider slower than the profile's timeout. The real daemon, the real provider (its
// answers held by test/support/provider-behaviour.ts), a real full tmpfs, a real skewed clock
// (libfaketime, from Debian's faketime package).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, test } from 'vitest';
import { devProfile, type Home, sleep } from './support/harness.js';
import { Hold, type OnFinished, providerAndHome } from './support/provider-behaviour.js';
import { rounds } from './support/thorough.js';

// Each test has its own provider and home, and mostly waits (for a token to expire, for a daemon to
// stop): they run side by side, each cleaning up with its own context's onTestFinished.
function setup(finished: OnFinished, ttl: number, extra: Record<string, string | number | boolean> = {}) {
  return providerAndHome({ accessTokenTtl: ttl }, (idp) => ({ acme: devProfile(idp, { refresh_ahead: false, ...extra }) }),
    { default_profile: 'acme' }, finished);
}

async function status(home: Home): Promise<{ logged_in: boolean; last_error?: string }> {
  const r = await home.run(['status', '--json']);
  const s = JSON.parse(r.stdout) as { profiles: { profile: string; logged_in: boolean; last_error?: string }[] };
  return s.profiles.find((p) => p.profile === 'acme')!;
}

// Four homes side by side: the rounds mostly wait (for the 1 s token to expire, for the daemon to be
// seen waiting), so lanes take a quarter of the time. 20 stops under AUTHD_THOROUGH=1, as CI runs it
// (.ci/run); 8 otherwise (each stop is a daemon start, a refresh and a stop: ~0.5 s of CPU).
const STOPS = rounds(20, 8);
const LANES = 4;

test.concurrent(`${STOPS} graceful stops, each while a refresh is at the provider, lose no session`, { timeout: 120_000 }, async ({ onTestFinished }) => {
  const lanes = await Promise.all(Array.from({ length: LANES }, () => setup(onTestFinished, 1)));
  // One lane failing stops the others at their next round, and the test waits for them all: a lane
  // still running when the homes are cleaned up would start a daemon in a home that is gone.
  let failed = false;
  const ran = await Promise.allSettled(lanes.map(async ({ idp, provider, home }, lane) => {
    try {
      await home.login();
      for (let round = 0; round < STOPS / LANES && !failed; round++) {
        const where = `lane ${lane}, round ${round}`;
        await sleep(1100); // the token has expired: the next get-token refreshes
        const answer = new Hold({ after: 'answer' });
        provider.set('token', answer.behaviour, 1);
        const get = home.run(['get-token']);
        await answer.arrived(); // the provider has rotated; its answer is on its way back
        const stop = home.run(['daemon', 'stop']); // it returns once the daemon is gone
        await sleep(400); // longer than a daemon that does not wait takes to exit
        answer.release();
        expect((await stop).code, where).toBe(0);
        const r = await get;
        expect(r.stderr, where).toBe('');
        expect(r.code, where).toBe(0);
      }
      if (failed) return;
      // And after all that, the session is alive and nothing was ever presented twice.
      await sleep(1100);
      const last = await home.run(['get-token']);
      expect(last.code, `lane ${lane}`).toBe(0);
      expect(idp.stats.reuseDetected, `lane ${lane}`).toBe(0);
      expect(idp.stats.revokedGrants, `lane ${lane}`).toBe(0);
    } catch (err) {
      failed = true;
      // What the lane's daemons did, and which refresh token each refresh presented (numbered, never
      // the token itself): enough to tell a daemon that died mid-refresh from one that read a stale store.
      const seen = new Map<string, number>();
      const n = (t: string | undefined) => (t === undefined ? '-' : (seen.get(t) ?? seen.set(t, seen.size + 1).get(t)));
      const answers = idp.rotations.map((r) => `${r.received}→${r.at} ${r.grantType} presented ${n(r.presented)} issued ${n(r.issued)} ${r.error ?? ''}`);
      console.error(`lane ${lane}: the daemon log\n${home.logText()}the provider's token answers\n${answers.join('\n')}`);
      throw err;
    }
  }));
  const failure = ran.find((r) => r.status === 'rejected');
  if (failure) throw failure.reason;
});

test.concurrent('SIGTERM while a refresh is at the provider: the daemon stores the rotated token before it exits', async ({ onTestFinished }) => {
  const { idp, provider, home } = await setup(onTestFinished, 1);
  await home.login();
  await sleep(1100);
  const pid = home.daemonPid()!;
  const answer = new Hold({ after: 'answer' });
  provider.set('token', answer.behaviour, 1);
  const get = home.run(['get-token']);
  await answer.arrived();
  process.kill(pid, 'SIGTERM');
  await sleep(400);
  answer.release();
  expect((await get).code).toBe(0);
  await sleep(1100);
  expect((await home.run(['get-token'])).code).toBe(0);
  expect(home.daemonPid()).not.toBe(pid);
  expect(idp.stats.reuseDetected).toBe(0);
});

test.concurrent('a provider slower than the profile timeout: callers get exit 4 meanwhile, and its late answer is kept, not replayed', async ({ onTestFinished }) => {
  const { idp, provider, home } = await setup(onTestFinished, 2);
  await home.login();
  // The 1 s timeout only from here: on a busy machine the login's own discovery request took longer.
  home.writeConfig({ acme: devProfile(idp, { refresh_ahead: false, timeout: 1 }) }, { default_profile: 'acme' });
  await sleep(2100);
  const answer = new Hold({ after: 'answer' });
  provider.set('token', answer.behaviour, 1);
  const slow = await home.run(['get-token']);
  expect(slow.code).toBe(4);
  expect(slow.stderr).toContain('authd goes on waiting for it');
  answer.release(); // 1 s late: the provider consumed the old refresh token long ago
  await sleep(200);
  const r = await home.run(['get-token']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(idp.stats.reuseDetected).toBe(0);
  expect(idp.stats.revokedGrants).toBe(0);
});

/** libfaketime, as Debian's faketime package installs it. */
function libfaketime(): string {
  for (const dir of readdirSync('/usr/lib').map((d) => join('/usr/lib', d, 'faketime'))) {
    const lib = join(dir, 'libfaketime.so.1');
    if (existsSync(lib)) return lib;
  }
  throw new Error('libfaketime is not installed (apt-get install faketime; .ci/run does)');
}

test.concurrent('a daemon whose clock is 120 s ahead of the provider keeps the session, and says the clock is off', async ({ onTestFinished }) => {
  const { idp, home } = await setup(onTestFinished, 2);
  await home.login();
  await home.stop();
  // The same daemon, 120 s in the future: the provider's ID tokens look expired to it.
  // Started directly: `authd daemon run` gives the daemon only the environment it needs (no LD_PRELOAD).
  const daemon: ChildProcess = spawn(process.execPath, [resolve(__dirname, '../dist/daemon.mjs'), 'run'], {
    env: { ...home.env, LD_PRELOAD: libfaketime(), FAKETIME: '+120s' }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  onTestFinished(() => {
    daemon.kill('SIGKILL');
  });
  await new Promise<void>((resolve) => daemon.stderr!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()));
  for (let i = 0; i < 2; i++) {
    const r = await home.run(['get-token']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    await sleep(2100);
  }
  expect(idp.stats.refreshes).toBeGreaterThanOrEqual(1);
  expect(idp.stats.reuseDetected).toBe(0);
  expect((await status(home)).last_error).toMatch(/your clock is 1[12]\d s ahead of the provider/);
});

test.concurrent('a full disk: the rotated session is kept in memory, not refreshed again, and saved when there is room', async ({ onTestFinished }) => {
  const { idp, home } = await setup(onTestFinished, 1);
  // The state directory on a 128 KiB tmpfs of its own, which the test fills.
  mkdirSync(home.stateDir, { recursive: true, mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128k,mode=0700', 'tmpfs', home.stateDir]);
  onTestFinished(async () => {
    await home.stop();
    execFileSync('umount', ['-l', home.stateDir]);
  });
  await home.login();
  const filler = join(home.stateDir, 'filler');
  const fill = () => {
    for (let size = 256 * 1024; size >= 512; size >>= 1) {
      try {
        writeFileSync(join(home.stateDir, `filler-${size}-${Math.random()}`), Buffer.alloc(size));
      } catch {
        // full at this size: try smaller ones
      }
    }
  };
  writeFileSync(filler, '');
  fill();
  await sleep(1100);
  const before = idp.stats.refreshes;
  const first = await home.run(['get-token']);
  expect(first.code).toBe(0); // the provider rotated; the store refused it; the token is served
  expect((await status(home)).last_error).toMatch(/could not be saved/);
  await sleep(1100);
  const second = await home.run(['get-token']);
  expect(second.code).toBe(1); // no new rotation while the last one is not stored
  expect(second.stderr).toMatch(/kept in memory/);
  expect(idp.stats.refreshes - before).toBe(1);

  for (const f of readdirSync(home.stateDir)) if (f.startsWith('filler')) rmSync(join(home.stateDir, f));
  const third = await home.run(['get-token']);
  expect(third.stderr).toBe('');
  expect(third.code).toBe(0);
  // The stored session is the current one: a new daemon carries on with it.
  await home.stop();
  await sleep(1100);
  expect((await home.run(['get-token'])).code).toBe(0);
  expect(idp.stats.reuseDetected).toBe(0);
});
