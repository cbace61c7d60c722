// CI: the peer-credential addon (src/native/peercred.c) built with AddressSanitizer and
// UndefinedBehaviorSanitizer, loaded into Node and driven through every call with good and bad
// input. A sanitizer report, or a call that does not throw where it must, fails the run.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeIncludeDir } from './build-native.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'authd-asan.'));
const addon = join(dir, 'peercred.node');
try {
  const include = nodeIncludeDir();
  if (!include) throw new Error("Node's headers were not found");
  execFileSync('gcc', ['-g', '-O1', '-fno-omit-frame-pointer', '-fsanitize=address,undefined', '-fno-sanitize-recover=all',
    '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', `-I${include}`, join(root, 'src/native/peercred.c'), '-o', addon], { stdio: 'inherit' });
  const libasan = execFileSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  const drive = `
    const net = require('node:net');
    const m = { exports: {} };
    process.dlopen(m, ${JSON.stringify(addon)});
    const { peerCred, harden } = m.exports;
    const mustThrow = (what, fn) => { try { fn(); } catch { return; } throw new Error(what + ' did not throw'); };
    const path = ${JSON.stringify(join(dir, 's.sock'))};
    const server = net.createServer((sock) => {
      const them = peerCred(sock._handle.fd);
      if (them.uid !== process.getuid()) throw new Error('server side: wrong uid');
      sock.end();
    }).listen(path, () => {
      const c = net.connect(path, () => {
        const us = peerCred(c._handle.fd);
        if (us.pid !== process.pid || us.uid !== process.getuid()) throw new Error('client side: wrong peer');
        const file = require('node:fs').openSync(${JSON.stringify(join(dir, 'plain'))}, 'w');
        for (const bad of [-1, 2 ** 31, 999999, file, NaN, 1.5, Infinity]) mustThrow('peerCred(' + bad + ')', () => peerCred(bad));
        mustThrow('peerCred()', () => peerCred());
        mustThrow('peerCred("x")', () => peerCred('x'));
        const h = harden();
        if (h.dumpable !== 0) throw new Error('still dumpable');
        c.destroy(); server.close(); console.log('sanitized addon: ok');
      });
    });`;
  const r = spawnSync(process.execPath, ['-e', drive], {
    env: { ...process.env, LD_PRELOAD: libasan, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' },
    encoding: 'utf8',
  });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  if (r.status !== 0) throw new Error(`the sanitized addon failed (exit ${r.status ?? r.signal})`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
