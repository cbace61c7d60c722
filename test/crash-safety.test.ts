// What a SIGKILL of the daemon leaves behind, and what its callers see next. The kill test (last
// in this file) kills it at random moments while parallel callers ask for tokens that expire every
// second, and measures what is lost; the tests before it each take one thing a kill can leave
// behind (a temp file, the start-up lock, the start-up marker, a daemon killed while it starts).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { expect, onTestFailed, onTestFinished, test } from 'vitest';
import type { AuthdClient as SdkClient } from '../src/client/sdk.js';
import { type Idp, type Rotation, startIdp } from '../scripts/dev-idp.mjs';
import { AUTHD, devProfile, findLeaks, Home, type Result, sleep } from './support/harness.js';
import { prng } from './support/prng.js';
import { rounds } from './support/thorough.js';

/** The temp files the file store writes before renaming, named after the daemon's pid. */
const TEMP_FILE = /^credentials\.json\.tmp-(\d+)-[0-9a-f]{12}$/;

/** A home's daemon processes, alive (a zombie has no cmdline). */
function daemonsOf(home: Home): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('daemon.mjs')) continue;
      if (readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').includes(`AUTHD_HOME=${home.dir}`)) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A killed Node's main thread turns zombie before its other threads have exited, and until the
    // last one has, its files (the listening socket) stay open: a client can still connect to it.
    return stat[stat.lastIndexOf(')') + 2] === 'Z' && readdirSync(`/proc/${pid}/task`).length <= 1;
  } catch {
    return true;
  }
}

/** SIGKILLs and waits for the deaths, polling /proc: there is no event for a process we did not start. */
async function killAll(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited by itself meanwhile (a spare daemon that lost the race)
    }
  }
  const deadline = Date.now() + 5000;
  while (!pids.every(isGone)) {
    if (Date.now() > deadline) throw new Error(`daemon ${pids.join(',')} still running 5 s after SIGKILL`);
    await sleep(1);
  }
}

function tempFiles(home: Home): { name: string; pid: number }[] {
  return readdirSync(home.stateDir).flatMap((name) => {
    const m = TEMP_FILE.exec(name);
    return m ? [{ name, pid: Number(m[1]) }] : [];
  });
}

async function timed(h: Home, args: string[]): Promise<Result & { ms: number }> {
  const t = Date.now();
  const r = await h.run(args);
  return { ...r, ms: Date.now() - t };
}

/** A home with the file store whose daemon was just SIGKILLed. */
async function killedHome(): Promise<{ home: Home; killed: number }> {
  const h = new Home('authd-crash.');
  onTestFinished(() => h.dispose());
  h.writeConfig({}, { store: 'file' });
  expect((await h.run(['daemon', 'start'])).code).toBe(0);
  const [pid] = daemonsOf(h);
  expect(pid).toBeTypeOf('number');
  await killAll([pid!]);
  return { home: h, killed: pid! };
}

/** The home's daemon, frozen (SIGSTOP) as soon as it shows up, before it listens; undefined if it was quicker. */
async function freezeStartingDaemon(h: Home): Promise<number | undefined> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const pid = daemonsOf(h)[0];
    if (pid !== undefined) {
      process.kill(pid, 'SIGSTOP');
      if (!existsSync(h.socket)) return pid;
      process.kill(pid, 'SIGCONT');
      return undefined;
    }
    if (Date.now() > deadline) throw new Error('no daemon showed up within 5 s');
    await sleep(2);
  }
}

// ------------------------------------------------------------ what a kill leaves behind, one by one

test('after a kill mid-write, the next start removes the temp file the kill left, and nothing else in the state directory', async () => {
  const { home: h, killed } = await killedHome();
  // What a kill between the temp file's write and its rename leaves: a copy of the store.
  const orphan = `credentials.json.tmp-${killed}-0123456789ab`;
  const inUse = `credentials.json.tmp-${process.pid}-0123456789ab`; // a live writer's
  const others = ['notes.txt', 'credentials.json.tmp-backup', `credentials.json.tmp-${killed}-0123456789ab.keep`];
  for (const name of [orphan, inUse, ...others]) writeFileSync(join(h.stateDir, name), `{"v":1,"entries":{}}\n${name}`, { mode: 0o600 });
  mkdirSync(join(h.stateDir, `credentials.json.tmp-${killed}-ba9876543210`)); // not a file authd writes

  const r = await h.run(['status']);
  expect(r.code).toBe(0);
  const left = readdirSync(h.stateDir);
  expect(left).not.toContain(orphan);
  for (const name of [inUse, ...others]) {
    expect(left).toContain(name);
    expect(readFileSync(join(h.stateDir, name), 'utf8')).toContain(name);
  }
  expect(left).toContain(`credentials.json.tmp-${killed}-ba9876543210`);
});

test('a start-up lock left by a daemon killed while it held it delays the next start by about 2 s, not into exit 5', async () => {
  const { home: h } = await killedHome();
  mkdirSync(`${h.socket}.lock`); // proper-lockfile's lock, fresh, with nobody alive to release it
  const r = await timed(h, ['status']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.ms).toBeLessThan(6000);
  expect(existsSync(`${h.socket}.lock`)).toBe(false);
});

test('a daemon that finds another one already serving removes the start-up marker, so a start after the next crash does not wait for it', async () => {
  const { home: h } = await killedHome();
  expect((await h.run(['daemon', 'start'])).code).toBe(0);
  // A client that lost the connect race creates the marker and starts a second daemon, then
  // connects to the first and stops watching its own: that one finds the socket taken and exits.
  const marker = join(h.dir, 'run', 'authd.starting');
  mkdirSync(marker);
  const spare = spawn(process.execPath, [join(__dirname, '..', 'dist', 'daemon.mjs'), 'run', '--autostarted'], { env: h.env, stdio: 'ignore' });
  expect(await new Promise((resolve) => spare.on('exit', resolve))).toBe(0);
  expect(existsSync(marker)).toBe(false);

  await killAll(daemonsOf(h));
  const r = await timed(h, ['status']);
  expect(r.code).toBe(0);
  expect(r.ms).toBeLessThan(3000);
});

test('a daemon killed while it starts is started again by the client that was starting it', async () => {
  const h = new Home('authd-crash.');
  onTestFinished(() => h.dispose());
  h.writeConfig({}, { store: 'file' });
  for (let attempt = 1; ; attempt++) {
    const client = h.run(['status', '--json']);
    const frozen = await freezeStartingDaemon(h);
    if (frozen !== undefined) await killAll([frozen]);
    const r = await client;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    if (frozen !== undefined) {
      expect((JSON.parse(r.stdout) as { daemon: { pid: number } }).daemon.pid).not.toBe(frozen);
      return;
    }
    expect(attempt).toBeLessThan(3); // the daemon listened before this test could catch it
    await h.stop();
  }
});

test('a client that started a daemon but got its answer from another one takes the start-up marker away with it', async () => {
  const h = new Home('authd-crash.');
  onTestFinished(() => h.dispose());
  h.writeConfig({}, { store: 'file' });
  const marker = join(h.dir, 'run', 'authd.starting');
  for (let attempt = 1; ; attempt++) {
    const client = spawn(AUTHD, ['status', '--json'], { env: h.env, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => client.on('exit', resolve));
    // Hold the daemon this client starts before it listens, and the client with it.
    const own = await freezeStartingDaemon(h);
    if (own === undefined) {
      expect(await exited).toBe(0);
      expect(attempt).toBeLessThan(3); // the daemon listened before this test could catch it
      await h.stop();
      continue;
    }
    process.kill(client.pid!, 'SIGSTOP');
    // Another daemon comes up meanwhile, and the marker is there as the race can leave it: made by
    // this client after that daemon had removed the one before.
    const other = spawn(process.execPath, [join(__dirname, '..', 'dist', 'daemon.mjs'), 'run', '--autostarted'], {
      env: h.env, stdio: 'ignore', detached: true,
    });
    other.unref();
    while (!existsSync(h.socket) || existsSync(marker)) await sleep(5);
    mkdirSync(marker);
    process.kill(client.pid!, 'SIGCONT');
    expect(await exited).toBe(0);
    // The client's own daemon never gets to see that it lost the race: it dies first.
    await killAll([own]);
    expect(existsSync(marker)).toBe(false);
    // So a crash of the daemon that serves is followed by a prompt start.
    await killAll(daemonsOf(h));
    const r = await timed(h, ['status']);
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(3000);
    return;
  }
});

test('a client killed together with the daemon it was starting leaves a start-up marker that does not hold up the next command', async () => {
  const h = new Home('authd-crash.');
  onTestFinished(() => h.dispose());
  h.writeConfig({}, { store: 'file' });
  const marker = join(h.dir, 'run', 'authd.starting');
  for (let attempt = 1; ; attempt++) {
    const client = spawn(AUTHD, ['status'], { env: h.env, stdio: 'ignore' });
    const exited = new Promise<unknown>((resolve) => client.on('exit', resolve));
    const own = await freezeStartingDaemon(h);
    if (own === undefined) {
      await exited;
      expect(attempt).toBeLessThan(3); // the daemon listened before this test could catch it
      await h.stop();
      continue;
    }
    // Both die before the daemon listens (a terminal closed, an OOM kill): nobody removes the marker.
    client.kill('SIGKILL');
    await exited;
    await killAll([own]);
    expect(existsSync(marker)).toBe(true);
    const r = await timed(h, ['status']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(3000);
    return;
  }
});

// ------------------------------------------------------------------------------------- the kill test
//
// Rounds of: parallel callers (authd get-token processes and SDK clients) asking for 1 s tokens;
// a SIGKILL at a random moment (anywhere; a few ms after the provider answers a refresh; or twice,
// the second time while the next daemon starts); callers after it starting a new daemon; then one
// more caller forcing a refresh from whatever the store holds. After every kill the store must
// parse, no temp file of the killed daemon may outlive the next start, no caller after the restart
// may exit 5, and a session may be lost only by a kill in the window between the provider's answer
// to a refresh and the durable write of the rotated refresh token. The counts are printed.
//
// Replay a run's kill schedule with AUTHD_CRASH_SEED=<seed> (printed on failure);
// AUTHD_CRASH_KILLS=<n> sets how many kills. Default 50 under AUTHD_THOROUGH=1, as CI runs it (.ci/run);
// 10 otherwise: every kill is a round of six busy callers and a daemon start or two, 50 of them take
// ~40 s of CPU, and the checks after each kill are the same whatever the count.

const KILLS = Number(process.env.AUTHD_CRASH_KILLS || rounds(50, 10));
const SEED = Number(process.env.AUTHD_CRASH_SEED || Math.floor(Math.random() * 2 ** 32));
const CLI_LANES = 4;
const SDK_LANES = 2;

const { AuthdClient } = createRequire(import.meta.url)('../dist/sdk.cjs') as { AuthdClient: typeof SdkClient };

type KillKind = 'anywhere' | 'aimed' | 'restarting';
const KINDS: KillKind[] = ['anywhere', 'aimed', 'restarting'];

interface Kill {
  kind: KillKind;
  at: number;
  pids: number[];
  /** the refresh token in the store once the daemon was dead */
  stored: string | undefined;
  corrupt: boolean;
  tempFilesLeft: number;
}

interface Call {
  via: 'cli' | 'sdk';
  startedAt: number;
  /** exit code (the SDK's error mapped to the same table) */
  code: number;
  /** the daemon died under it while it waited for its answer */
  cutOff: boolean;
  /** what it said when it failed (error text never holds a token) */
  said: string;
  token: string | undefined;
}

const SDK_EXIT: Record<string, number> = { login_required: 3, idp_unreachable: 4, daemon_unreachable: 5 };

/** What the store holds right now: its refresh token, or that it does not parse. */
function readStore(home: Home): { corrupt: boolean; refreshToken: string | undefined } {
  const file = join(home.stateDir, 'credentials.json');
  if (!existsSync(file)) return { corrupt: false, refreshToken: undefined };
  try {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { v?: unknown; entries?: Record<string, { refresh_token?: string }> };
    if (doc.v !== 1 || typeof doc.entries !== 'object' || doc.entries === null) return { corrupt: true, refreshToken: undefined };
    return { corrupt: false, refreshToken: doc.entries.acme?.refresh_token };
  } catch {
    return { corrupt: true, refreshToken: undefined };
  }
}

/** From the daemon's own log: every start, and every rotation it had made durable ("token acquired"). */
function logEvents(home: Home): { starts: { pid: number; at: number }[]; acquired: number[] } {
  const starts: { pid: number; at: number }[] = [];
  const acquired: number[] = [];
  for (const line of home.logText().split('\n')) {
    const m = /^\{"level":\d+,"time":"([^"]+)","pid":(\d+).*"msg":"(daemon started|token acquired)"\}$/.exec(line);
    if (!m) continue;
    if (m[3] === 'daemon started') starts.push({ pid: Number(m[2]), at: Date.parse(m[1]!) });
    else acquired.push(Date.parse(m[1]!));
  }
  return { starts, acquired };
}

test('SIGKILLed at random moments during refresh storms, the daemon loses no session outside the write window, never corrupts its store, and the next caller always gets a token', { timeout: 180_000 }, async () => {
  // 1 s tokens: a refresh every half second or so while callers keep asking.
  const idp = await startIdp({ accessTokenTtl: 1 });
  const home = new Home('authd-crash.');
  onTestFinished(async () => {
    await home.dispose();
    await idp.close();
  });
  home.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme', store: 'file' });
  await home.login();
  const random = prng(SEED);
  onTestFailed(() => {
    console.error(`crash-safety: replay with AUTHD_CRASH_SEED=${SEED} AUTHD_CRASH_KILLS=${KILLS}`);
  });
  const kills = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<KillKind, number>;
  const windowHits = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<KillKind, number>;
  const totals = { rounds: 0, lost: 0, cutOffCli: 0, cutOffSdk: 0, callsAfterRestart: 0, tempFilesLeftByKills: 0, restartMsMax: 0 };
  const problems: string[] = [];
  const before = { ...idp.stats };
  const started = Date.now();

  for (let round = 0; kills.anywhere + kills.aimed + kills.restarting < KILLS; round++) {
    totals.rounds++;
    const mode = random() < 0.4 ? 'aimed' : random() < 0.5 ? 'restarting' : 'anywhere';
    const calls: Call[] = [];
    const roundKills: Kill[] = [];
    let lastDeath = Number.POSITIVE_INFINITY;
    let stop = false;

    const killNow = async (kind: KillKind, pids = daemonsOf(home)): Promise<void> => {
      if (pids.length === 0) return;
      const at = Date.now();
      await killAll(pids);
      lastDeath = Date.now(); // "after the kill" starts here
      // Read at once: the next daemon needs far longer than this to start and write.
      const store = readStore(home);
      const left = tempFiles(home).filter((f) => pids.includes(f.pid)).length;
      roundKills.push({ kind, at, pids, stored: store.refreshToken, corrupt: store.corrupt, tempFilesLeft: left });
    };

    // Each lane asks again and again until it has had an answer to a call it started after the last kill.
    const lane = async (via: 'cli' | 'sdk', sdk?: SdkClient): Promise<void> => {
      for (;;) {
        const call: Call = { via, startedAt: Date.now(), code: 0, cutOff: false, said: '', token: undefined };
        if (sdk) {
          try {
            call.token = (await sdk.getToken()).access_token;
          } catch (err) {
            const e = err as { code?: string; message?: string };
            call.code = SDK_EXIT[e.code ?? ''] ?? 1;
            call.said = e.message ?? '';
          }
        } else {
          const r = await home.run(['get-token'], { timeoutMs: 20_000 });
          call.code = r.code;
          if (r.code === 0) call.token = r.stdout.trim();
          else call.said = r.stderr.trim();
        }
        call.cutOff = call.code === 5 && call.said.includes('closed the connection');
        calls.push(call);
        if (stop && call.startedAt > lastDeath) return;
      }
    };
    const sdks = Array.from({ length: SDK_LANES }, () => new AuthdClient({ env: home.env }));
    const lanes = [...Array.from({ length: CLI_LANES }, () => lane('cli')), ...sdks.map((c) => lane('sdk', c))];

    if (mode === 'aimed') {
      // A few milliseconds after the provider answers a refresh: where the window is, if anywhere.
      const delay = random() * 12;
      const pids = daemonsOf(home); // found now: a scan of /proc can take longer than the window
      await new Promise<void>((resolve) => {
        const fallback = setTimeout(() => fire(0), 2000);
        const off = idp.onRotation((r) => {
          if (r.grantType === 'refresh_token' && r.issued) fire(delay);
        });
        function fire(after: number): void {
          off();
          clearTimeout(fallback);
          setTimeout(() => killNow('aimed', pids).then(resolve, resolve), after);
        }
      });
    } else {
      await sleep(random() * 500);
      await killNow('anywhere');
      // Then the next daemon, at a random moment of its start: loading, opening the store, taking
      // the lock, binding, or its first refresh.
      if (mode === 'restarting') {
        await sleep(30 + random() * 220);
        await killNow('restarting');
      }
    }
    if (roundKills.length === 0) lastDeath = Date.now(); // no daemon was there to kill: end the round
    stop = true;
    await Promise.all(lanes);
    for (const c of sdks) c.close();

    // The next caller. --min-ttl forces a refresh with whatever the store holds: a restarted
    // daemon knows no lifetime for the token it loaded, so asks the provider.
    const next = await home.run(['get-token', '--min-ttl', '100']);
    const afterRestart = calls.filter((c) => c.startedAt > lastDeath);
    totals.callsAfterRestart += afterRestart.length + 1;
    totals.cutOffCli += calls.filter((c) => c.cutOff && c.via === 'cli').length;
    totals.cutOffSdk += calls.filter((c) => c.cutOff && c.via === 'sdk').length;

    // Which kills landed in the window. A killed daemon whose refresh the provider answered, but
    // whose rotated refresh token never reached the store, leaves the store holding a consumed
    // token: the next daemon presents it again and the provider sees a reuse. So, for a token S the
    // store held after a kill: consumed by one answer and presented again after it = in the window.
    // Timings only say which of a round's kills it was, for the counts by kind.
    const { starts } = logEvents(home);
    const served = new Set(calls.map((c) => c.token));
    let inWindow = false;
    for (const k of roundKills) {
      kills[k.kind]++;
      totals.tempFilesLeftByKills += k.tempFilesLeft;
      if (k.corrupt) problems.push(`round ${round}: the store did not parse after a ${k.kind} kill`);
      if (k.stored !== undefined && !idp.rotations.some((r) => r.issued === k.stored)) {
        problems.push(`round ${round}: the store held a refresh token the provider never issued`);
      }
    }
    for (const stored of new Set(roundKills.map((k) => k.stored))) {
      if (stored === undefined) continue;
      const uses = idp.rotations.filter((r) => r.presented === stored);
      const consumed = uses.find((r) => r.issued);
      if (!consumed || uses.indexOf(consumed) === uses.length - 1) continue;
      inWindow = true;
      const holders = roundKills.filter((k) => k.stored === stored);
      const nextStart = (k: Kill) => starts.find((x) => x.at >= k.at && !k.pids.includes(x.pid))?.at ?? Number.POSITIVE_INFINITY;
      const killer = holders.find((k) => consumed.received < nextStart(k)) ?? holders.at(-1)!;
      windowHits[killer.kind]++;
      if (served.has(consumed.accessToken)) problems.push(`round ${round}: a caller got an access token whose refresh token never reached the store`);
      // Only the killed daemon ever held the rotated token: if it was used, the store lagged further.
      if (idp.rotations.some((r) => r.presented === consumed.issued)) problems.push(`round ${round}: the store was more than one rotation behind after a ${killer.kind} kill`);
    }
    // A daemon deletes a session the provider rejected: the store may be empty only after a window hit.
    if (!inWindow && roundKills.some((k) => k.stored === undefined)) problems.push(`round ${round}: the store held no session after a kill (${mode})`);
    const lost = next.code === 3 || calls.some((c) => c.code === 3);
    if (lost) totals.lost++;
    if (lost && !inWindow) problems.push(`round ${round}: the session was lost outside the write window (${mode})`);
    if (inWindow && !lost) problems.push(`round ${round}: the store held a consumed refresh token, yet the session survived (${mode})`);

    for (const c of calls) {
      if (c.code === 0 || (c.code === 3 && inWindow)) continue;
      if (c.cutOff && c.startedAt <= lastDeath) continue; // its daemon died under it: counted above
      problems.push(`round ${round}: a ${c.via} call ${c.startedAt > lastDeath ? 'after the restart' : 'during the kill'} exited ${c.code} (${mode}): ${c.said}`);
    }
    if (next.code !== 0 && !(next.code === 3 && inWindow)) problems.push(`round ${round}: the next caller exited ${next.code}: ${next.stderr.trim()}`);
    const firstAnswer = afterRestart.find((c) => c.code === 0);
    if (firstAnswer) totals.restartMsMax = Math.max(totals.restartMsMax, firstAnswer.startedAt - lastDeath);

    const leftover = tempFiles(home).filter((f) => roundKills.some((k) => k.pids.includes(f.pid)));
    if (leftover.length) problems.push(`round ${round}: ${leftover.length} temp file(s) of a killed daemon outlived the next start`);
    if (readdirSync(home.stateDir).some((f) => f.includes('.corrupt-'))) problems.push(`round ${round}: a store was set aside as corrupt`);

    if (lost) await home.login();
  }

  const summary = {
    seed: SEED,
    kills,
    windowHits,
    sessionsLost: totals.lost,
    refreshes: idp.stats.refreshes - before.refreshes,
    reuseDetected: idp.stats.reuseDetected - before.reuseDetected,
    window: windowWidths(idp, home),
    ...totals,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  console.log(`crash-safety: ${JSON.stringify(summary)}`);

  expect(problems).toEqual([]);
  // Every loss is one the provider saw as the reuse of a consumed refresh token, and the reverse.
  expect(summary.reuseDetected).toBe(totals.lost);
  expect(findLeaks(idp, { 'daemon log and state files': home.stateFilesText(), stderr: home.stderrs.join('\n') })).toEqual([]);
});

/**
 * How long a refresh was at risk, in milliseconds, up to the daemon's "token acquired" line (which
 * it writes once the store has the rotated token on disk): from the provider's answer, and from the
 * moment the request reached the provider (a kill after that is in the window too: the provider
 * consumes the old token whether or not the daemon lives to read the answer).
 */
function windowWidths(idp: Idp, home: Home): Record<'fromAnswer' | 'fromRequest', { median: number; p90: number; max: number }> & { n: number } {
  const answered = idp.rotations.filter((r: Rotation) => r.grantType === 'refresh_token' && r.issued);
  const fromAnswer: number[] = [];
  const fromRequest: number[] = [];
  for (const t of logEvents(home).acquired) {
    // The log has millisecond times: the answer is the last one at or before it.
    const r = answered.filter((x) => x.at <= t).at(-1);
    if (r === undefined || t - r.at > 1000) continue;
    fromAnswer.push(t - r.at);
    fromRequest.push(t - r.received);
  }
  const stats = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? -1;
    return { median: q(0.5), p90: q(0.9), max: sorted.at(-1) ?? -1 };
  };
  return { fromAnswer: stats(fromAnswer), fromRequest: stats(fromRequest), n: fromAnswer.length };
}

test('a get-token whose daemon is killed before it answers asks a new daemon, and gets a token', async () => {
  const idp = await startIdp({ accessTokenTtl: 30 });
  const home = new Home();
  onTestFinished(async () => {
    await home.dispose();
    await idp.close();
  });
  home.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme' });
  await home.login();
  const pid = home.daemonPid()!;
  // The request is sent and waits in the socket; then the daemon dies without a word.
  process.kill(pid, 'SIGSTOP');
  const call = timed(home, ['get-token']);
  await sleep(300);
  process.kill(pid, 'SIGKILL');
  const r = await call;
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect((await idp.introspect(r.stdout.trim())).active).toBe(true);
  expect(home.daemonPid()).not.toBe(pid);
});
