// The V8 code cache of get-token's Node fast path (dist/get-token-fast.cache), made at build time: a
// child Node compiles the bundle as dist/get-token-start.cjs does, runs `authd get-token` once against
// a stand-in daemon on a private temporary socket (so every function a real get-token runs, to its
// exit, is compiled), and writes V8's code for all of it beside the bundle as it exits. Saves each
// `authd get-token` on Node ~1 ms of compiling. Any failure here only means no cache: authd then
// compiles as before.
import { execFile } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHILD = `
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const [dist, out] = process.argv.slice(1);
const { compile, load } = require(join(dist, 'get-token-start.cjs'));
const file = join(dist, 'get-token-fast.cjs');
const script = compile(file, undefined);
process.on('exit', (code) => { if (code === 0) writeFileSync(out, script.createCachedData(), { mode: 0o644 }); });
const { start } = load(script, file);
process.argv = [process.argv[0], file, 'get-token'];
start();
`;

/** Writes dist/get-token-fast.cache; returns why it could not, or undefined. */
export async function makeCodeCache(dist) {
  const dir = mkdtempSync(join(tmpdir(), 'authd-cache.'));
  const socket = join(dir, 'authd.sock');
  const server = createServer((conn) => {
    conn.on('data', () => conn.write(`${JSON.stringify({ v: 1, id: 1, result: { access_token: 'build', token_type: 'Bearer', expires_at: 2000000000, profile: 'build' } })}\n`));
    conn.on('error', () => undefined);
  });
  // Beside its final name (a rename across file systems, a tmpfs /tmp, would fail). The build removed
  // the old cache before bundling: none is left if this fails.
  const target = join(dist, 'get-token-fast.cache');
  const tmp = join(dist, `.get-token-fast.cache.${process.pid}`);
  try {
    await new Promise((resolve, reject) => server.listen(socket, resolve).once('error', reject));
    // The child's environment is this one's but for what would change its flags (the cache must match the V8 that reads it).
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', AUTHD_SOCKET: socket };
    const stdout = await new Promise((resolve, reject) => {
      execFile(process.execPath, ['-e', CHILD, dist, tmp], { env, timeout: 20_000 }, (err, out, errOut) => (err ? reject(new Error(`${err.message} ${errOut}`.trim())) : resolve(out)));
    });
    if (stdout !== 'build\n') return `the fast path did not answer the stand-in daemon (${JSON.stringify(stdout)})`;
    renameSync(tmp, target);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    server.close();
    rmSync(tmp, { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}
