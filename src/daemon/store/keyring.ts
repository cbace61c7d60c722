// The keychain store: one item per key in the OS keychain through @napi-rs/keyring (Secret Service
// on Linux, Keychain on macOS, Credential Manager on Windows); service "authd", account = the key,
// secret = the value as JSON text.
//
// The library runs in a helper process, never in the daemon, because it cannot be bounded in-process
// (measured with 2.1.2 against gnome-keyring 42 stopped with SIGSTOP):
// - `new AsyncEntry(…)` with the Secret Service store pinned makes a blocking D-Bus round trip on the
//   calling thread: it froze the event loop for 2 s (libdbus's reply timeout) on a hung keychain.
// - `findCredentialsAsync` (zbus) has no timeout at all: it waited until the keychain resumed (60 s
//   in the test), holding one of libuv's four pool threads, so a few of them stall every fs call.
// - an AbortSignal does not cancel a call that has started; it only drops one still queued.
// - while such a call is stuck, process.exit() hangs too (Node waits for the native work).
// A helper process is killed on a timeout and a fresh one started on the next call; it dies with its
// stdin, so it cannot outlive the daemon. Values cross a pipe, never argv.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { AuthdError } from '../../protocol/errors.js';
import { shellQuote } from '../../protocol/perms.js';
import type { Store, StoredSession } from './types.js';

export const KEYRING_SERVICE = 'authd';
/** macOS keychain items are limited to a few KiB; authd's values are a refresh token and metadata. */
export const MAX_VALUE_BYTES = 4096;
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_IDLE_MS = 30_000;
/** Written, read back and deleted at open. ':' cannot occur in a profile name; never listed. */
const PROBE_KEY = 'authd:probe';

export interface KeyringOptions {
  /** Bound on every keychain call as the caller sees it, helper start included. Default 5000. */
  timeoutMs?: number;
  /** The environment the helper runs with (the D-Bus session address on Linux). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The helper exits after this long without a call, and starts again on the next one. Default 30000. */
  idleMs?: number;
}

/** Opens the keychain store after proving it works (write, read back, delete, list); else store_error. */
export async function openKeyringStore(opts: KeyringOptions = {}): Promise<Store> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const env = opts.env ?? process.env;
  const keychain = describeKeychain();
  const fail = (f: Failure) => toAuthdError(f, keychain, env, timeoutMs);

  let modulePath: string;
  try {
    modulePath = createRequire(import.meta.url).resolve('@napi-rs/keyring');
  } catch (err) {
    throw fail({ kind: 'load', detail: (err as Error).message });
  }
  const helper = new Helper(modulePath, env, opts.idleMs ?? DEFAULT_IDLE_MS);
  const call = async (req: Request): Promise<unknown> => {
    try {
      return await helper.call(req, timeoutMs);
    } catch (err) {
      throw err instanceof AuthdError ? err : fail(err as Failure);
    }
  };

  const nonce = randomBytes(12).toString('hex');
  let echoed: unknown;
  try {
    echoed = await call({ op: 'probe', key: PROBE_KEY, value: nonce });
  } catch (err) {
    await helper.close();
    throw err;
  }
  if (echoed !== true) {
    await helper.close();
    throw fail({ kind: 'keychain', detail: 'a test item read back differently from what was written' });
  }

  return {
    kind: 'keyring',
    location: keychain.location,
    warning: undefined,
    get: async (key) => {
      const text = await call({ op: 'get', key });
      if (text === null || text === undefined) return undefined;
      const value = parseValue(text);
      if (!value) {
        throw new AuthdError(
          'store_error',
          `The ${keychain.name} item "${key}" (service "${KEYRING_SERVICE}") does not hold authd data.`,
          keychain.removeHint(key),
        );
      }
      return value;
    },
    put: async (key, value) => {
      const text = JSON.stringify(value);
      const bytes = Buffer.byteLength(text, 'utf8');
      if (bytes > MAX_VALUE_BYTES) {
        throw new AuthdError(
          'store_error',
          `The entry "${key}" is ${bytes} bytes, over the ${MAX_VALUE_BYTES}-byte limit for an item in the ${keychain.name}; it was not written.`,
          'keep only the refresh token and small metadata in it, or set store = "file"',
        );
      }
      await call({ op: 'set', key, value: text });
    },
    delete: async (key) => (await call({ op: 'delete', key })) === true,
    keys: async () => {
      const accounts = await call({ op: 'list' });
      if (!Array.isArray(accounts)) throw fail({ kind: 'keychain', detail: 'the item list was not a list' });
      return [...new Set(accounts.filter((a): a is string => typeof a === 'string' && a !== PROBE_KEY))];
    },
    close: () => helper.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// The helper: a plain CommonJS script run by this same Node binary with `-e`. Requests and replies
// are one JSON object per line. It uses the async API, one call at a time (a set and a get of one
// key must not overtake each other), so its event loop stays free to notice its stdin closing.

const HELPER_SOURCE = String.raw`'use strict';
const SERVICE = ${JSON.stringify(KEYRING_SERVICE)};
const OPTS = process.platform === 'linux' ? { linux: { store: 'secret-service' } } : undefined;
let lib, loadError;
try { lib = require(process.argv[1]); } catch (e) { loadError = 'load: ' + String((e && e.message) || e); }
const entry = (account) => new lib.AsyncEntry(SERVICE, account, OPTS);
const ops = {
  get: (m, s) => entry(m.key).getPassword(s),
  set: async (m, s) => { await entry(m.key).setPassword(m.value, s); return null; },
  delete: (m, s) => entry(m.key).deleteCredential(s),
  list: async (m, s) => (await lib.findCredentialsAsync(SERVICE, undefined, s)).map((c) => c.account),
  probe: async (m, s) => {
    const e = entry(m.key);
    await e.setPassword(m.value, s);
    const back = await e.getPassword(s);
    await e.deleteCredential(s);
    await lib.findCredentialsAsync(SERVICE, undefined, s);
    return back === m.value;
  },
};
let busy = 0;
let chain = Promise.resolve();
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buf += chunk;
  for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    let m;
    try { m = JSON.parse(line); } catch { continue; }
    busy++;
    chain = chain.then(() => run(m)).then((reply) => {
      busy--;
      process.stdout.write(JSON.stringify(reply) + '\n');
    });
  }
});
// Parent gone or done. A native call still running would make process.exit() wait for it.
process.stdin.on('end', () => (busy ? process.kill(process.pid, 'SIGKILL') : process.exit(0)));
async function run(m) {
  try {
    if (loadError) throw new Error(loadError);
    const op = ops[m.op];
    if (!op) throw new Error('unknown operation');
    return { id: m.id, ok: true, result: await op(m, AbortSignal.timeout(m.timeoutMs)) };
  } catch (e) {
    return { id: m.id, ok: false, error: String((e && e.message) || e) };
  }
}
`;

type Request =
  | { op: 'get' | 'delete'; key: string }
  | { op: 'set'; key: string; value: string }
  | { op: 'list' }
  | { op: 'probe'; key: string; value: string };

type Failure =
  | { kind: 'timeout' }
  | { kind: 'exited'; detail: string }
  | { kind: 'load'; detail: string }
  | { kind: 'keychain'; detail: string };

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

interface Pending {
  resolve(value: unknown): void;
  reject(failure: Failure): void;
  timer: NodeJS.Timeout;
}

interface Running {
  child: ChildProcess;
  /** The calls sent to this helper and not answered yet. */
  pending: Map<number, Pending>;
  /** Why we killed it, given to every call still waiting on it. */
  killedFor: Failure | undefined;
}

class Helper {
  private running: Running | undefined;
  private nextId = 1;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly modulePath: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly idleMs: number,
  ) {}

  call(req: Request, timeoutMs: number): Promise<unknown> {
    clearTimeout(this.idleTimer);
    const running = this.running ?? this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // The keychain is stuck on this call (and everything queued behind it): kill the helper.
        running.pending.delete(id);
        reject({ kind: 'timeout' } satisfies Failure);
        this.kill(running, { kind: 'timeout' });
      }, timeoutMs);
      running.pending.set(id, { resolve, reject, timer });
      running.child.stdin?.write(`${JSON.stringify({ ...req, id, timeoutMs })}\n`);
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    const running = this.running;
    if (!running) return;
    const exited = new Promise<void>((resolve) => running.child.once('exit', () => resolve()));
    if (running.pending.size > 0) this.kill(running, { kind: 'exited', detail: 'the store was closed' });
    else running.child.stdin?.end();
    const late = setTimeout(() => this.kill(running, { kind: 'exited', detail: 'the store was closed' }), 1000);
    await exited;
    clearTimeout(late);
  }

  private start(): Running {
    // NODE_OPTIONS could make the helper open an inspector port or preload code; it needs neither.
    const { NODE_OPTIONS: _o, NODE_EXTRA_CA_CERTS: _c, ...env } = this.env;
    const child = spawn(process.execPath, ['--input-type=commonjs', '-e', HELPER_SOURCE, this.modulePath], {
      env,
      stdio: ['pipe', 'pipe', 'ignore'],
      windowsHide: true,
    });
    const running: Running = { child, pending: new Map(), killedFor: undefined };
    this.running = running;
    // Only pending calls (their timers) keep the process alive; an idle helper never does.
    child.unref();
    for (const stream of [child.stdin, child.stdout]) if (stream instanceof Socket) stream.unref();
    child.stdin?.on('error', () => undefined); // EPIPE if it died; 'exit' reports that
    createInterface({ input: child.stdout! }).on('line', (line) => this.onReply(running, line));
    const gone = (detail: string) => {
      if (this.running === running) this.running = undefined;
      const failure = running.killedFor ?? { kind: 'exited', detail };
      for (const [id, p] of running.pending) {
        clearTimeout(p.timer);
        running.pending.delete(id);
        p.reject(failure);
      }
    };
    child.on('error', (err) => gone(`could not start it: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    child.on('exit', (code, signal) => gone(signal ? `it was killed by ${signal}` : `it exited with code ${code}`));
    return running;
  }

  private onReply(running: Running, line: string): void {
    let reply: Reply;
    try {
      reply = JSON.parse(line) as Reply;
    } catch {
      return;
    }
    const p = running.pending.get(reply.id);
    if (!p) return; // already timed out
    running.pending.delete(reply.id);
    clearTimeout(p.timer);
    if (reply.ok) p.resolve(reply.result);
    else if (reply.error?.startsWith('load: ')) p.reject({ kind: 'load', detail: reply.error.slice(6) });
    else p.reject({ kind: 'keychain', detail: reply.error ?? 'unknown error' });
    if (running.pending.size === 0 && this.running === running) {
      clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => this.idle(running), this.idleMs).unref();
    }
  }

  private idle(running: Running): void {
    if (running.pending.size > 0 || this.running !== running) return;
    this.running = undefined; // the next call starts a fresh one
    running.child.stdin?.end();
  }

  private kill(running: Running, why: Failure): void {
    running.killedFor ??= why;
    if (this.running === running) this.running = undefined;
    running.child.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------
// Naming the keychain and turning the library's errors into one clear sentence and what to do.

interface Keychain {
  /** For sentences: "the Secret Service keychain". */
  name: string;
  location: string;
  removeHint(key: string): string;
}

function describeKeychain(): Keychain {
  switch (process.platform) {
    case 'darwin':
      return {
        name: 'macOS Keychain',
        location: 'macOS Keychain',
        removeHint: (key) =>
          `remove it with \`security delete-generic-password -s ${KEYRING_SERVICE} -a ${shellQuote(key)}\``,
      };
    case 'win32':
      return {
        name: 'Windows Credential Manager',
        location: 'Windows Credential Manager',
        removeHint: (key) => `remove the credential "${key}.${KEYRING_SERVICE}" in Credential Manager`,
      };
    default:
      return {
        name: 'Secret Service keychain',
        location: `Secret Service (service "${KEYRING_SERVICE}")`,
        removeHint: (key) =>
          `remove it with \`secret-tool clear service ${KEYRING_SERVICE} username ${shellQuote(key)}\``,
      };
  }
}

/** Every keychain error's hint ends with this; `auto` replaces it with its own wording. */
export const OR_FILE = '; or set store = "file"';

const UNLOCK_HINT =
  'unlock it: log in to the desktop session (or unlock the "Login" keyring in Seahorse, "Passwords and Keys"); ' +
  'on a machine without a desktop, start the keyring unlocked before authd with ' +
  '`printf %s "$PASSWORD" | gnome-keyring-daemon --unlock --components=secrets`';

function toAuthdError(f: Failure, keychain: Keychain, env: NodeJS.ProcessEnv, timeoutMs: number): AuthdError {
  const err = (message: string, fix: string) => new AuthdError('store_error', message, `${fix}${OR_FILE}`);
  const linux = process.platform !== 'darwin' && process.platform !== 'win32';
  switch (f.kind) {
    case 'timeout':
      return err(
        `The ${keychain.name} did not answer within ${seconds(timeoutMs)}.`,
        linux
          ? 'check that gnome-keyring-daemon (or KWallet) is running and not waiting on an unlock prompt, then retry'
          : 'check that the keychain is unlocked and no keychain prompt is waiting, then retry',
      );
    case 'load':
      return err(
        `The keychain library @napi-rs/keyring could not be loaded on this platform (${clip(f.detail)}).`,
        'reinstall authd so that the @napi-rs/keyring package for this platform is present',
      );
    case 'exited':
      return err(
        `The ${keychain.name} could not be used: the helper process that talks to it stopped (${f.detail}).`,
        'retry',
      );
    case 'keychain':
      break;
  }
  const detail = f.detail;
  if (linux) {
    const address = env.DBUS_SESSION_BUS_ADDRESS;
    if (/autolaunch|DBUS_SESSION_BUS_ADDRESS|no secret service provider or dbus session|Failed to connect to/i.test(detail)) {
      const why = address
        ? `the D-Bus session bus at ${address} cannot be reached`
        : `DBUS_SESSION_BUS_ADDRESS is ${address === '' ? 'empty' : 'unset'}, so there is no D-Bus session bus`;
      return err(
        `The ${keychain.name} is unavailable: ${why}.`,
        'run authd in a desktop session, or on a machine without one under `dbus-run-session` with gnome-keyring ' +
          'started unlocked (`printf %s "$PASSWORD" | gnome-keyring-daemon --unlock --components=secrets`)',
      );
    }
    if (/org\.freedesktop\.secrets|ServiceUnknown|NameHasNoOwner/i.test(detail)) {
      return err(
        `No ${keychain.name} (gnome-keyring or KWallet) is running on the D-Bus session bus.`,
        'install gnome-keyring and start it unlocked (`printf %s "$PASSWORD" | gnome-keyring-daemon --unlock --components=secrets`)',
      );
    }
    if (/Did not receive a reply|NoReply/i.test(detail)) {
      // libdbus's own reply timeout (2 s): the keychain is hung, not locked ("blocked the reply" is not "locked").
      return err(
        `The ${keychain.name} did not answer (D-Bus gave up waiting for its reply).`,
        'check that gnome-keyring-daemon (or KWallet) is running and not waiting on an unlock prompt, then retry',
      );
    }
    if (/no result found|\blocked\b|prompt was dismissed/i.test(detail)) {
      // "no result found": no default ("login") collection, as when gnome-keyring was never unlocked.
      return err(`The ${keychain.name} is locked, so authd cannot keep secrets in it.`, UNLOCK_HINT);
    }
  }
  return err(`The ${keychain.name} failed: ${clip(detail)}.`, 'check that the keychain is unlocked');
}

function parseValue(text: unknown): StoredSession | undefined {
  if (typeof text !== 'string') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const ok = typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { v?: unknown }).v === 1;
  return ok ? (value as StoredSession) : undefined;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** Library messages carry no secrets, but keep them to one short line. */
function clip(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim().replace(/\.$/, '');
  return one.length > 240 ? `${one.slice(0, 237)}...` : one;
}
