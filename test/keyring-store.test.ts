// The keychain store against a real Secret Service: a private D-Bus session bus and gnome-keyring
// per test (test/support/keyring-session.ts). No mocks. Each store reaches its keychain through the
// `env` option (its helper process runs with it), so one test process can use several keychains.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStore, type StoreChoice } from '../src/daemon/store/index.js';
import { MAX_VALUE_BYTES } from '../src/daemon/store/keyring.js';
import { migrate } from '../src/daemon/store/migrate.js';
import type { Store, StoredSession } from '../src/daemon/store/types.js';
import { type KeyringSession, noDbusEnv, secretTool, startKeyring, stopAllKeyrings } from './support/keyring-session.js';
import { processes } from './support/procs.js';
import { rejection } from './support/rejection.js';

const SECRET = 'rt-KEYRING-SECRET-4d1c9e';
const session = (n: number, extra: Partial<StoredSession> = {}): StoredSession => ({
  v: 1,
  issuer: 'https://idp.example',
  client_id: 'cli',
  refresh_token: `${SECRET}-${n}`,
  expires_at: 1_900_000_000 + n,
  ...extra,
});

/** What a user has: two profiles, an API key / client secret, and a stored git credential. */
const ENTRIES: Record<string, StoredSession> = {
  acme: session(1, { scope: 'openid offline_access', subject: 'alice' }),
  'globex.prod': session(2),
  'secret:acme': { v: 1, stored_at: 1_700_000_000_000, secret: 'sk_live_0123456789abcdef' } as StoredSession,
  'git:3f2a9c4b1e7d': {
    v: 1,
    stored_at: 1_700_000_000_001,
    git: { protocol: 'https', host: 'git.example', username: 'alice', password: 'ghp_9f8e7d6c5b4a' },
  },
};

let root: string;
let stateDir: string;
const opened: Store[] = [];
let keyring: KeyringSession | undefined;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'authd-kstore-'));
  stateDir = join(root, 'state');
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close?.()));
  await keyring?.stop();
  keyring = undefined;
  rmSync(root, { recursive: true, force: true });
});
afterAll(stopAllKeyrings);

function envOf(k: KeyringSession): NodeJS.ProcessEnv {
  return { ...process.env, ...k.env };
}

async function open(choice: StoreChoice, env: NodeJS.ProcessEnv, timeoutMs?: number, idleMs?: number): Promise<Store> {
  const store = await openStore(choice, stateDir, { env, ...(timeoutMs ? { timeoutMs } : {}), ...(idleMs ? { idleMs } : {}) });
  opened.push(store);
  return store;
}

/** Pids of keyring helper processes (`node --input-type=commonjs -e …`) using this keychain's bus. */
function helpersOf(k: KeyringSession): number[] {
  const bus = `DBUS_SESSION_BUS_ADDRESS=${k.env.DBUS_SESSION_BUS_ADDRESS}`;
  return processes()
    .filter((p) => p.cmdline.includes('--input-type=commonjs') && p.environ().includes(bus))
    .map((p) => p.pid);
}

async function eventually(check: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}


async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await f();
  return [r, performance.now() - t0];
}

async function fill(store: Store, entries = ENTRIES): Promise<void> {
  for (const [k, v] of Object.entries(entries)) await store.put(k, v);
}

async function contents(store: Store): Promise<Record<string, StoredSession>> {
  const out: Record<string, StoredSession> = {};
  for (const key of (await store.keys()).sort()) {
    const v = await store.get(key);
    if (v) out[key] = v;
  }
  return out;
}

/** Every file under dir, recursively, as text. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => readFileSync(join(d.parentPath, d.name), 'utf8'));
}

describe('the keychain store (Secret Service)', () => {
  it('a session put in the keychain is read back, listed and deleted, and no file holds it', async () => {
    keyring = await startKeyring();
    const store = await open('keyring', envOf(keyring));
    expect(store.kind).toBe('keyring');
    expect(store.location).toBe('Secret Service (service "authd")');
    expect(store.warning).toBeUndefined();
    expect(await store.keys()).toEqual([]); // the probe item at open is gone

    await fill(store);
    expect(await contents(store)).toEqual(ENTRIES);
    expect(await store.get('nope')).toBeUndefined();

    await store.put('acme', session(9)); // replaced, not duplicated
    expect(await store.get('acme')).toEqual(session(9));
    expect((await store.keys()).sort()).toEqual(Object.keys(ENTRIES).sort());

    expect(await store.delete('acme')).toBe(true);
    expect(await store.delete('acme')).toBe(false);
    expect(await store.get('acme')).toBeUndefined();
    expect(await store.keys()).not.toContain('acme');

    expect(filesUnder(stateDir).join('\n')).not.toContain(SECRET);
  });

  it('secret-tool finds each item under service "authd" with the key as its account', async () => {
    keyring = await startKeyring();
    const store = await open('keyring', envOf(keyring));
    await fill(store);

    const found = secretTool(keyring, ['search', '--all', 'service', 'authd']);
    expect(found.status).toBe(0);
    // secret-tool prints label and secret on stdout, but each item's attributes on stderr.
    const accounts = [...found.stderr.matchAll(/^attribute\.username = (.*)$/gm)].map((m) => m[1]);
    expect([...found.stderr.matchAll(/^attribute\.service = (.*)$/gm)].map((m) => m[1])).toEqual(['authd', 'authd', 'authd', 'authd']);
    expect(accounts.sort()).toEqual(Object.keys(ENTRIES).sort());

    const one = secretTool(keyring, ['lookup', 'service', 'authd', 'username', 'git:3f2a9c4b1e7d']);
    expect(JSON.parse(one.stdout)).toEqual(ENTRIES['git:3f2a9c4b1e7d']);
  });

  it('a session is still there after the store is reopened (the daemon restarted)', async () => {
    keyring = await startKeyring();
    const first = await open('keyring', envOf(keyring));
    await first.put('acme', { ...session(1), future_field: 'kept' } as StoredSession);
    await first.close?.();

    const second = await open('keyring', envOf(keyring));
    expect(await second.get('acme')).toEqual({ ...session(1), future_field: 'kept' });
    expect(await second.keys()).toEqual(['acme']);
  });

  it('keeps no process around while idle, and starts one again on the next call', async () => {
    keyring = await startKeyring();
    const store = await open('keyring', envOf(keyring), undefined, 200);
    await store.put('acme', session(1));
    expect(helpersOf(keyring)).toHaveLength(1);
    expect(await eventually(() => helpersOf(keyring!).length === 0)).toBe(true);
    expect(await store.get('acme')).toEqual(session(1));
    expect(helpersOf(keyring)).toHaveLength(1);
  });

  it('a value over 4 KiB is refused with a clear error, and nothing is written', async () => {
    keyring = await startKeyring();
    const store = await open('keyring', envOf(keyring));
    const big = session(1, { scope: 'x'.repeat(MAX_VALUE_BYTES) });
    const err = await rejection(store.put('acme', big));
    expect(err.code).toBe('store_error');
    expect(err.message).toMatch(/^The entry "acme" is \d+ bytes, over the 4096-byte limit for an item in the Secret Service keychain; it was not written\.$/);
    expect(err.message).not.toContain(SECRET);
    expect(await store.keys()).toEqual([]);
  });

  it('an item in the keychain that is not authd data is reported, not returned', async () => {
    keyring = await startKeyring();
    const store = await open('keyring', envOf(keyring));
    const put = spawn('secret-tool', ['store', '--label=junk', 'service', 'authd', 'username', 'acme'], {
      env: envOf(keyring),
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    put.stdin.end('not json');
    await new Promise((r) => put.once('exit', r));
    const err = await rejection(store.get('acme'));
    expect(err.message).toBe('The Secret Service keychain item "acme" (service "authd") does not hold authd data.');
    expect(err.hint).toBe('remove it with `secret-tool clear service authd username acme`');
  });
});

describe('when there is no usable keychain', () => {
  it('with no D-Bus session at all, store = "keyring" fails at once, naming DBUS_SESSION_BUS_ADDRESS', async () => {
    const [err, ms] = await timed(() => rejection(open('keyring', noDbusEnv(join(root, 'empty-run')))));
    expect(ms).toBeLessThan(3000);
    expect(err.code).toBe('store_error');
    expect(err.message).toBe(
      'The Secret Service keychain is unavailable: DBUS_SESSION_BUS_ADDRESS is unset, so there is no D-Bus session bus.',
    );
    expect(err.hint).toMatch(/dbus-run-session.*gnome-keyring-daemon --unlock --components=secrets.*; or set store = "file"$/);
  });

  it('with no D-Bus session, auto uses the file store and says why and how to fix it', async () => {
    const store = await open('auto', noDbusEnv(join(root, 'empty-run')));
    expect(store.kind).toBe('file');
    expect(store.warning).toMatch(/^No usable keychain was found, so authd keeps its secrets in the file .*credentials\.json: /);
    expect(store.warning).toContain('DBUS_SESSION_BUS_ADDRESS is unset');
    expect(store.warning).toMatch(/To use the keychain, run authd in a desktop session.*; to silence this, set store = "file"\.$/);
    await store.put('acme', session(1));
    expect(await (await open('file', process.env)).get('acme')).toEqual(session(1));
  });

  it('with a D-Bus session but no keychain service on it, the error says none is running', async () => {
    keyring = await startKeyring();
    // Same bus, keychain gone: kill gnome-keyring-daemon only.
    process.kill(keyring.pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    const err = await rejection(open('keyring', envOf(keyring)));
    expect(err.message).toBe('No Secret Service keychain (gnome-keyring or KWallet) is running on the D-Bus session bus.');
  });

  it('a keyring that was never unlocked: store = "keyring" says it is locked; auto falls back to the file store', async () => {
    keyring = await startKeyring({ unlocked: false });
    const err = await rejection(open('keyring', envOf(keyring)));
    expect(err.message).toBe('The Secret Service keychain is locked, so authd cannot keep secrets in it.');
    expect(err.hint).toContain('gnome-keyring-daemon --unlock --components=secrets');
    expect(err.hint).toMatch(/Seahorse/);

    const store = await open('auto', envOf(keyring));
    expect(store.kind).toBe('file');
    expect(store.warning).toContain('The Secret Service keychain is locked');
  });

  it('an existing login keyring that is locked: the same clear error, and its items stay unread', async () => {
    const home = join(root, 'keyring-home');
    const first = await startKeyring({ home });
    const before = await open('keyring', envOf(first));
    await before.put('acme', session(1));
    await before.close?.();
    await first.stop();

    keyring = await startKeyring({ home, unlocked: false });
    const [err, ms] = await timed(() => rejection(open('keyring', envOf(keyring!))));
    expect(ms).toBeLessThan(3000);
    expect(err.message).toBe('The Secret Service keychain is locked, so authd cannot keep secrets in it.');
    const store = await open('auto', envOf(keyring));
    expect(store.kind).toBe('file');
    expect(await store.keys()).toEqual([]);
  });

  it('a hung keychain (gnome-keyring stopped) makes every call fail within the timeout, and recovers', async () => {
    keyring = await startKeyring();
    const store = await open('keyring', envOf(keyring), 1000);
    await store.put('acme', session(1));
    keyring.pause();

    // get and put go through libdbus (it gives up after 2 s), keys through zbus (it waits forever).
    for (const call of [() => store.get('acme'), () => store.put('acme', session(2)), () => store.keys()]) {
      const [err, ms] = await timed(() => rejection(call()));
      expect(err.message).toBe('The Secret Service keychain did not answer within 1 s.');
      expect(err.hint).toMatch(/not waiting on an unlock prompt/);
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(2000);
    }
    // Opening one, and auto, are bounded too.
    const [openErr, openMs] = await timed(() => rejection(open('keyring', envOf(keyring!), 1000)));
    expect(openErr.message).toBe('The Secret Service keychain did not answer within 1 s.');
    expect(openMs).toBeLessThan(2000);
    const [auto, autoMs] = await timed(() => open('auto', envOf(keyring!), 1000));
    expect(auto.kind).toBe('file');
    expect(auto.warning).toContain('did not answer within 1 s');
    expect(autoMs).toBeLessThan(2000);

    keyring.resume();
    // Resumed, the keychain first works through the calls queued while it was stopped: under load
    // that can take it past the 1 s of the next call, so recovery is awaited, not assumed at once.
    await expect.poll(() => store.get('acme').catch((err: Error) => err.message), { timeout: 15_000, interval: 200 }).toEqual(session(1));
    expect(await store.keys()).toEqual(['acme']);
  });
});

describe('store = "auto"', () => {
  it('uses the keychain when one answers and the file store is empty', async () => {
    keyring = await startKeyring();
    const store = await open('auto', envOf(keyring));
    expect(store.kind).toBe('keyring');
    expect(store.warning).toBeUndefined();
    await store.put('acme', session(1));
    expect(filesUnder(stateDir)).toEqual([]);
  });

  it('keeps the file store when it already holds sessions, and suggests migrating them', async () => {
    const file = await open('file', process.env);
    await fill(file);
    keyring = await startKeyring();
    const store = await open('auto', envOf(keyring));
    expect(store.kind).toBe('file');
    expect(await contents(store)).toEqual(ENTRIES);
    expect(store.warning).toBe(
      `The file ${join(stateDir, 'credentials.json')} holds 4 saved entries, so authd keeps using it although the keychain (Secret Service (service "authd")) is available. ` +
        'Run `authd store migrate --to keyring` to move them into the keychain, or set store = "file" to silence this.',
    );
  });
});

describe('authd store migrate', () => {
  it('file → keyring → file keeps every entry, profiles, secrets and git credentials alike', async () => {
    keyring = await startKeyring();
    const file = await open('file', process.env);
    await fill(file);
    const kc = await open('keyring', envOf(keyring));

    const there = await migrate(file, kc);
    expect(there.moved).toBe(4);
    expect(there.keys.sort()).toEqual(Object.keys(ENTRIES).sort());
    expect(await contents(kc)).toEqual(ENTRIES);
    expect(await file.keys()).toEqual([]);
    expect(filesUnder(stateDir).join('\n')).not.toContain(SECRET);
    // and auto now picks the keychain
    expect((await open('auto', envOf(keyring))).kind).toBe('keyring');

    const back = await migrate(kc, file);
    expect(back.moved).toBe(4);
    expect(await contents(await open('file', process.env))).toEqual(ENTRIES);
    expect(await kc.keys()).toEqual([]);
  });

  it('refuses to move a store onto itself', async () => {
    const file = await open('file', process.env);
    await fill(file);
    const err = await rejection(migrate(file, await open('file', process.env)));
    expect(err.code).toBe('usage');
    expect(await contents(file)).toEqual(ENTRIES);
  });

  it('where the keychain already holds another value for a key, the source (the store in use) wins', async () => {
    keyring = await startKeyring();
    const file = await open('file', process.env);
    await fill(file);
    const kc = await open('keyring', envOf(keyring));
    await kc.put('acme', session(99));
    await kc.put('globex.prod', ENTRIES['globex.prod']!);
    await migrate(file, kc);
    expect(await contents(kc)).toEqual(ENTRIES);
  });

  it('a value the keychain refuses stops the migration before anything is removed', async () => {
    keyring = await startKeyring();
    const file = await open('file', process.env);
    await fill(file);
    await file.put('zz-big', session(5, { scope: 'x'.repeat(MAX_VALUE_BYTES) }));
    const kc = await open('keyring', envOf(keyring));
    const err = await rejection(migrate(file, kc));
    expect(err.message).toContain('over the 4096-byte limit');
    expect(Object.keys(await contents(file))).toHaveLength(5);
  });

  describe('killed (SIGKILL) part way, in a real child process', () => {
    let driver: string;
    beforeAll(async () => {
      driver = join(mkdtempSync(join(tmpdir(), 'authd-kdriver-')), 'migrate-driver.mjs');
      await bundleDriver(driver);
    });
    afterAll(() => rmSync(dirname(driver), { recursive: true, force: true }));

    const cases: { from: 'file' | 'keyring'; stopAt: { phase: string; done: number }; when: string }[] = [
      { from: 'file', stopAt: { phase: 'copied', done: 2 }, when: 'half the entries copied' },
      { from: 'file', stopAt: { phase: 'verified', done: 4 }, when: 'all copied and verified, none removed' },
      { from: 'file', stopAt: { phase: 'deleted', done: 1 }, when: 'one removed from the source' },
      { from: 'keyring', stopAt: { phase: 'copied', done: 2 }, when: 'half the entries copied' },
      { from: 'keyring', stopAt: { phase: 'deleted', done: 2 }, when: 'two removed from the source' },
    ];
    for (const { from, stopAt, when } of cases) {
      const to = from === 'file' ? 'keyring' : 'file';
      it(`${from} → ${to}, killed with ${when}: nothing lost, and re-running completes it`, async () => {
        keyring = await startKeyring();
        const env = envOf(keyring);
        const source = await open(from, env);
        await fill(source);
        await source.close?.();

        const child = spawn(process.execPath, [driver, JSON.stringify({ from, to, stateDir, stopAt })], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        await untilLine(child, 'STOPPED');
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        // Its keychain helper does not outlive it.
        expect(await eventually(() => helpersOf(keyring!).length === 0)).toBe(true);

        const a = await open(from, env);
        const b = await open(to, env);
        const inA = await contents(a);
        const inB = await contents(b);
        for (const [key, value] of Object.entries(ENTRIES)) {
          // In one store or both, unchanged.
          expect([inA[key], inB[key]].filter(Boolean).length, key).toBeGreaterThan(0);
          if (inA[key]) expect(inA[key]).toEqual(value);
          if (inB[key]) expect(inB[key]).toEqual(value);
        }

        const rerun = await migrate(a, b);
        expect(rerun.moved).toBe(Object.keys(inA).length);
        expect(await contents(b)).toEqual(ENTRIES);
        expect(await a.keys()).toEqual([]);
      });
    }
  });
});

/**
 * The migration in a child process, bundled from the sources with esbuild. The child stops (waits
 * forever) at the point asked for and says STOPPED; the test then SIGKILLs it there: a real kill at
 * an exact point, not an injected fault.
 */
async function bundleDriver(outfile: string): Promise<void> {
  const here = fileURLToPath(new URL('..', import.meta.url));
  const contents = `
    import { openStore } from './src/daemon/store/index.js';
    import { migrate } from './src/daemon/store/migrate.js';
    const { from, to, stateDir, stopAt } = JSON.parse(process.argv[2]);
    const a = await openStore(from, stateDir);
    const b = await openStore(to, stateDir);
    await migrate(a, b, {
      onProgress: async (p) => {
        if (p.phase === stopAt.phase && p.done === stopAt.done) {
          process.stdout.write('STOPPED\\n');
          await new Promise(() => setInterval(() => undefined, 60_000));
        }
      },
    });
    process.stdout.write('DONE\\n');
  `;
  await build({
    stdin: { contents, resolveDir: here, loader: 'ts', sourcefile: 'migrate-driver.ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    logLevel: 'error',
    // keyring.ts finds @napi-rs/keyring from its own location.
    define: { 'import.meta.url': JSON.stringify(pathToFileURL(join(here, 'src/daemon/store/keyring.ts')).href) },
  });
}

function untilLine(child: ChildProcess, want: string): Promise<void> {
  return new Promise((resolveLine, reject) => {
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === want) resolveLine();
    });
    child.once('exit', (code, signal) => reject(new Error(`driver exited (${code ?? signal}) before ${want}: ${stderr}`)));
  });
}
