// What a SIGKILL of the daemon leaves behind, and what its callers see next: each test takes one
// thing a kill can leave behind.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, onTestFinished, test } from 'vitest';
import { AUTHD, Home, type Result, sleep } from './support/harness.js';

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
