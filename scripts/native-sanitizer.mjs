// CI: the native code built with AddressSanitizer and UndefinedBehaviorSanitizer. The peer-credential
// addon (src/native/peercred.c), loaded into Node and driven through every call with good and bad
// input; the native client (src/native/authd-client.c: get-token and git's get), run against a fake
// daemon socket with good and bad answers and git input; and a seeded mutation loop over its parsers
// (answers, KUBERNETES_EXEC_INFO, git's input) for a bounded time
// (AUTHD_FUZZ_SECONDS, default 20; AUTHD_FUZZ_SEED). A sanitizer report, or a call or run that does
// not end as it must, fails the run.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeIncludeDir } from './build-native.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const SANITIZER_ENV = { ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' };
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

  await nativeClient();
  fuzz();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function sanitized(source, out, defines = []) {
  execFileSync('gcc', ['-std=c11', '-g', '-O1', '-fno-omit-frame-pointer', '-fsanitize=address,undefined', '-fno-sanitize-recover=all',
    '-Wall', '-Wextra', '-Werror', ...defines, join(root, source), '-o', out], { stdio: 'inherit' });
}

/** The client built to exit 99 where it would start the Node client, against a fake daemon. */
async function nativeClient() {
  const client = join(dir, 'authd-native');
  sanitized('src/native/authd-client.c', client, ['-DAUTHD_TEST_FALLBACK']);
  const sockDir = join(dir, 'run');
  mkdirSync(sockDir, { mode: 0o700 });
  const sock = join(sockDir, 'authd.sock');
  let answer = '';
  const server = net.createServer((c) => {
    c.on('data', () => c.end(answer));
    c.on('error', () => undefined);
  });
  await new Promise((r) => server.listen(sock, r));
  const ok = (result) => `${JSON.stringify({ id: 1, result })}\n`;
  const cases = [
    // [answer, argv, expected exit, expected stdout, stdin, expected stderr (when given)]
    [ok({ access_token: 'tok', token_type: 'Bearer', expires_at: 1900000000, profile: 'p' }), ['get-token'], 0, 'tok\n'],
    [ok({ access_token: 'tok', token_type: 'DPoP', expires_at: 1900000000, profile: 'p' }), ['get-token', '-f', 'header'], 0, 'Authorization: DPoP tok\n'],
    [ok({ access_token: 'tok', token_type: 'B\u0001\u{1F600}', profile: 'p\\' }), ['-p', 'p', 'get-token', '--format=json', '--min-ttl', '1.5'], 0,
      '{"access_token":"tok","token_type":"B\\u0001\u{1F600}","expires_at":null,"profile":"p\\\\"}\n'],
    [ok({ access_token: 'tok', token_type: 'Bearer', expires_at: 0, profile: 'p' }), ['get-token', '-f', 'exec-credential'], 0,
      '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"tok","expirationTimestamp":"1970-01-01T00:00:00Z"}}\n'],
    // A warning (a stored secret past max_age): printed on stderr as the Node client prints it, made printable; not handed over.
    [ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p', warning: 'key\u001b]52;c;eA==\u0007 old\n\u0085\u200b!' }), ['get-token'], 0, 'tok\n', '',
      'authd: warning: key ]52;c;eA==  old !\n'],
    [ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p', warning: { not: 'a string' } }), ['get-token'], 0, 'tok\n', '', ''],
    [`${JSON.stringify({ id: 1, error: { code: 'login_required', message: 'x' } })}\n`, ['get-token'], 99, ''],
    [`${JSON.stringify({ id: 1, error: { code: 'secret_required', message: 'x', data: { env: 'X' } } })}\n`, ['get-token'], 99, ''],
    ['{"id":1,"result":{"access_token":"t",\n', ['get-token'], 99, ''],
    ['{"id":1,"result":{"access_token":"\\ud800","token_type":"B","profile":"p"}}\n', ['get-token'], 99, ''],
    [`{"id":1,"result":{"access_token":"${'a'.repeat(70_000)}","token_type":"B","profile":"p"}}\n`, ['get-token'], 99, ''],
    ['{"id":1', ['get-token'], 99, ''],
    ['', ['get-token'], 99, ''],
    [ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p' }), ['get-token', '--bogus'], 99, ''],
    [ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p' }), ['status'], 99, ''],
    // git's get: [answer, argv, exit, stdout, stdin, stderr if checked]
    [ok({ attrs: [['username', 'oauth2'], ['password', 'tok']], message: 'a\u001b[2J\u0085\u200bb' }), ['git-credential', 'get'], 0,
      'username=oauth2\npassword=tok\n', 'capability[]=authtype\r\nprotocol=https\r\nhost=h\u00e9\r\n\r\n'],
    [ok({ attrs: [] }), ['git-credential', 'get'], 0, '', 'protocol=https\nhost=h'],
    [ok({ attrs: [['password', 'p\nquit=1']] }), ['git-credential', 'get'], 99, '', 'protocol=https\nhost=h\n\n'],
    [ok({ attrs: [['password', 'p']] }), ['git-credential', 'get'], 99, '', 'protocol=https\nhost\n\n'],
    [ok({ attrs: [['password', 'p']] }), ['git-credential', 'get'], 99, '', `path=${'x'.repeat(70_000)}\n\n`],
    [`${JSON.stringify({ id: 1, error: { code: 'idp_error', message: 'x' } })}\n`, ['git-credential', 'get'], 99, '', 'host=h\n\n'],
  ];
  try {
    for (const [a, args, code, stdout, input = '', stderr] of cases) {
      answer = a;
      const r = await new Promise((done) => {
        const child = execFile(client, args, { env: { ...SANITIZER_ENV, PATH: process.env.PATH, AUTHD_SOCKET: sock, AUTHD_NOT_ANSWERING_MS: '2000',
          KUBERNETES_EXEC_INFO: '{"apiVersion":"client.authentication.k8s.io/v1","x":[1,{"y":"\\u00e9"}]}' }, encoding: 'utf8' },
        (err, out, errOut) => done({ status: err ? err.code : 0, stdout: out, stderr: errOut }));
        child.stdin.on('error', () => undefined);
        child.stdin.end(input);
      });
      if (r.status !== code || r.stdout !== stdout || (stderr !== undefined && r.stderr !== stderr) || /Sanitizer|runtime error/.test(r.stderr)) {
        process.stderr.write(r.stderr);
        throw new Error(`the sanitized native client, given ${JSON.stringify(a.slice(0, 80))} and ${args.join(' ')}: exit ${r.status}, stdout ${JSON.stringify(r.stdout)}`);
      }
    }
    console.log(`sanitized native client: ${cases.length} answers: ok`);
  } finally {
    server.close();
  }
}

/** The seeded mutation loop over the answer and KUBERNETES_EXEC_INFO parsers (test/native/fuzz-answer.c). */
function fuzz() {
  const bin = join(dir, 'fuzz-answer');
  sanitized('test/native/fuzz-answer.c', bin);
  const seconds = process.env.AUTHD_FUZZ_SECONDS ?? '20';
  const seed = process.env.AUTHD_FUZZ_SEED ?? String(Date.now());
  const r = spawnSync(bin, [seconds, seed], { env: { ...SANITIZER_ENV, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1' }, encoding: 'utf8' });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  if (r.status !== 0) throw new Error(`the answer parser failed under mutation (seed ${seed}; rerun with AUTHD_FUZZ_SEED=${seed})`);
}
