// `authd get-token` on Node (no C compiler, or AUTHD_NATIVE=0) starts dist/get-token-start.cjs, which
// runs the fast path (dist/get-token-fast.cjs) with the V8 code cache the build made for it (issue 13).
// The cache only saves compiling: a cache this Node cannot use (another Node's, a damaged file, none)
// leaves every answer the same. What the fast path prints is compared with the full client in
// native-client.test.ts; here, how it starts, and that neither it nor git's helper on Node loads
// node:net where Node lends its pipe handle (and what happens where it does not).
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { devProfile, exitCode, Home, type Result } from './support/harness.js';

const REPO = resolve(__dirname, '..');
const DIST = join(REPO, 'dist');

let idp: Idp;
let home: Home;
const cleanup: (() => void)[] = [];

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 3600 });
  home = new Home('authd-nf.');
  home.writeConfig({ acme: devProfile(idp, { git_hosts: ['git.acme.test'] }) }, { default_profile: 'acme' });
  await home.login('acme');
});

afterAll(async () => {
  for (const f of cleanup) f();
  await home?.dispose();
  await idp?.close();
});

function run(bin: string, args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((done) => {
    execFile(bin, args, { env, encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => done({ code: exitCode(err), stdout, stderr }));
  });
}

/** A copy of bin/ and dist/ whose code cache is `cache` (undefined: none), as another install would be. */
function installWithCache(cache: Buffer | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'authd-nf-copy.'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  for (const sub of ['bin', 'dist']) mkdirSync(join(dir, sub), { mode: 0o755 });
  for (const f of ['bin/authd', 'dist/authd.cjs', 'dist/get-token.cjs', 'dist/get-token-fast.cjs', 'dist/get-token-start.cjs', 'dist/daemon.mjs', 'dist/peercred.node']) {
    copyFileSync(join(REPO, f), join(dir, f));
  }
  chmodSync(join(dir, 'bin/authd'), 0o755);
  if (cache) writeFileSync(join(dir, 'dist/get-token-fast.cache'), cache);
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  return join(dir, 'bin', 'authd');
}

test('the build leaves a code cache for the fast path that this Node takes, and bin/authd starts the fast path through it', () => {
  expect(readFileSync(join(REPO, 'bin/authd'), 'utf8')).toMatch(/get-token\) client=get-token-start\.cjs/);
  expect(existsSync(join(DIST, 'get-token-fast.cache'))).toBe(true);
  expect(refused(readFileSync(join(DIST, 'get-token-fast.cache')))).toBe(false);
  // A cache for other code (or damaged) is refused by V8, not run.
  expect(refused(Buffer.from('not V8 code'.repeat(100)))).toBe(true);
});

/**
 * Whether this Node refuses `cache` for the fast path's bundle, compiled as get-token-start.cjs
 * compiles it: each in a process of its own, as V8 may reuse, in one process, what it compiled for
 * the same text before without looking at the cache (Node 24 does).
 */
function refused(cache: Buffer): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'authd-nf-cache.'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'cache'), cache);
  const code = `const { compile } = require(${JSON.stringify(join(DIST, 'get-token-start.cjs'))});
process.stdout.write(String(compile(${JSON.stringify(join(DIST, 'get-token-fast.cjs'))}, require('node:fs').readFileSync(process.argv[1])).cachedDataRejected));`;
  return execFileSync(process.execPath, ['-e', code, join(dir, 'cache')], { encoding: 'utf8' }) === 'true';
}

test('with the code cache, without it, and with one this Node refuses, get-token answers the same, from the fast path', async () => {
  const env = { ...home.env, AUTHD_NATIVE: '0', AUTHD_TEST_FAST_PATH: '1' };
  const results: Result[] = [];
  for (const bin of [join(REPO, 'bin/authd'), installWithCache(undefined), installWithCache(Buffer.alloc(4096, 7)),
    installWithCache(readFileSync(join(DIST, 'get-token-fast.cache')).subarray(0, 100))]) {
    results.push(await run(bin, ['get-token', '--format', 'json'], env));
  }
  expect(results[0]!.code).toBe(0);
  expect(results[0]!.stderr).toBe('authd: fast path: answered\n');
  expect(JSON.parse(results[0]!.stdout).profile).toBe('acme');
  for (const r of results.slice(1)) expect(r).toEqual(results[0]);
});

test('an error answer through the code-cached fast path: printed once, exit code as the full client gives it', async () => {
  const env = { ...home.env, AUTHD_NATIVE: '0' };
  const fast = await run(join(REPO, 'bin/authd'), ['get-token', '-p', 'nosuch'], env);
  const full = await run(process.execPath, [join(DIST, 'get-token.cjs'), 'get-token', '-p', 'nosuch'], env);
  expect(fast.code).toBe(2);
  expect(fast).toEqual(full);
  expect(fast.stderr.match(/no profile named nosuch/g)).toHaveLength(1);
});

/** A preload (NODE_OPTIONS=--require) that first runs `setup`, and at exit says on stderr whether node:net was loaded. */
function preload(name: string, setup: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'authd-nf-preload.'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, `${name}.cjs`);
  writeFileSync(file, `${setup}
process.on('exit', () => require('node:fs').writeSync(2, 'node:net ' + (process.moduleLoadList.includes('NativeModule net') ? 'loaded' : 'not loaded') + '\\n'));
`);
  return file;
}

test('get-token on Node answers on its pipe handle without loading node:net, and prints what the full client prints', async () => {
  const env = { ...home.env, AUTHD_NATIVE: '0', AUTHD_TEST_FAST_PATH: '1', NODE_OPTIONS: `--require ${preload('record', '')}` };
  const [fast, full] = await Promise.all([run(join(REPO, 'bin/authd'), ['get-token', '-f', 'json'], env),
    run(process.execPath, [join(DIST, 'get-token.cjs'), 'get-token', '-f', 'json'], env)]);
  expect(fast.stderr).toBe('authd: fast path: answered\nnode:net not loaded\n');
  expect(full.stderr).toBe('node:net loaded\n');
  expect(JSON.parse(fast.stdout)).toEqual(JSON.parse(full.stdout));
});

test.each([
  ['without process.binding (as a later Node may be)', 'delete process.binding;'],
  ['whose pipe binding is not in the shape known', "process.binding = () => ({ Pipe: function () {} });"],
  ['whose process.binding throws', "process.binding = () => { throw new Error('no'); };"],
])('on a Node %s, the fast path answers through node:net, the same', async (_, setup) => {
  const env = { ...home.env, AUTHD_NATIVE: '0', AUTHD_TEST_FAST_PATH: '1' };
  const usual = await run(join(REPO, 'bin/authd'), ['get-token', '-f', 'json'], env);
  const other = await run(join(REPO, 'bin/authd'), ['get-token', '-f', 'json'], { ...env, NODE_OPTIONS: `--require ${preload('other', setup)}` });
  expect(other).toEqual({ ...usual, stderr: `${usual.stderr}node:net loaded\n` });
  expect(usual.stderr).toBe('authd: fast path: answered\n');
});

test('Node run with --pending-deprecation or --throw-deprecation: the pipe handle is taken without a deprecation warning or a throw', async () => {
  const env = { ...home.env, AUTHD_NATIVE: '0', AUTHD_TEST_FAST_PATH: '1' };
  const usual = await run(join(REPO, 'bin/authd'), ['get-token'], env);
  for (const flags of ['--pending-deprecation', '--pending-deprecation --throw-deprecation', '--pending-deprecation --trace-deprecation']) {
    const r = await run(join(REPO, 'bin/authd'), ['get-token'], { ...env, NODE_OPTIONS: `${flags} --require ${preload('dep', '')}` });
    expect(r, flags).toEqual({ ...usual, stderr: `${usual.stderr}node:net not loaded\n` });
  }
});

describe("git's helper on Node", () => {
  const HELPER = join(REPO, 'bin/git-credential-authd');
  const INPUT = 'protocol=https\nhost=git.acme.test\n\n';

  interface HelperRun {
    gapMs?: number;
    eof?: boolean;
    wrapper?: string[];
    argv?: string[];
    onStderr?: (said: string, stdin: import('node:stream').Writable) => void;
  }
  /**
   * The helper (or `argv`) with `env`, its input written in `pieces` `gapMs` apart, stdin left open
   * unless `eof`; through `wrapper` (argv before the helper) if given; `onStderr` sees its stderr so far.
   */
  function helper(env: Record<string, string>, pieces: string[], { gapMs = 0, eof = true, wrapper = [], argv = [HELPER, 'get'], onStderr }: HelperRun = {}): Promise<Result> {
    return new Promise((done) => {
      const [cmd, ...args] = [...wrapper, ...argv];
      const child = spawn(cmd!, args, { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
        onStderr?.(stderr, child.stdin);
      });
      const timer = setTimeout(() => child.kill(), 20_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        child.stdin.destroy();
        done({ code: code ?? -1, stdout, stderr });
      });
      child.stdin.on('error', () => undefined);
      for (const [i, p] of pieces.entries()) {
        setTimeout(() => {
          child.stdin.write(p);
          if (eof && i === pieces.length - 1) child.stdin.end();
        }, gapMs * (i + 1));
      }
    });
  }

  test('git get on Node answers without loading node:net (stdin read from its descriptor, the daemon asked on the pipe handle), as the full client answers', async () => {
    const env = { ...home.env, AUTHD_NATIVE: '0', NODE_OPTIONS: `--require ${preload('record', '')}` };
    const fast = await helper(env, [INPUT]);
    const full = await helper(env, [INPUT], { argv: [process.execPath, join(DIST, 'authd.cjs'), 'git-credential', 'get'] });
    expect(fast.code).toBe(0);
    expect(fast.stdout).toMatch(/^username=.*\npassword=[\w.~+/=-]+\n/);
    expect(fast).toEqual({ ...full, stderr: 'node:net not loaded\n' });
    expect(full.stderr).toBe('node:net loaded\n');
  });

  test('input in pieces, and stdin git keeps open after the blank line: answered at the blank line', async () => {
    const env = { ...home.env, AUTHD_NATIVE: '0' };
    const whole = await helper(env, [INPUT]);
    const pieces = await helper(env, ['protocol=ht', 'tps\nhost=git.acme', '.test\n', '\n'], { gapMs: 40, eof: false });
    expect(pieces).toEqual(whole);
    expect(whole.stdout).toMatch(/^username=/);
  });

  test('a stdin set non-blocking (as some parents leave it), empty or after part of the input: read on as a stream, the same answer', async () => {
    const env = { ...home.env, AUTHD_NATIVE: '0' };
    const whole = await helper(env, [INPUT]);
    // The real descriptor, set non-blocking by a wrapper; the preload says when a read found nothing
    // there yet (EAGAIN), and only then is the rest written: no race with the helper's start.
    const nonBlocking = ['python3', '-c', 'import fcntl, os, sys; fcntl.fcntl(0, fcntl.F_SETFL, fcntl.fcntl(0, fcntl.F_GETFL) | os.O_NONBLOCK); os.execv(sys.argv[1], sys.argv[1:])'];
    const saysEagain = preload('eagain', `const fs = require('node:fs'); const readSync = fs.readSync;
fs.readSync = function (...args) { try { return readSync.apply(this, args); } catch (err) { if (err.code === 'EAGAIN') fs.writeSync(2, 'EAGAIN\\n'); throw err; } };`);
    for (const first of ['', 'protocol=https\n']) {
      const r = await helper({ ...env, NODE_OPTIONS: `--require ${saysEagain}` }, first ? [first] : [], {
        wrapper: nonBlocking,
        eof: false,
        onStderr: (said, stdin) => {
          if (said.startsWith('EAGAIN\n') && !stdin.writableEnded) stdin.end(INPUT.slice(first.length));
        },
      });
      // The stream that took over is a net.Socket on a pipe: node:net was loaded for it.
      expect(r, JSON.stringify(first)).toEqual({ ...whole, stderr: 'EAGAIN\nnode:net loaded\n' });
    }
  });

  test('no daemon running: the helper on Node starts one, as the full client does, and answers', async () => {
    const h = new Home('authd-nf-git.');
    cleanup.push(() => void h.dispose());
    h.writeConfig({ acme: devProfile(idp, { git_hosts: ['git.acme.test'] }) }, { default_profile: 'acme' });
    await h.login('acme');
    await h.run(['daemon', 'stop']);
    const r = await helper({ ...h.env, AUTHD_NATIVE: '0' }, [INPUT]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^username=.*\npassword=/);
    expect((await h.run(['daemon', 'status'])).stdout).toMatch(/running/);
  });
});
