// The pieces both sides share: framing, the error table, argument parsing, output formats.
import { describe, expect, test } from 'vitest';
import { parseArgs } from '../src/client/args.js';
import { execCredentialVersion, formatToken } from '../src/client/token-format.js';
import { AuthdError, EXIT_CODES, encodeFrame, LineDecoder, MAX_FRAME_BYTES, resolvePaths } from '../src/protocol/index.js';
import { UntilRejected } from '../src/protocol/until-rejected.js';

describe('framing', () => {
  test('frames split across chunks and several frames in one chunk come out whole and in order', () => {
    const d = new LineDecoder();
    const wire = Buffer.from(encodeFrame({ a: 'é' }) + encodeFrame({ b: 2 }));
    const out = [...d.push(wire.subarray(0, 5)), ...d.push(wire.subarray(5, 13)), ...d.push(wire.subarray(13))];
    expect(out).toEqual([{ frame: '{"a":"é"}' }, { frame: '{"b":2}' }]);
    expect(d.pending).toBe(0);
  });

  test('a frame over 64 KiB is reported as too large, with or without its newline', () => {
    expect(new LineDecoder().push(Buffer.alloc(MAX_FRAME_BYTES + 1, 'a'))).toEqual([{ tooLarge: true }]);
    const withNl = Buffer.concat([Buffer.alloc(MAX_FRAME_BYTES + 1, 'a'), Buffer.from('\n')]);
    expect(new LineDecoder().push(withNl)).toEqual([{ tooLarge: true }]);
    const d = new LineDecoder();
    d.push(Buffer.alloc(MAX_FRAME_BYTES - 10, 'a'));
    expect(d.push(Buffer.alloc(20, 'a'))).toEqual([{ tooLarge: true }]);
  });

  test('a frame of exactly 64 KiB is accepted', () => {
    const body = Buffer.alloc(MAX_FRAME_BYTES, 'a');
    expect(new LineDecoder().push(Buffer.concat([body, Buffer.from('\n')]))).toEqual([{ frame: body.toString() }]);
  });
});

describe('errors', () => {
  test('every error code maps to the exit code the design gives', () => {
    expect(EXIT_CODES.login_required).toBe(3);
    expect(EXIT_CODES.idp_unreachable).toBe(4);
    expect(EXIT_CODES.daemon_unreachable).toBe(5);
    expect(EXIT_CODES.usage).toBe(2);
    expect(EXIT_CODES.config_error).toBe(2);
    expect(new AuthdError('internal', 'x').exitCode).toBe(1);
  });

  test('an unknown code from the wire becomes internal, keeping the message', () => {
    const e = AuthdError.fromWire({ code: 'bogus' as 'internal', message: 'm', hint: 'h' });
    expect(e.code).toBe('internal');
    expect(e.message).toBe('m');
  });
});

describe('arguments', () => {
  const spec = { profile: { short: 'p', value: true }, json: {} };

  test('long, short, inline values and -- are understood', () => {
    expect(parseArgs(['-p', 'a', '--json', 'x', '--', '-p', 'b'], spec, 'c')).toEqual({
      flags: { profile: 'a', json: true }, positionals: ['x'], rest: ['-p', 'b'],
    });
    expect(parseArgs(['--profile=z'], spec, 'c').flags.profile).toBe('z');
  });

  test('an unknown flag, a missing value and a value given to a switch are usage errors', () => {
    expect(() => parseArgs(['--nope'], spec, 'c')).toThrow(/unknown option --nope/);
    expect(() => parseArgs(['-p'], spec, 'c')).toThrow(/needs a value/);
    expect(() => parseArgs(['--json=1'], spec, 'c')).toThrow(/takes no value/);
    try {
      parseArgs(['-x'], spec, 'c');
    } catch (e) {
      expect((e as AuthdError).exitCode).toBe(2);
    }
  });
});

describe('token formats', () => {
  const t = { access_token: 'tok', token_type: 'bearer', expires_at: 1_800_000_000, profile: 'p' };

  test('header uses the Bearer scheme whatever case the provider used', () => {
    expect(formatToken(t, 'header')).toBe('Authorization: Bearer tok\n');
  });

  test('exec-credential is a kubectl ExecCredential v1 with an RFC 3339 expiry', () => {
    expect(JSON.parse(formatToken(t, 'exec-credential'))).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'tok', expirationTimestamp: '2027-01-15T08:00:00Z' },
    });
  });

  test('exec-credential for kubectl before 1.22 is the same ExecCredential in v1beta1', () => {
    expect(JSON.parse(formatToken(t, 'exec-credential', 'client.authentication.k8s.io/v1beta1'))).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1beta1',
      kind: 'ExecCredential',
      status: { token: 'tok', expirationTimestamp: '2027-01-15T08:00:00Z' },
    });
  });

  test('the ExecCredential version is the one KUBERNETES_EXEC_INFO names; v1 when it names none', () => {
    const info = (apiVersion: unknown) => ({ KUBERNETES_EXEC_INFO: JSON.stringify({ kind: 'ExecCredential', apiVersion }) });
    expect(execCredentialVersion(info('client.authentication.k8s.io/v1beta1'))).toBe('client.authentication.k8s.io/v1beta1');
    expect(execCredentialVersion(info('client.authentication.k8s.io/v1'))).toBe('client.authentication.k8s.io/v1');
    for (const env of [{}, { KUBERNETES_EXEC_INFO: '' }, { KUBERNETES_EXEC_INFO: '{' }, { KUBERNETES_EXEC_INFO: '[]' }, info(7), info('')]) {
      expect(execCredentialVersion(env)).toBe('client.authentication.k8s.io/v1');
    }
    for (const other of ['client.authentication.k8s.io/v1alpha1', 'client.authentication.k8s.io/v2', 'v1beta1']) {
      expect(() => execCredentialVersion(info(other))).toThrow(expect.objectContaining({ code: 'usage', message: expect.stringContaining(other) }));
    }
  });

  test('json carries exactly access_token, token_type, expires_at and profile', () => {
    expect(JSON.parse(formatToken(t, 'json'))).toEqual(t);
  });
});

describe('paths', () => {
  test('AUTHD_HOME isolates config, state and socket', () => {
    const p = resolvePaths({ AUTHD_HOME: '/h' });
    expect(p).toMatchObject({ configFile: '/h/config.toml', stateDir: '/h/state', socket: '/h/run/authd.sock' });
  });

  test('another state dir gets another socket name; AUTHD_SOCKET wins', () => {
    const a = resolvePaths({ HOME: '/home/a', XDG_RUNTIME_DIR: '/run/user/1' });
    const b = resolvePaths({ HOME: '/home/a', XDG_STATE_HOME: '/elsewhere', XDG_RUNTIME_DIR: '/run/user/1' });
    expect(a.socketDir).toBe('/run/user/1/authd');
    expect(b.socketDir).toBe('/run/user/1/authd');
    expect(a.socket).not.toBe(b.socket);
    expect(resolvePaths({ AUTHD_SOCKET: '/x/s.sock' }).socket).toBe('/x/s.sock');
  });
});

test('the default home keeps the plain socket name; another HOME gets a hashed one', async () => {
  const { userInfo } = await import('node:os');
  const own = resolvePaths({ HOME: userInfo().homedir, XDG_RUNTIME_DIR: '/run/user/1' });
  expect(own.socket).toBe('/run/user/1/authd/authd.sock');
  const other = resolvePaths({ HOME: '/home/someone-else', XDG_RUNTIME_DIR: '/run/user/1' });
  expect(other.socket).toMatch(/^\/run\/user\/1\/authd\/authd\.[0-9a-f]{10}\.sock$/);
});

describe('UntilRejected (discovery, stored secrets, key files, the SDK connection)', () => {
  test('callers share one success; after a failure the next call tries again', async () => {
    const memo = new UntilRejected<number>();
    let calls = 0;
    const ok = () => Promise.resolve(++calls);
    expect(await Promise.all([memo.get(ok), memo.get(ok)])).toEqual([1, 1]);
    expect(await memo.get(ok)).toBe(1);
    const failing = new UntilRejected<number>();
    await expect(failing.get(() => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await failing.get(ok)).toBe(2);
  });

  test('a failure does not clear a value put in its place meanwhile', async () => {
    const memo = new UntilRejected<string>();
    let fail!: (e: Error) => void;
    const first = memo.get(() => new Promise<string>((_, reject) => (fail = reject)));
    memo.set(Promise.resolve('newer'));
    fail(new Error('late'));
    await expect(first).rejects.toThrow('late');
    expect(await memo.get(() => Promise.resolve('made again'))).toBe('newer');
    expect(await memo.take()).toBe('newer');
    expect(memo.take()).toBeUndefined();
  });
});
