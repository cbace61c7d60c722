// The native fast path of `authd get-token` and of git's `get` (dist/authd-native, issue 13) is
// invisible to the user: the same stdout, stderr and exit code as the Node client (AUTHD_NATIVE=0),
// byte for byte, for every format, flag, input and error; it finds the same socket as
// src/protocol/paths.ts; and it answers by itself where it should (a test build says when it would
// hand over to Node, and how much of git's input it hands on).
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { EXIT_CODES, type ErrorCode } from '../src/protocol/errors.js';
import { checkSocketPath, resolvePaths } from '../src/protocol/paths.js';
import { AUTHD, devProfile, exitCode, Home, type Result } from './support/harness.js';

// This file compares the two clients itself: a run of the suite with AUTHD_NATIVE=0 does not apply here.
delete process.env.AUTHD_NATIVE;

const NATIVE = resolve(__dirname, '../dist/authd-native');
const GIT_HELPER = resolve(__dirname, '../bin/git-credential-authd');
/** The whole Node client of get-token, which the native client and the Node fast path hand over to. */
const FULL_NODE = resolve(__dirname, '../dist/get-token.cjs');
const SOURCE = resolve(__dirname, '../src/native/authd-client.c');
const V1BETA1 = 'client.authentication.k8s.io/v1beta1';

let scratch: string;
/** The client built to exit 99 where it would hand over to Node, saying why on stderr. */
let probe: string;

function run(cmd: string, args: string[], env: Record<string, string>, input: string | Buffer = ''): Promise<Result> {
  return new Promise((done) => {
    const child = execFile(cmd, args, { env, encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      const code = exitCode(err);
      done({ code, stdout, stderr });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

beforeAll(() => {
  if (!existsSync(NATIVE)) throw new Error('dist/authd-native was not built: `npm run build` needs a C compiler');
  scratch = mkdtempSync(join(tmpdir(), 'authd-nt.'));
  probe = join(scratch, 'authd-native-probe');
  execFileSync('cc', ['-std=c11', '-Wall', '-Wextra', '-Werror', '-O1', '-DAUTHD_TEST_FALLBACK', SOURCE, '-o', probe]);
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the socket path is the one src/protocol/paths.ts resolves', () => {
  const me = userInfo();
  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: me.homedir };
  const cases: Record<string, Record<string, string>> = {
    'no settings (TMPDIR unset, /tmp)': {},
    'XDG_RUNTIME_DIR': { XDG_RUNTIME_DIR: '/run/user/4242' },
    'XDG_RUNTIME_DIR with trailing slash and dots': { XDG_RUNTIME_DIR: '/run//user/./x/../4242/' },
    'XDG_RUNTIME_DIR empty, TMPDIR set': { XDG_RUNTIME_DIR: '', TMPDIR: '/var/tmp/' },
    'TMPDIR empty, TMP set': { TMPDIR: '', TMP: '/tmp/tmp-var' },
    'TMPDIR and TMP empty, TEMP set': { TMPDIR: '', TMP: '', TEMP: 'relative/temp' },
    'AUTHD_HOME absolute': { AUTHD_HOME: '/srv/authd-home' },
    'AUTHD_HOME relative with ..': { AUTHD_HOME: 'a/../../b//c/' },
    'AUTHD_HOME "."': { AUTHD_HOME: '.' },
    'AUTHD_SOCKET explicit': { AUTHD_SOCKET: '/tmp/x/y/agent.sock', AUTHD_HOME: '/ignored' },
    'AUTHD_SOCKET relative': { AUTHD_SOCKET: 'agent.sock' },
    'AUTHD_SOCKET at the root': { AUTHD_SOCKET: '/agent.sock' },
    'AUTHD_SOCKET with a doubled root': { AUTHD_SOCKET: '//agent.sock' },
    'another HOME: hashed name': { HOME: '/home/elsewhere' },
    'HOME empty: the password database': { HOME: '' },
    'XDG_STATE_HOME: hashed name': { XDG_STATE_HOME: '/state/here', XDG_RUNTIME_DIR: '/run/user/1' },
    'XDG_STATE_HOME naming the default state dir': { XDG_STATE_HOME: join(me.homedir, '.local/state') },
    'XDG_STATE_HOME relative': { XDG_STATE_HOME: 'st' },
    'a non-ASCII state dir (UTF-16 hash)': { XDG_STATE_HOME: '/home/zoë/état', TMPDIR: '/tmp' },
    'an astral state dir (surrogate pairs)': { HOME: '/home/\u{1F600}x' },
    'a socket path over 100 bytes': { AUTHD_HOME: `/tmp/${'d'.repeat(100)}` },
  };
  for (const [name, vars] of Object.entries(cases)) {
    test(name, () => {
      const env: Record<string, string> = { ...base, ...vars };
      // resolvePaths reads os.tmpdir() and os.homedir() from process.env: give it the same environment.
      const saved = { ...process.env };
      let expected: string | undefined;
      try {
        for (const k of Object.keys(process.env)) delete process.env[k];
        Object.assign(process.env, env);
        const paths = resolvePaths(process.env);
        try {
          checkSocketPath(paths);
          expected = paths.socket;
        } catch {
          expected = undefined; // refused (too long): the native client must leave it to Node
        }
      } finally {
        for (const k of Object.keys(process.env)) delete process.env[k];
        Object.assign(process.env, saved);
      }
      let got: string | undefined;
      try {
        got = execFileSync(NATIVE, [], { env: { ...env, AUTHD_NATIVE: 'paths' }, encoding: 'utf8' }).split('\n')[0];
      } catch (err) {
        expect((err as { status: number }).status).toBe(3);
      }
      expect(got).toBe(expected);
    });
  }
});

test('every exit code the native client gives itself is the one src/protocol/errors.ts gives that error code', () => {
  // The C source marks each such exit with its code: `exit(5); /* daemon_unreachable */`.
  const exits = [...readFileSync(SOURCE, 'utf8').matchAll(/exit\((\d+)\); \/\* (\w+) \*\//g)].map((m) => [m[2], Number(m[1])] as const);
  expect(exits.length).toBeGreaterThan(0);
  for (const [code, status] of exits) expect({ code, status }).toEqual({ code, status: EXIT_CODES[code as ErrorCode] });
});

const AGED = ['aged-node', 'aged-native', 'aged-probe'];
const AGED_KEY = 'sk_old_0123456789abcdef';

describe('against a real daemon, the native client and the Node client print the same', () => {
  let idp: Idp;
  let home: Home;

  beforeAll(async () => {
    idp = await startIdp({ accessTokenTtl: 3600 });
    home = new Home('authd-nc.');
    home.writeConfig({ acme: devProfile(idp, { git_hosts: ['git.acme.test'] }), other: devProfile(idp),
      never: devProfile(idp, { git_hosts: ['git.never.test'] }),
      ...Object.fromEntries(AGED.map((name) => [name, { flow: 'api_key', max_age: '90d' }])) }, { default_profile: 'acme' });
    // API keys set 100 days ago, one per client: get-token warns about each once a day (the store is
    // written before the daemon opens it: a file store holding entries is kept).
    const entries = Object.fromEntries(AGED.map((name) => [`secret:${name}`, { v: 1, secret: AGED_KEY, stored_at: Date.now() - 100 * 86_400_000 }]));
    mkdirSync(home.stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(home.stateDir, 'credentials.json'), `${JSON.stringify({ v: 1, entries })}\n`, { mode: 0o600 });
    await home.login('acme');
    await home.login('other');
  });

  afterAll(async () => {
    await home?.dispose();
    await idp?.close();
  });

  /**
   * Runs both clients through bin/authd (the Node client's fast path, get-token-fast.ts, where it is
   * get-token), the full Node client (dist/get-token.cjs) and the probe build; returns the probe's
   * fallback reason (undefined: it answered) and what the Node fast path did (undefined: not started).
   */
  async function same(args: string[], extra: Record<string, string> = {}): Promise<{ result: Result; handedOver?: string; fast?: string }> {
    const env = { ...home.env, ...extra };
    // Side by side: each asks the daemon for what it already holds (a cached token, or the same error).
    const [node, native, full, fast, p] = await Promise.all([
      run(AUTHD, args, { ...env, AUTHD_NATIVE: '0' }),
      run(AUTHD, args, env),
      args[0] === 'get-token' ? run(process.execPath, [FULL_NODE, ...args], env) : undefined,
      run(AUTHD, args, { ...env, AUTHD_NATIVE: '0', AUTHD_TEST_FAST_PATH: '1' }),
      run(probe, args, env),
    ]);
    expect(native).toEqual(node);
    if (full) expect(full).toEqual(node);
    const said = /^authd: fast path: (.*)\n/m.exec(fast.stderr);
    expect({ ...fast, stderr: fast.stderr.replace(/^authd: fast path: .*\n/m, '') }).toEqual(node);
    if (p.code === 99) return { result: node, handedOver: /fallback: (.*)/.exec(p.stderr)?.[1], fast: said?.[1] };
    expect(p).toEqual(node);
    return { result: node, fast: said?.[1] };
  }

  const handled: [string, string[], Record<string, string>?][] = [
    ['the default profile, as a bare token', ['get-token']],
    ['--format json', ['get-token', '--format', 'json']],
    ['--format=header', ['get-token', '--format=header']],
    ['-f exec-credential (v1)', ['get-token', '-f', 'exec-credential']],
    ['exec-credential in the version KUBERNETES_EXEC_INFO names', ['get-token', '--format', 'exec-credential'],
      { KUBERNETES_EXEC_INFO: JSON.stringify({ kind: 'ExecCredential', apiVersion: V1BETA1, spec: { interactive: false } }) }],
    ['exec-credential with unreadable KUBERNETES_EXEC_INFO (v1)', ['get-token', '--format', 'exec-credential'], { KUBERNETES_EXEC_INFO: '[1,2]' }],
    ['-p before the command', ['-p', 'other', 'get-token']],
    ['--profile= after the command overrides the one before', ['--profile=acme', 'get-token', '--profile=other', '-f', 'json']],
    ['AUTHD_PROFILE', ['get-token', '--format', 'json'], { AUTHD_PROFILE: 'other' }],
    ['-p wins over AUTHD_PROFILE', ['get-token', '-p', 'acme', '--format', 'json'], { AUTHD_PROFILE: 'other' }],
    ['--min-ttl 60', ['get-token', '--min-ttl', '60']],
    ['--min-ttl=0', ['get-token', '--min-ttl=0']],
    ['--min-ttl 007.50 (sent as 7.5)', ['get-token', '--min-ttl', '007.50', '--format', 'json']],
    ['NODE_EXTRA_CA_CERTS set', ['get-token'], { NODE_EXTRA_CA_CERTS: '/etc/ssl/certs/ca-certificates.crt' }],
    ['--scope, a narrower token (repeats and spaces dropped)', ['get-token', '--scope', 'openid  openid', '-f', 'json']],
    ['--scope=', ['get-token', '--scope=openid offline_access', '--min-ttl', '0']],
  ];
  for (const [name, args, env] of handled) {
    test(`${name}: answered by the native client and by the Node fast path, as Node answers`, async () => {
      const { result, handedOver, fast } = await same(args, env);
      expect(result.code).toBe(0);
      expect(result.stdout).not.toBe('');
      expect(handedOver).toBeUndefined();
      // Options before the command go to the whole Node client (bin/authd picks by the first word).
      expect(fast).toBe(args[0] === 'get-token' ? 'answered' : undefined);
    });
  }

  // The third column: what the Node fast path does (it prints an error answer itself; the native
  // client hands that to Node with the answer).
  const leftToNode: [string, string[], 'answered' | 'handed to the full client' | undefined, Record<string, string>?][] = [
    ['a profile that is not logged in (login required, exit 3)', ['get-token', '-p', 'never'], 'answered'],
    ['an unknown profile (exit 2)', ['get-token', '-p', 'nosuch'], 'answered'],
    ['an invalid profile name', ['get-token', '-p', '../x'], 'handed to the full client'],
    ['an unknown format', ['get-token', '--format', 'yaml'], 'handed to the full client'],
    ['--min-ttl out of range', ['get-token', '--min-ttl', '86401'], 'handed to the full client'],
    ['--min-ttl not a number', ['get-token', '--min-ttl', '1e3'], 'handed to the full client'],
    ['--help', ['get-token', '--help'], 'handed to the full client'],
    ['-h before the command', ['-h', 'get-token'], undefined],
    ['a positional argument', ['get-token', 'extra'], 'handed to the full client'],
    ['an unknown option', ['get-token', '--min_ttl', '5'], 'handed to the full client'],
    ['a value missing', ['get-token', '--format'], 'handed to the full client'],
    ['another command', ['help', 'get-token'], undefined],
    ['--version', ['--version'], undefined],
    ['an empty --scope', ['get-token', '--scope', ''], 'handed to the full client'],
    ['a --scope with a quote', ['get-token', '--scope', 'a"b'], 'handed to the full client'],
    ['a --scope with a tab', ['get-token', '--scope', 'a\tb'], 'handed to the full client'],
    ['--resource (the Node client asks for it)', ['get-token', '--resource', 'https://api.example.com/'], 'answered'],
    ['--id-token (the session\'s ID token)', ['get-token', '--id-token'], 'handed to the full client'],
    ['--id-token as json', ['get-token', '-f', 'json', '--id-token'], 'handed to the full client'],
    ['a version of ExecCredential authd does not speak', ['get-token', '-f', 'exec-credential'], 'handed to the full client',
      { KUBERNETES_EXEC_INFO: '{"apiVersion":"client.authentication.k8s.io/v1alpha1"}' }],
  ];
  for (const [name, args, fastPath, env] of leftToNode) {
    test(`${name}: left to the Node client, same output (Node fast path: ${fastPath ?? 'not started'})`, async () => {
      const { handedOver, fast } = await same(args, env);
      expect(handedOver).toBeDefined();
      expect(fast).toBe(fastPath);
    });
  }

  /** git's `get` through bin/git-credential-authd, both ways, and the probe build; as `same` does. */
  async function sameForGit(input: string | Buffer, action = 'get'): Promise<{ result: Result; handedOver?: string; input?: string }> {
    const node = await run(GIT_HELPER, [action], { ...home.env, AUTHD_NATIVE: '0' }, input);
    const native = await run(GIT_HELPER, [action], home.env, input);
    expect(native).toEqual(node);
    const p = await run(probe, ['git-credential', action], home.env, input);
    if (p.code === 99) return { result: node, handedOver: /fallback: (.*)/.exec(p.stderr)?.[1], input: /input: (.*)/.exec(p.stderr)?.[1] };
    expect(p).toEqual(node);
    return { result: node };
  }

  test('git get for a host in git_hosts: answered by the native client with a fresh token, as Node answers', async () => {
    const { result, handedOver } = await sameForGit('capability[]=authtype\nprotocol=https\nhost=git.acme.test\npath=org/repo.git\n\n');
    expect(handedOver).toBeUndefined();
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^username=.*\npassword=[\w.~+/=-]+\n/);
    expect(result.stderr).toBe('');
  });

  test('git get with CRLF lines, no blank line, wwwauth[] and odd bytes in values: answered natively, as Node answers', async () => {
    const { result, handedOver } = await sameForGit('protocol=https\r\nhost=git.acme.test\r\nwwwauth[]=Bearer realm="h\u00e9", error="x=y"\r\nusername=');
    expect(handedOver).toBeUndefined();
    expect(result.stdout).toContain('password=');
  });

  test('git get for a host authd does not map and stores nothing for: nothing printed, natively, as Node', async () => {
    const { result, handedOver } = await sameForGit('protocol=https\nhost=elsewhere.test\n\n');
    expect(handedOver).toBeUndefined();
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  test('git get for a stored credential of an unmapped host: the stored one, natively, as Node', async () => {
    const stored = await run(GIT_HELPER, ['store'], home.env, 'protocol=https\nhost=stored.test\nusername=u\npassword=p4ss\n\n');
    expect(stored.code).toBe(0);
    const { result, handedOver } = await sameForGit('protocol=https\nhost=stored.test\n\n');
    expect(handedOver).toBeUndefined();
    expect(result.stdout).toContain('password=p4ss\n');
  });

  test('git get for a mapped host whose profile is logged out: the one line for the user on stderr, natively, as Node', async () => {
    const { result, handedOver } = await sameForGit('protocol=https\nhost=git.never.test\n\n');
    expect(handedOver).toBeUndefined();
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/never/);
  });

  const gitLeftToNode: [string, string | Buffer, string, string][] = [
    ['store', 'protocol=https\nhost=other.test\nusername=u\npassword=p\n\n', 'store', 'arguments'],
    ['erase', 'protocol=https\nhost=other.test\n\n', 'erase', 'arguments'],
    ['an action git added later', 'protocol=https\nhost=other.test\n\n', 'frobnicate', 'arguments'],
    ['a NUL in the input', 'protocol=https\nhost=a\0b\n\n', 'get', 'input'],
    ['a line without key=value', 'protocol=https\nhost\n\n', 'get', 'input'],
    ['a line with an empty key', 'protocol=https\n=x\n\n', 'get', 'input'],
    ['invalid UTF-8 (Node reads it as U+FFFD)', Buffer.from('protocol=https\nhost=\xff.test\n\n', 'latin1'), 'get', 'input'],
    ['more than 64,512 bytes before the blank line', `protocol=https\nhost=git.acme.test\npath=${'a'.repeat(70_000)}\n\n`, 'get', 'input too large'],
  ];
  for (const [name, input, action, why] of gitLeftToNode) {
    test(`git ${action}, ${name}: left to the Node client, which reads the same input and prints the same`, async () => {
      const { result, handedOver } = await sameForGit(input, action);
      expect(handedOver).toBe(why);
      if (why.startsWith('input') && !name.includes('UTF-8')) expect(result).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^authd: the credential from git .*refusing it\n$/) });
    });
  }

  test("a key older than max_age: each client prints the daemon's once-a-day warning itself, the same line, then the token", async () => {
    // The daemon warns once a day per profile: each client asks for its own profile, then all ask again.
    const line = (profile: string) => `authd: warning: the API key of profile ${profile} was set 100 days ago, longer than its max_age of 90d: `
      + `rotate it with \`authd secret set ${profile}\`\n`;
    const node = await run(AUTHD, ['get-token', '-p', 'aged-node', '-f', 'json'], { ...home.env, AUTHD_NATIVE: '0' });
    const native = await run(AUTHD, ['get-token', '-p', 'aged-native', '-f', 'json'], home.env);
    const p = await run(probe, ['get-token', '-p', 'aged-probe', '-f', 'json'], home.env);
    expect(node).toEqual({ code: 0, stdout: `{"access_token":"${AGED_KEY}","token_type":"Bearer","expires_at":null,"profile":"aged-node"}\n`, stderr: line('aged-node') });
    for (const [r, profile] of [[native, 'aged-native'], [p, 'aged-probe']] as const) {
      expect(r).toEqual({ code: 0, stdout: node.stdout.replace('aged-node', profile), stderr: line(profile) });
    }
    for (const profile of AGED) {
      const { result, handedOver } = await same(['get-token', '-p', profile]);
      expect(handedOver).toBeUndefined();
      expect(result).toEqual({ code: 0, stdout: `${AGED_KEY}\n`, stderr: '' });
    }
  });

  test('a dead daemon is started by the Node client, and both print the same token', async () => {
    await home.stop();
    const node = await run(AUTHD, ['get-token', '-f', 'json'], { ...home.env, AUTHD_NATIVE: '0' });
    await home.stop();
    const p = await run(probe, ['get-token'], home.env);
    expect(p.stderr).toMatch(/fallback: (connect|socket directory)/);
    const native = await run(AUTHD, ['get-token', '-f', 'json'], home.env);
    expect(native).toEqual(node);
    expect(native.code).toBe(0);
  });
});

describe('against a fake daemon', () => {
  let dir: string;
  let server: net.Server;
  let answer: (req: string) => string | Buffer | undefined;
  const requests: string[] = [];

  beforeAll(async () => {
    dir = join(scratch, 'fake');
    mkdirSync(dir, { mode: 0o700 });
    server = net.createServer((sock) => {
      let buf = '';
      sock.on('data', (d) => {
        buf += d;
        for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.includes('"getToken"') && !line.includes('"gitCredential"')) continue;
          requests.push(line);
          const a = answer(line);
          if (a !== undefined) sock.write(a);
        }
      });
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(join(dir, 's.sock'), r));
  });

  afterAll(() => server?.close());

  const env = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: userInfo().homedir, AUTHD_SOCKET: join(dir, 's.sock'),
    AUTHD_NOT_ANSWERING_MS: '600' });
  const ok = (result: Record<string, unknown>) => `${JSON.stringify({ v: 1, id: 1, result })}\n`;

  async function both(args: string[]): Promise<{ node: Result; native: Result; probe: Result }> {
    requests.length = 0;
    const node = await run(AUTHD, args, { ...env(), AUTHD_NATIVE: '0' });
    const native = await run(AUTHD, args, env());
    const p = await run(probe, args, env());
    expect(native).toEqual(node);
    return { node, native, probe: p };
  }

  test('the request is the Node client\'s, byte for byte, and carries no environment value', async () => {
    answer = () => ok({ access_token: 'tok', token_type: 'Bearer', expires_at: 1900000000, profile: 'p' });
    const { probe: p } = await both(['get-token', '-p', 'p', '--min-ttl', '30.0']);
    expect(p.code).toBe(0);
    expect(requests).toHaveLength(3);
    expect(requests[1]).toBe(requests[0]);
    expect(requests[2]).toBe(requests[0]);
    expect(JSON.parse(requests[0]!).params).toEqual({ caller: { pid: process.pid, cmd: expect.any(String) }, profile: 'p', minTtl: 30 });
    // A narrower token: the scopes sorted and without repeats, as normalNarrowing has them.
    answer = () => ok({ access_token: 'tok', token_type: 'Bearer', expires_at: 1900000000, profile: 'p', scopes: ['read', 'write'] });
    const { probe: q } = await both(['get-token', '--scope', 'write  read write']);
    expect(q.code).toBe(0);
    expect(requests).toHaveLength(3);
    expect(requests[1]).toBe(requests[0]);
    expect(requests[2]).toBe(requests[0]);
    expect(JSON.parse(requests[0]!).params).toEqual({ caller: expect.any(Object), scopes: ['read', 'write'] });
  });

  const answers: [string, string | Buffer, boolean][] = [
    ['escapes and non-ASCII in token_type and profile', ok({ access_token: 'a-b_c.d~e+f/g==', token_type: 'dP\u00f6\u0001"\\\u{1F600}', profile: 'x\ty' }), true],
    ['DPoP in any case', ok({ access_token: 'tok', token_type: 'dpop', expires_at: 0, profile: 'p' }), true],
    ['no expiry', ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p' }), true],
    ['members in another order, unknown members, whitespace', ' {"result" : {"profile":"p","extra":[1,{"a":null}],"token_type":"Bearer","access_token":"t"}, "id":1,"v":1, "x":true}\r\n', true],
    ['\\u escapes in keys', '{"v":1,"id":1,"result":{"\\u0061ccess_token":"t","token_type":"B","profile":"p"}}\n', true],
    ['a warning with escape sequences, C1 and zero-width characters, line breaks and non-ASCII',
      ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p', warning: 'key\u001b]52;c;eA==\u0007 old\r\n\u0085\u200b\u2028\ufeff! \u00e9\u{1F600} `authd secret set p`' }), true],
    ['an empty warning', ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p', warning: '' }), true],
    ['a null warning', ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p', warning: null }), true],
    ['a warning that is not a string', ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p', warning: 7 }), true],
    ['a warning that is an object', ok({ warning: { text: ['x'] }, access_token: 'tok', token_type: 'Bearer', profile: 'p' }), true],
    ['a repeated warning', '{"v":1,"id":1,"result":{"access_token":"t","token_type":"B","profile":"p","warning":"a","warning":"b"}}\n', false],
    ['an error answer', `${JSON.stringify({ v: 1, id: 1, error: { code: 'login_required', message: 'log in first', hint: 'run `authd login`' } })}\n`, false],
    ['a token that is not a bearer token', ok({ access_token: 'to\u001bken', token_type: 'Bearer', profile: 'p' }), false],
    ['a repeated member', '{"v":1,"id":1,"result":{"access_token":"a","access_token":"b","token_type":"B","profile":"p"}}\n', false],
    ['an expiry with a fraction', ok({ access_token: 'tok', token_type: 'Bearer', expires_at: 1.5, profile: 'p' }), false],
    ['an answer to another request, then silence', `${JSON.stringify({ v: 1, id: 7, result: {} })}\n`, false],
    ['malformed JSON, then silence', '{"v":1,"id":1,"result":{"access_token":"t",}}\n', false],
    ['a lone surrogate', '{"v":1,"id":1,"result":{"access_token":"t","token_type":"\\ud800","profile":"p"}}\n', false],
    ['invalid UTF-8', Buffer.from('{"v":1,"id":1,"result":{"access_token":"t","token_type":"\xff","profile":"p"}}\n', 'latin1'), false],
    ['an answer over 64 KiB', ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p', pad: 'x'.repeat(70_000) }), false],
  ];
  for (const [name, line, native] of answers) {
    test(`${name}: ${native ? 'printed by the native client' : 'left to the Node client'}, as Node prints it`, async () => {
      answer = () => line;
      for (const format of ['token', 'json', 'header', 'exec-credential']) {
        const { probe: p, node } = await both(['get-token', '--format', format]);
        if (native) expect(p).toEqual(node);
        else expect(p.code).toBe(99);
      }
    });
  }

  test('the Node fast path and the full Node client print the same for every answer, from the same request', async () => {
    for (const [name, line, native] of answers) {
      answer = () => line;
      requests.length = 0;
      // The four formats side by side (the format is the client's: every request is the same).
      await Promise.all(['token', 'json', 'header', 'exec-credential'].map(async (format) => {
        const args = ['get-token', '-p', 'p', '--min-ttl', '5', '--format', format];
        const [full, fast] = await Promise.all([run(process.execPath, [FULL_NODE, ...args], env()),
          run(AUTHD, args, { ...env(), AUTHD_NATIVE: '0', AUTHD_TEST_FAST_PATH: '1' })]);
        const said = /^authd: fast path: (.*)\n/m.exec(fast.stderr)?.[1];
        expect({ ...fast, stderr: fast.stderr.replace(/^authd: fast path: .*\n/m, '') }, `${name}, ${format}`).toEqual(full);
        // What the native client answers itself, the fast path does too.
        if (native) expect(said, `${name}, ${format}`).toBe('answered');
      }));
      expect(requests.length, name).toBeGreaterThanOrEqual(8);
      expect(new Set(requests).size, name).toBe(1);
    }
  });

  test('an error answer is printed as the daemon gave it, without asking the daemon again', async () => {
    // Asked twice, this daemon would answer other words: as one whose refused refresh ended the session.
    const error = (message: string) => `${JSON.stringify({ v: 1, id: 1, error: { code: 'login_required', message, hint: 'run `authd login -p p`' } })}\n`;
    answer = () => (requests.length === 1 ? error('first') : error('second'));
    requests.length = 0;
    const node = await run(AUTHD, ['get-token', '-p', 'p'], { ...env(), AUTHD_NATIVE: '0' });
    expect(node).toEqual({ code: 3, stdout: '', stderr: 'authd: first\n  run `authd login -p p`\n' });
    expect(requests).toHaveLength(1);
    requests.length = 0;
    const native = await run(AUTHD, ['get-token', '-p', 'p'], env());
    expect(native).toEqual(node);
    expect(requests).toHaveLength(1);
    requests.length = 0;
    const p = await run(probe, ['get-token', '-p', 'p'], env());
    expect(p.code).toBe(99);
    expect(p.stderr).toContain('fallback: error answer');
    expect(p.stderr).toContain(`answer: {"code":"login_required","message":"first"`);
  });

  test('a warning is printed by the native client itself: the daemon, which gives it once a day, is asked once', async () => {
    const warned = ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p', warning: 'the API key of profile p is old' });
    answer = () => (requests.length === 1 ? warned : ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p' }));
    for (const env_ of [{ ...env(), AUTHD_NATIVE: '0' }, env()]) {
      requests.length = 0;
      const r = await run(AUTHD, ['get-token', '-p', 'p'], env_);
      expect(r).toEqual({ code: 0, stdout: 'tok\n', stderr: 'authd: warning: the API key of profile p is old\n' });
      expect(requests).toHaveLength(1);
    }
    requests.length = 0;
    expect(await run(probe, ['get-token', '-p', 'p'], env())).toEqual({ code: 0, stdout: 'tok\n', stderr: 'authd: warning: the API key of profile p is old\n' });
  });

  test('secret_required is handed over bare: the Node client asks again itself, as it would alone', async () => {
    answer = () => `${JSON.stringify({ v: 1, id: 1, error: { code: 'secret_required', message: 'needs a secret', data: { env: 'NOT_IN_ANY_CONFIG' } } })}\n`;
    const { node, native, probe: p } = await both(['get-token']);
    expect(node.code).toBe(2);
    expect(native).toEqual(node);
    expect(p.stderr).toContain('fallback: secret_required');
    expect(p.stderr).not.toContain('answer:');
    expect(requests).toHaveLength(4); // Node alone 1 (its fast path answers it as the full client does), native 1 + the Node it hands to 1, probe 1
  });

  test('a malformed AUTHD_NATIVE_ANSWER is ignored: the Node client asks the daemon', async () => {
    answer = () => ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p' });
    for (const bad of ['{"code":', '"login_required"', 'null', '[1]']) {
      requests.length = 0;
      const r = await run(AUTHD, ['get-token'], { ...env(), AUTHD_NATIVE: '0', AUTHD_NATIVE_ANSWER: bad });
      expect(r).toEqual({ code: 0, stdout: 'tok\n', stderr: '' });
      expect(requests).toHaveLength(1);
    }
  });

  const GIT_INPUT = 'protocol=https\nhost=git.example.test\nwwwauth[]=Bearer realm="\u00e9\\"\nusername=\u0001\n\n';

  /** git's get through the launcher both ways and the probe, against the fake daemon. */
  async function bothForGit(input = GIT_INPUT): Promise<{ node: Result; native: Result; probe: Result }> {
    requests.length = 0;
    const node = await run(GIT_HELPER, ['get'], { ...env(), AUTHD_NATIVE: '0' }, input);
    const native = await run(GIT_HELPER, ['get'], env(), input);
    const p = await run(probe, ['git-credential', 'get'], env(), input);
    expect(native).toEqual(node);
    return { node, native, probe: p };
  }

  test("git's request is the Node client's, byte for byte: the attrs as git sent them, in order", async () => {
    answer = () => ok({ attrs: [['username', 'oauth2'], ['password', 'tok']] });
    const { node, probe: p } = await bothForGit();
    expect(node).toEqual({ code: 0, stdout: 'username=oauth2\npassword=tok\n', stderr: '' });
    expect(p).toEqual(node);
    expect(requests).toHaveLength(3);
    expect(requests[1]).toBe(requests[0]);
    expect(requests[2]).toBe(requests[0]);
    expect(JSON.parse(requests[0]!).params).toEqual({ action: 'get', caller: { pid: process.pid, cmd: expect.any(String) },
      attrs: [['protocol', 'https'], ['host', 'git.example.test'], ['wwwauth[]', 'Bearer realm="\u00e9\\"'], ['username', '\u0001']] });
  });

  const gitAnswers: [string, string, boolean][] = [
    ['a message with escape sequences, C1 and zero-width characters, and no attrs', ok({ attrs: [], message: 'log in\u001b]52;c;eA==\u0007 now\u0085\u200b\u2028\ufeff!' }), true],
    ['an empty message', ok({ attrs: [['username', 'u']], message: '' }), true],
    ['a null message', ok({ attrs: [['username', 'u']], message: null }), true],
    ['members in another order, unknown members, whitespace', ' {"result" : {"x":[{"y":null}], "attrs" : [ [ "a[]" , "1" ] , ["b_c","=2"] ] }, "id":1, "v":1}\n', true],
    ['a value with a line break: refused after the message, as Node refuses it', ok({ message: 'first', attrs: [['username', 'u'], ['password', 'p\nquit=1']] }), false],
    ['a key git would not read: refused', ok({ attrs: [['Pass word', 'p']] }), false],
    ['an attr that is not a pair', ok({ attrs: [['username', 'u', 'x']] }), false],
    ['no attrs', ok({ message: 'm' }), false],
    ['a message that is not a string', ok({ attrs: [], message: 7 }), false],
    ['an error answer', `${JSON.stringify({ v: 1, id: 1, error: { code: 'idp_error', message: 'the provider is down' } })}\n`, false],
  ];
  for (const [name, line, native] of gitAnswers) {
    test(`git's answer, ${name}: ${native ? 'printed by the native client' : 'left to the Node client'}, as Node prints it`, async () => {
      answer = () => line;
      const { probe: p, node } = await bothForGit();
      if (native) expect(p).toEqual(node);
      else expect(p.code).toBe(99);
      expect(node.stdout).not.toMatch(/quit=1\n$/);
      expect(node.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b\u2028\ufeff]/);
    });
  }

  test("git's get with an error answer: printed once, the daemon not asked again, git's input handed on whole", async () => {
    const error = (message: string) => `${JSON.stringify({ v: 1, id: 1, error: { code: 'idp_error', message } })}\n`;
    answer = () => (requests.length === 1 ? error('first') : error('second'));
    requests.length = 0;
    const node = await run(GIT_HELPER, ['get'], { ...env(), AUTHD_NATIVE: '0' }, GIT_INPUT);
    expect(node.stderr).toBe('authd: first\n');
    requests.length = 0;
    const native = await run(GIT_HELPER, ['get'], env(), GIT_INPUT);
    expect(native).toEqual(node);
    expect(requests).toHaveLength(1);
    requests.length = 0;
    const p = await run(probe, ['git-credential', 'get'], env(), GIT_INPUT);
    expect(p.stderr).toContain('fallback: error answer');
    expect(p.stderr).toContain(`input: ${Buffer.byteLength(GIT_INPUT)} bytes`);
  });

  test("git's get with a refused answer: the message is printed once, then the same refusal as Node's", async () => {
    answer = () => ok({ message: 'first', attrs: [['password', 'p\nquit=1']] });
    const { node, native } = await bothForGit();
    expect(node).toEqual({ code: 1, stdout: '', stderr: 'first\nauthd: the answer for git holds a line break or NUL in password; not passing it to git\n' });
    expect(native).toEqual(node);
    expect(requests).toHaveLength(3); // Node alone, native (not asked again by the Node it hands to), probe
  });

  test("git's get with secret_required: handed over bare with git's input, the Node client asks again itself", async () => {
    answer = () => `${JSON.stringify({ v: 1, id: 1, error: { code: 'secret_required', message: 'needs a secret', data: { env: 'NOT_IN_ANY_CONFIG' } } })}\n`;
    const { node, native, probe: p } = await bothForGit();
    expect(node.code).toBe(2);
    expect(native).toEqual(node);
    expect(p.stderr).toContain('fallback: secret_required');
    expect(requests).toHaveLength(4); // Node alone 1, native 1 + the Node it hands to 1, probe 1
    expect(requests[2]).toBe(requests[1]);
  });

  test("git's get from a daemon that accepts and says nothing: the native client asks, then the full Node connection, and nobody a third time", async () => {
    answer = () => undefined;
    requests.length = 0;
    const node = await run(GIT_HELPER, ['get'], { ...env(), AUTHD_NATIVE: '0' }, GIT_INPUT);
    expect(node.code).toBe(5);
    expect(node.stderr).toMatch(/is not answering/);
    expect(requests).toHaveLength(2); // Node alone: its own ask, then the full connection's
    requests.length = 0;
    const native = await run(GIT_HELPER, ['get'], env(), GIT_INPUT);
    expect(native).toEqual(node);
    expect(requests).toHaveLength(2); // the native client's, then the Node it hands to goes straight to the full connection
    const p = await run(probe, ['git-credential', 'get'], env(), GIT_INPUT);
    expect(p.stderr).toContain('fallback: no answer');
    expect(p.stderr).toContain('authd-native: asked');
  });

  test("git's answer refusing a long key names it, as Node does", async () => {
    const key = 'k'.repeat(70);
    answer = () => ok({ attrs: [[key, 'a\nb']] });
    const { node } = await bothForGit();
    expect(node.stderr).toBe(`authd: the answer for git holds a line break or NUL in ${key}; not passing it to git\n`);
  });

  test('git input of exactly 64,512 bytes before its blank line is read whole by the native client, as by Node', async () => {
    answer = () => ok({ attrs: [['username', 'u']] });
    const head = 'protocol=https\nhost=h\npath=';
    const input = `${head}${'a'.repeat(64_512 - head.length)}\n\r\n`;
    const { node, probe: p } = await bothForGit(input);
    expect(node).toEqual({ code: 0, stdout: 'username=u\n', stderr: '' });
    expect(p).toEqual(node);
  });

  test('a daemon from before --scope answers with the session\'s own token: both clients refuse to print it as a narrower one', async () => {
    answer = () => ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p' });
    const { node, probe: p } = await both(['get-token', '--scope', 'read']);
    expect(node).toEqual({ code: 1, stdout: '',
      stderr: "authd: the running daemon answered with the session's own token, not one for those scopes: it predates --scope\n  restart it (`authd daemon stop`; the next command starts the new one)\n" });
    expect(p.stderr).toContain('fallback: scopes');
    answer = () => ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p', scopes: ['read'] });
    const served = await both(['get-token', '--scope', 'read']);
    expect(served.node).toEqual({ code: 0, stdout: 'tok\n', stderr: '' });
    expect(served.probe).toEqual(served.node);
  });

  test('a once-a-day warning beside a token the native client leaves to Node to print: printed once, as Node alone prints it', async () => {
    // The daemon warns on the first ask of the day only; exec-credential with no expiry is Node's to write.
    const token = { access_token: 'tok', token_type: 'Bearer', profile: 'p', expires_at: null };
    answer = () => ok(requests.length === 1 ? { ...token, warning: 'the key is 91 days old' } : token);
    requests.length = 0;
    const node = await run(AUTHD, ['get-token', '-f', 'exec-credential'], { ...env(), AUTHD_NATIVE: '0' });
    requests.length = 0;
    const native = await run(AUTHD, ['get-token', '-f', 'exec-credential'], env());
    expect(native).toEqual(node);
    expect(native.stderr).toBe('authd: warning: the key is 91 days old\n');
  });

  test('an echo of a resource or audience the native client never asks for is left to Node, which judges it', async () => {
    answer = () => ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p', scopes: ['read'], resource: 'https://r.test/' });
    const { node, probe: p } = await both(['get-token', '--scope', 'read']);
    expect(node.code).toBe(1);
    expect(p.stderr).toContain('fallback: answer');
  });

  test('a daemon that accepts and says nothing: the Node client reports it', async () => {
    answer = () => undefined;
    const { node, probe: p } = await both(['get-token']);
    expect(node.code).toBe(5);
    expect(p.stderr).toContain('fallback: no answer');
  });

  test('an explicit AUTHD_SOCKET where nothing listens: the same error', async () => {
    const gone = { ...env(), AUTHD_SOCKET: join(dir, 'none.sock') };
    const node = await run(AUTHD, ['get-token'], { ...gone, AUTHD_NATIVE: '0' });
    const native = await run(AUTHD, ['get-token'], gone);
    expect(native).toEqual(node);
    expect(node.code).toBe(5);
  });

  test('a socket directory others can enter is refused before anything is sent', async () => {
    answer = () => ok({ access_token: 'tok', token_type: 'Bearer', profile: 'p' });
    chmodSync(dir, 0o755);
    try {
      const { node, probe: p } = await both(['get-token']);
      expect(node.code).not.toBe(0);
      expect(node.stderr).toMatch(/refusing to connect/);
      expect(p.stderr).toContain('fallback: socket directory not private');
      expect(p.stderr).not.toContain('asked');
      expect(requests).toHaveLength(0);
    } finally {
      chmodSync(dir, 0o700);
    }
  });
});
