// Bad input never hurts the daemon: whatever arrives on its socket or on the command line, it
// answers with a clear error or drops the connection, keeps serving everyone else, and loses no data.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import { partialFrameMs } from '../src/daemon/connections.js';
import { devProfile, Home, type Result, sleep } from './support/harness.js';

interface Answer {
  id: number | string | null;
  result?: Record<string, unknown>;
  error?: { code: string; message: string; hint?: string };
}

/** A client speaking the wire protocol by hand: it sends whatever bytes it is given. */
class RawClient {
  readonly answers: Answer[] = [];
  /** Lines the daemon sent that were not JSON (there should be none). */
  readonly junk: string[] = [];
  closedAt: number | undefined;
  private buf = '';
  private read = 0;
  private wake: (() => void) | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (s: string) => {
      this.buf += s;
      for (let nl = this.buf.indexOf('\n'); nl !== -1; nl = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        try {
          this.answers.push(JSON.parse(line) as Answer);
        } catch {
          this.junk.push(line);
        }
      }
      this.wake?.();
    });
    // Writes into a connection the daemon has closed fail with EPIPE: that is expected here.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closedAt = Date.now();
      this.wake?.();
    });
  }

  static async open(path: string): Promise<RawClient> {
    for (let attempt = 0; ; attempt++) {
      const socket = net.connect(path);
      try {
        await once(socket, 'connect');
        return new RawClient(socket);
      } catch (err) {
        // A full accept queue while hundreds connect at once on a busy machine: the kernel says try again.
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt >= 100) throw err;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  }

  get closed(): boolean {
    return this.closedAt !== undefined;
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next answer not yet returned; fails if none arrives in time or the connection closes. */
  async next(timeoutMs = 5000): Promise<Answer> {
    const deadline = Date.now() + timeoutMs;
    while (this.read >= this.answers.length) {
      if (this.closed) throw new Error('the daemon closed the connection without answering');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no answer within ${timeoutMs} ms`);
      await this.until(left);
    }
    return this.answers[this.read++]!;
  }

  /** Sends one request line and returns the answer to it. */
  async ask(request: unknown): Promise<Answer> {
    this.send(`${typeof request === 'string' ? request : JSON.stringify(request)}\n`);
    return this.next();
  }

  /** Resolves when the daemon has closed the connection; false if it did not within the time. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await this.until(deadline - Date.now());
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private until(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }
}

let idp: Idp;
let home: Home;
let daemonPid: number;
let configBefore: string;
const open: RawClient[] = [];

async function client(): Promise<RawClient> {
  const c = await RawClient.open(home.socket);
  open.push(c);
  return c;
}

function getToken(id: number | string, params: Record<string, unknown> = {}): Record<string, unknown> {
  return { v: 1, id, method: 'getToken', params };
}

/** One answer that is an error: the code, for the same id, in a sentence of sane length. */
function expectError(answer: Answer, id: number | string | null, code: string): void {
  expect(answer.result).toBeUndefined();
  expect(answer.id).toBe(id);
  expect(answer.error?.code).toBe(code);
  expect(answer.error?.message).toMatch(/\w/);
  // A clear sentence, never an echo of kilobytes of input or a stack trace.
  expect(JSON.stringify(answer.error).length).toBeLessThan(600);
  expect(answer.error?.message).not.toMatch(/\n\s+at /);
}

async function expectTokenOn(c: RawClient, id: number): Promise<string> {
  const answer = await c.ask(getToken(id));
  expect(answer.error).toBeUndefined();
  expect(answer.id).toBe(id);
  const token = answer.result?.access_token;
  expect(token).toBeTypeOf('string');
  return token as string;
}

/**
 * How long this file's daemon waits for a half-written frame: its 10 s, shortened for the tests so
 * they do not sleep through it (AUTHD_TEST_PARTIAL_FRAME_MS; the 10 s default is checked below).
 */
const PARTIAL_MS = 3000;

beforeAll(async () => {
  idp = await startIdp({ accessTokenTtl: 2 });
  home = new Home();
  home.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme' });
  // The command that starts the daemon hands it the knob; every test in this file talks to that daemon.
  expect((await home.run(['daemon', 'start'], { env: { AUTHD_TEST_PARTIAL_FRAME_MS: String(PARTIAL_MS) } })).code).toBe(0);
  await home.login();
  daemonPid = home.daemonPid()!;
  expect(daemonPid).toBeTypeOf('number');
  configBefore = readFileSync(join(home.dir, 'config.toml'), 'utf8');
});

afterAll(async () => {
  for (const c of open) c.destroy();
  await home?.dispose();
  await idp?.close();
});

describe('on the socket', () => {
  test('garbage bytes get a bad_request answer and the same connection keeps working', async () => {
    const c = await client();
    const garbage: Buffer[] = [
      Buffer.concat([Buffer.from([0]), randomBytes(4096)]),
      Buffer.alloc(300, 0), // NULs only
      Buffer.from([0xff, 0xfe, 0xfd, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc]), // invalid UTF-8
      Buffer.from('\ufeff{"v":1,"id":1,"method":"ping"}'), // a byte-order mark in front of JSON
      Buffer.from('{"v":1,"id":1,"method":"ping"'), // cut short
      Buffer.from('\x1b[2J\x1b[H\x07\r'), // terminal escapes
    ];
    for (const bytes of garbage) {
      // One line each: the only newline is the one that ends the frame.
      c.send(Buffer.concat([Buffer.from(bytes.filter((b) => b !== 0x0a)), Buffer.from('\n')]));
      expectError(await c.next(), null, 'bad_request');
    }
    await expectTokenOn(c, 7);
    expect(c.closed).toBe(false);
    expect(c.junk).toEqual([]);
  });

  test('requests of the wrong shape each get a clear error code, never a crash', async () => {
    const c = await client();
    const cases: [string, string, number | string | null, string][] = [
      ['an array', '[1,2,3]', null, 'bad_request'],
      ['a number', '42', null, 'bad_request'],
      ['a string', '"getToken"', null, 'bad_request'],
      ['null', 'null', null, 'bad_request'],
      ['no id', '{"v":1,"method":"ping"}', null, 'bad_request'],
      ['an object as id', '{"v":1,"id":{"a":1},"method":"ping"}', null, 'bad_request'],
      ['a boolean as id', '{"v":1,"id":true,"method":"ping"}', null, 'bad_request'],
      ['a 200-character id', JSON.stringify({ v: 1, id: 'i'.repeat(200), method: 'ping' }), null, 'bad_request'],
      ['protocol version 2', '{"v":2,"id":11,"method":"ping"}', 11, 'bad_request'],
      ['no version', '{"id":12,"method":"ping"}', 12, 'bad_request'],
      ['version as a string', '{"v":"1","id":13,"method":"ping"}', 13, 'bad_request'],
      ['a version of 5,000 characters', JSON.stringify({ v: 'v'.repeat(5000), id: 14, method: 'ping' }), 14, 'bad_request'],
      ['a version nested 30,000 deep', `{"v":${'['.repeat(30_000)}${']'.repeat(30_000)},"id":15,"method":"ping"}`, 15, 'bad_request'],
      ['a method nested 30,000 deep', `{"v":1,"id":16,"method":${'['.repeat(30_000)}${']'.repeat(30_000)}}`, 16, 'unknown_method'],
      ['a profile nested 30,000 deep', `{"v":1,"id":17,"method":"getToken","params":{"profile":${'['.repeat(30_000)}${']'.repeat(30_000)}}}`, 17, 'usage'],
      ['params as an array', '{"v":1,"id":20,"method":"getToken","params":["acme"]}', 20, 'bad_request'],
      ['params as a string', '{"v":1,"id":21,"method":"getToken","params":"acme"}', 21, 'bad_request'],
      ['params as a number', '{"v":1,"id":22,"method":"getToken","params":5}', 22, 'bad_request'],
      ['a negative minTtl', JSON.stringify(getToken(30, { minTtl: -1 })), 30, 'bad_request'],
      ['minTtl as a string', JSON.stringify(getToken(31, { minTtl: '30' })), 31, 'bad_request'],
      ['a huge minTtl', '{"v":1,"id":32,"method":"getToken","params":{"minTtl":1e308}}', 32, 'bad_request'],
      ['minTtl just over a day', JSON.stringify(getToken(33, { minTtl: 86_401 })), 33, 'bad_request'],
      ['minTtl as an object', JSON.stringify(getToken(34, { minTtl: { valueOf: 5 } })), 34, 'bad_request'],
      ['a profile with ../', JSON.stringify(getToken(40, { profile: '../acme' })), 40, 'usage'],
      ['a profile pointing at /etc', JSON.stringify(getToken(41, { profile: '../../etc/passwd' })), 41, 'usage'],
      ['a profile with a slash', JSON.stringify(getToken(42, { profile: 'acme/x' })), 42, 'usage'],
      ['a 10,000-character profile', JSON.stringify(getToken(43, { profile: 'a'.repeat(10_000) })), 43, 'usage'],
      ['a numeric profile', JSON.stringify(getToken(44, { profile: 42 })), 44, 'usage'],
      ['an object as profile', JSON.stringify(getToken(45, { profile: { name: 'acme' } })), 45, 'usage'],
      ['an array as profile', JSON.stringify(getToken(46, { profile: ['acme'] })), 46, 'usage'],
      ['a profile with a NUL', JSON.stringify(getToken(47, { profile: 'acme\u0000' })), 47, 'usage'],
      ['a profile that looks like a flag', JSON.stringify(getToken(48, { profile: '-rf' })), 48, 'usage'],
      ['a profile String() cannot convert', JSON.stringify(getToken(49, { profile: { toString: 1, valueOf: 1 } })), 49, 'usage'],
      ['a profile nobody configured', JSON.stringify(getToken(50, { profile: 'nope' })), 50, 'unknown_profile'],
      ['a profile named constructor', JSON.stringify(getToken(51, { profile: 'constructor' })), 51, 'unknown_profile'],
      ['a profile named toString', JSON.stringify(getToken(52, { profile: 'toString' })), 52, 'unknown_profile'],
      ['env as a string', JSON.stringify(getToken(60, { env: 'SECRET=x' })), 60, 'bad_request'],
      ['env with a number', JSON.stringify(getToken(61, { env: { SECRET: 1 } })), 61, 'bad_request'],
      ['logout --all as a string', '{"v":1,"id":70,"method":"logout","params":{"all":"yes"}}', 70, 'bad_request'],
      ['use with a path', '{"v":1,"id":71,"method":"use","params":{"profile":"../../etc"}}', 71, 'usage'],
      ['use with no profile', '{"v":1,"id":72,"method":"use","params":{}}', 72, 'usage'],
      ['use with an unknown profile', '{"v":1,"id":73,"method":"use","params":{"profile":"nope"}}', 73, 'unknown_profile'],
      ['a string id with params wrong', '{"v":1,"id":"s-1","method":"getToken","params":[]}', 's-1', 'bad_request'],
      ['a git action nobody knows', '{"v":1,"id":80,"method":"gitCredential","params":{"action":"steal","attrs":[]}}', 80, 'bad_request'],
      ['git attrs as an object', '{"v":1,"id":81,"method":"gitCredential","params":{"action":"get","attrs":{"host":"x"}}}', 81, 'bad_request'],
      ['a git attr that is not a pair', '{"v":1,"id":82,"method":"gitCredential","params":{"action":"get","attrs":[["host"]]}}', 82, 'bad_request'],
      ['a git attr with a number', '{"v":1,"id":83,"method":"gitCredential","params":{"action":"get","attrs":[["host",1]]}}', 83, 'bad_request'],
      ['a git value with a NUL', JSON.stringify({ v: 1, id: 84, method: 'gitCredential', params: { action: 'store', attrs: [['password', 'a\u0000b']] } }), 84, 'bad_request'],
      ['a git value with a newline', JSON.stringify({ v: 1, id: 85, method: 'gitCredential', params: { action: 'store', attrs: [['host', 'x\nprotocol=evil']] } }), 85, 'bad_request'],
      ['a secret for a device profile', '{"v":1,"id":90,"method":"secretSet","params":{"profile":"acme","value":"x"}}', 90, 'usage'],
      ['a secret for nobody', '{"v":1,"id":91,"method":"secretSet","params":{"profile":"nope","value":"x"}}', 91, 'unknown_profile'],
      ['a secret for a path', '{"v":1,"id":92,"method":"secretSet","params":{"profile":"../x","value":"x"}}', 92, 'usage'],
      ['a migration to nowhere', '{"v":1,"id":95,"method":"storeMigrate","params":{"to":"floppy"}}', 95, 'usage'],
      ['a migration with no target', '{"v":1,"id":96,"method":"storeMigrate","params":{}}', 96, 'usage'],
    ];
    const wrong: string[] = [];
    for (const [what, line, id, code] of cases) {
      const answer = await c.ask(line);
      if (answer.id !== id || answer.error?.code !== code) {
        wrong.push(`${what}: expected ${code} for id ${JSON.stringify(id)}, got ${JSON.stringify(answer).slice(0, 200)}`);
        continue;
      }
      expectError(answer, id, code);
    }
    expect(wrong).toEqual([]);
    // None of that touched anything: the config is as it was, and the connection still serves.
    expect(readFileSync(join(home.dir, 'config.toml'), 'utf8')).toBe(configBefore);
    await expectTokenOn(c, 99);
  });

  test('each method answers wrongly typed params with an error naming the field, before doing anything', async () => {
    const c = await client();
    // Field errors are bad_request; a profile name or a store name is the user's word, so a usage error.
    const cases: [string, Record<string, unknown>, string, string][] = [
      ['getToken', { minTtl: '30' }, 'bad_request', '"minTtl"'],
      ['getToken', { env: ['SECRET=x'] }, 'bad_request', '"env"'],
      ['getToken', { env: { SECRET: 'x'.repeat(16_385) } }, 'bad_request', '"env"'],
      ['getToken', { caller: 'me' }, 'bad_request', '"caller"'],
      ['getToken', { caller: { pid: '1' } }, 'bad_request', '"caller.pid"'],
      ['getToken', { caller: { cmd: 5 } }, 'bad_request', '"caller.cmd"'],
      ['getToken', { profile: { toString: 1, valueOf: 1 } }, 'usage', '"profile"'],
      ['loginStart', { env: 5 }, 'bad_request', '"env"'],
      ['loginStart', { profile: 5 }, 'usage', '"profile"'],
      ['loginWait', { profile: true }, 'usage', '"profile"'],
      ['logout', { all: 1 }, 'bad_request', '"all"'],
      ['logout', { profile: ['acme'] }, 'usage', '"profile"'],
      ['use', { profile: 7 }, 'usage', '"profile"'],
      ['gitCredential', { action: 1, attrs: [] }, 'bad_request', '"action"'],
      ['gitCredential', { action: 'get', attrs: 'host=x' }, 'bad_request', '"attrs"'],
      ['gitCredential', { action: 'get' }, 'bad_request', '"attrs"'],
      ['gitCredential', { action: 'get', attrs: [['host', 'x'.repeat(16_385)]] }, 'bad_request', '"attrs"'],
      ['gitCredential', { action: 'get', attrs: [], env: 'SECRET=x' }, 'bad_request', '"env"'],
      ['gitCredential', { action: 'get', attrs: [], caller: [1] }, 'bad_request', '"caller"'],
      ['secretSet', { profile: 'acme', value: 5 }, 'bad_request', '"value"'],
      ['secretSet', { profile: 'acme' }, 'bad_request', '"value"'],
      ['secretSet', { profile: 'acme', value: '' }, 'bad_request', '"value"'],
      ['secretSet', { profile: 'acme', value: 'x'.repeat(3501) }, 'bad_request', '"value"'],
      ['secretSet', { profile: 'acme', value: 'a\u0000b' }, 'bad_request', '"value"'],
      ['storeMigrate', { to: 5 }, 'usage', '"to"'],
    ];
    // Methods without params still need params to be an object, if given.
    for (const method of ['ping', 'status', 'profiles', 'doctor', 'gitHosts', 'shutdown', 'getToken', 'logout']) {
      cases.push([method, [] as unknown as Record<string, unknown>, 'bad_request', '"params"']);
    }
    const wrong: string[] = [];
    let id = 200;
    for (const [method, params, code, field] of cases) {
      const answer = await c.ask({ v: 1, id: ++id, method, params });
      if (answer.error?.code !== code || !answer.error.message.includes(field)) {
        wrong.push(`${method} ${JSON.stringify(params).slice(0, 60)}: expected ${code} naming ${field}, got ${JSON.stringify(answer).slice(0, 200)}`);
        continue;
      }
      expectError(answer, id, code);
    }
    expect(wrong).toEqual([]);
    // Nothing ran: no logout, no default changed, no secret stored, no shutdown.
    expect(readFileSync(join(home.dir, 'config.toml'), 'utf8')).toBe(configBefore);
    expect(home.storedSession('acme')?.refresh_token).toBeTypeOf('string');
    await expectTokenOn(c, ++id);
  });

  test('fields a method does not know, prototype keys among them, are ignored', async () => {
    const c = await client();
    const line = '{"v":1,"id":9,"method":"getToken","params":{"__proto__":{"profile":"nope","minTtl":-1},'
      + `"constructor":{"prototype":{"profile":"nope"}},"toString":1,"extra":"${'e'.repeat(30_000)}",`
      + '"env":{"__proto__":"x","constructor":"y"},"caller":{"__proto__":{"pid":"x"},"cmd":"tool"}}}';
    const answer = await c.ask(line);
    expect(answer.error).toBeUndefined();
    expect(answer.result).toMatchObject({ profile: 'acme', access_token: expect.any(String) });
  });

  test('unknown methods, including the names of Object.prototype members, are answered unknown_method', async () => {
    const c = await client();
    const names: unknown[] = [
      'frobnicate', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__',
      'isPrototypeOf', 'GETTOKEN', 'getToken ', '', 42, null, ['getToken'], { name: 'getToken' },
      { toString: 1, valueOf: 1 }, // String() of it throws
    ];
    let id = 100;
    for (const method of names) {
      const answer = await c.ask({ v: 1, id: ++id, method, params: {} });
      expectError(answer, id, 'unknown_method');
    }
    const noMethod = await c.ask({ v: 1, id: ++id });
    expectError(noMethod, id, 'unknown_method');
    await expectTokenOn(c, ++id);
  });

  const oversized: [string, (c: RawClient) => Promise<void>][] = [
    ['70 KiB without a newline, in one write', async (c) => c.send('x'.repeat(70 * 1024))],
    ['a well-formed request padded to 70 KiB, newline at the end', async (c) => {
      c.send(`${JSON.stringify({ v: 1, id: 1, method: 'ping', params: { pad: 'p'.repeat(70 * 1024) } })}\n`);
    }],
    ['70 KiB without a newline, trickled in 1 KiB writes', async (c) => {
      for (let i = 0; i < 70 && !c.closed; i++) {
        c.send('{'.repeat(1024));
        await sleep(2);
      }
    }],
  ];

  test.each(oversized)('a frame over 64 KiB is answered frame_too_large and the connection closed: %s', async (_what, write) => {
    const c = await client();
    const bystander = await client();
    await write(c);
    expectError(await c.next(), null, 'frame_too_large');
    expect(await c.waitClosed(3000)).toBe(true);
    // Nothing else comes from a dropped connection, and everyone else is still served.
    expect(c.answers).toHaveLength(1);
    await expectTokenOn(bystander, 1);
  });

  test('a request just under 64 KiB is still served', async () => {
    const c = await client();
    const line = JSON.stringify({ v: 1, id: 5, method: 'getToken', params: { caller: { cmd: 'c'.repeat(60 * 1024) } } });
    const answer = await c.ask(line);
    expect(answer.error).toBeUndefined();
    expect(answer.result?.access_token).toBeTypeOf('string');
    expect(c.closed).toBe(false);
  });

  test('the daemon drops a half-written frame after 10 s; the test knob can only shorten that, to no less than 0.1 s', () => {
    expect(partialFrameMs({})).toBe(10_000);
    expect(partialFrameMs({ AUTHD_TEST_PARTIAL_FRAME_MS: '' })).toBe(10_000);
    expect(partialFrameMs({ AUTHD_TEST_PARTIAL_FRAME_MS: 'soon' })).toBe(10_000);
    expect(partialFrameMs({ AUTHD_TEST_PARTIAL_FRAME_MS: '-5' })).toBe(10_000);
    expect(partialFrameMs({ AUTHD_TEST_PARTIAL_FRAME_MS: '3000' })).toBe(3000);
    expect(partialFrameMs({ AUTHD_TEST_PARTIAL_FRAME_MS: '1' })).toBe(100);
    expect(partialFrameMs({ AUTHD_TEST_PARTIAL_FRAME_MS: '3600000' })).toBe(10_000);
  });

  // The next two run side by side: both need the daemon's partial-frame timeout (PARTIAL_MS here).
  test.concurrent('a half-written frame is dropped after the partial-frame timeout while other clients are served', async () => {
    const silent = await client();
    const trickler = await client();
    const started = Date.now();
    silent.send('{"v":1,"id":1,"method":"getTo');
    // A slow writer that never finishes its frame is no better than a silent one.
    const trickle = (async () => {
      const frame = JSON.stringify(getToken(1, { pad: 'x'.repeat(1000) }));
      for (let i = 0; i < frame.length && !trickler.closed && Date.now() - started < PARTIAL_MS + 4000; i++) {
        trickler.send(frame[i]!);
        await sleep(50);
      }
    })();

    // Meanwhile, others come and go and get their tokens.
    const served: Result[] = [];
    const rawServed: string[] = [];
    while (Date.now() - started < PARTIAL_MS * 0.75) {
      const other = await client();
      rawServed.push(await expectTokenOn(other, 1));
      other.destroy();
      served.push(await home.run(['get-token']));
      await sleep(100);
    }
    expect(silent.closed).toBe(false); // not before its time

    expect(await silent.waitClosed(PARTIAL_MS + 2000 - (Date.now() - started))).toBe(true);
    const silentFor = silent.closedAt! - started;
    expect(silentFor).toBeGreaterThan(PARTIAL_MS * 0.8);
    expect(silentFor).toBeLessThan(PARTIAL_MS + 2000);
    expect(await trickler.waitClosed(PARTIAL_MS + 2500 - (Date.now() - started))).toBe(true);
    await trickle;
    expect(silent.answers).toEqual([]);

    expect(served.length).toBeGreaterThan(1);
    for (const r of served) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toMatch(/^\S{20,}$/);
    }
    expect(rawServed.length).toBe(served.length);
  });

  test.concurrent('a busy client whose writes split its requests mid-frame is not mistaken for a slow one', async () => {
    // Each write finishes the previous request and starts the next one: the daemon always holds a
    // partial frame, but never the same one for more than a quarter of a second.
    const c = await client();
    const frame = (id: number) => `${JSON.stringify({ v: 1, id, method: 'ping', params: {} })}\n`;
    const started = Date.now();
    let id = 1;
    let tail = frame(id);
    c.send(tail.slice(0, 12));
    tail = tail.slice(12);
    while (Date.now() - started < PARTIAL_MS * 1.25 && !c.closed) {
      await sleep(250);
      const next = frame(++id);
      c.send(tail + next.slice(0, 12));
      tail = next.slice(12);
    }
    const closedAfter = c.closed ? c.closedAt! - started : undefined;
    expect(closedAfter, 'the daemon dropped a client that completed a request every 250 ms').toBeUndefined();
    c.send(tail);
    await sleep(300);
    expect(c.answers.map((a) => a.id)).toEqual(Array.from({ length: id }, (_, i) => i + 1));
  });

  test('1,000 idle connections do not keep a well-behaved get-token waiting', async () => {
    const idle: RawClient[] = [];
    for (let i = 0; i < 1000; i += 50) {
      idle.push(...(await Promise.all(Array.from({ length: 50 }, () => client()))));
    }
    const t0 = Date.now();
    const r = await home.run(['get-token']);
    const took = Date.now() - t0;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\S{20,}$/);
    expect((await idp.introspect(r.stdout.trim())).active).toBe(true);
    expect(took).toBeLessThan(5000);
    // Idle is not hostile (the SDK keeps its connection open): the idle ones still work.
    expect(idle.filter((c) => c.closed)).toHaveLength(0);
    await expectTokenOn(idle[0]!, 1);
    await expectTokenOn(idle[999]!, 1);
    for (const c of idle) c.destroy();
  });

  test('many requests pipelined in one write get as many answers, each with its id', async () => {
    const c = await client();
    const methods = ['ping', 'getToken', 'status', 'profiles'];
    const lines: string[] = [];
    const ids: (number | string)[] = [];
    for (let i = 1; i <= 300; i++) {
      const id = i % 3 === 0 ? `s-${i}` : i;
      ids.push(id);
      lines.push(JSON.stringify({ v: 1, id, method: methods[i % methods.length], params: {} }));
      if (i === 150) lines.push('this line is not JSON'); // one bad line in the middle changes nothing
    }
    c.send(`${lines.join('\n')}\n`);
    const answers: Answer[] = [];
    for (let i = 0; i < 301; i++) answers.push(await c.next(10_000));
    await sleep(200);
    expect(c.answers).toHaveLength(301);

    const bad = answers.filter((a) => a.id === null);
    expect(bad).toHaveLength(1);
    expect(bad[0]!.error?.code).toBe('bad_request');
    const good = answers.filter((a) => a.id !== null);
    expect(good.map((a) => a.error)).toEqual(good.map(() => undefined));
    expect(new Set(good.map((a) => a.id))).toEqual(new Set(ids));
    expect(good).toHaveLength(300);
    for (const a of good) {
      const i = typeof a.id === 'string' ? Number(a.id.slice(2)) : Number(a.id);
      if (methods[i % methods.length] === 'getToken') expect(a.result?.access_token).toBeTypeOf('string');
      if (methods[i % methods.length] === 'ping') expect(a.result?.pid).toBe(daemonPid);
    }
  });

  test('clients that send a request and hang up before reading the answer do not hurt the daemon', async () => {
    const quitters = await Promise.all(Array.from({ length: 60 }, () => RawClient.open(home.socket)));
    quitters.forEach((q, i) => {
      q.send(`${JSON.stringify(getToken(i))}\n${JSON.stringify({ v: 1, id: 1000 + i, method: 'status', params: {} })}\n`);
      if (i % 2) q.destroy(); // gone at once
      else q.socket.end(); // half-closed: still there to be written to, briefly
    });
    await sleep(500);
    const c = await client();
    const ping = await c.ask({ v: 1, id: 1, method: 'ping', params: {} });
    expect(ping.result?.pid).toBe(daemonPid);
    await expectTokenOn(c, 2);
  });
});

describe('on the command line', () => {
  const mistakes: [string[], RegExp][] = [
    [['frobnicate'], /unknown command "frobnicate"/],
    [['get-token', '--frobnicate'], /unknown option --frobnicate/],
    [['get-token', '--min-ttl', 'abc'], /--min-ttl/],
    [['get-token', '--format', 'xml'], /--format/],
    [['get-token', '-p'], /needs a value/],
    [['get-token', '-p', '../../etc'], /invalid profile name "\.\.\/\.\.\/etc"/],
    [['exec'], /needs a command/],
    [['exec', '--'], /needs a command/],
  ];

  function expectUsageError(args: string[], r: Result, said: RegExp): void {
    const what = `authd ${args.join(' ')}`;
    expect(r.stdout, what).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    // One sentence saying what is wrong, optionally one indented line saying what to do.
    expect(lines[0], what).toMatch(/^authd: /);
    expect(lines[0], what).toMatch(said);
    expect(lines.length, what).toBeLessThanOrEqual(2);
    if (lines[1] !== undefined) expect(lines[1], what).toMatch(/^ {2}\S/);
    expect(r.code, what).toBe(2);
  }

  test('mistyped commands exit 2 with the problem on stderr and nothing on stdout', async () => {
    const results = await Promise.all(mistakes.map(([args]) => home.run(args)));
    for (const [i, [args, said]] of mistakes.entries()) expectUsageError(args, results[i]!, said);
  });

  test('mistyped commands are refused as usage errors even when no daemon is running', async () => {
    // A typo is a typo: it needs no daemon, and must not be reported as "daemon unreachable".
    const fresh = new Home();
    try {
      fresh.writeConfig({ acme: devProfile(idp) }, { default_profile: 'acme' });
      const env = { AUTHD_NO_AUTOSTART: '1' };
      const results = await Promise.all(mistakes.map(([args]) => fresh.run(args, { env })));
      const wrong = mistakes
        .map(([args], i) => ({ args: args.join(' '), code: results[i]!.code, said: results[i]!.stderr.split('\n')[0] }))
        .filter((r) => r.code !== 2);
      expect(wrong).toEqual([]);
      for (const [i, [args, said]] of mistakes.entries()) expectUsageError(args, results[i]!, said);
    } finally {
      await fresh.dispose();
    }
  });
});

test('after all of that, the same daemon still serves tokens and the stored session is intact', async () => {
  // It never crashed (an autostarted replacement would have logged another pid) …
  expect(home.daemonPid()).toBe(daemonPid);
  expect(() => process.kill(daemonPid, 0)).not.toThrow();
  expect(home.logText()).not.toContain('"msg":"internal error"');
  // … still hands out valid tokens, refreshing with the stored refresh token …
  const r = await home.run(['get-token', '--format', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const t = JSON.parse(r.stdout) as { access_token: string; profile: string };
  expect(t.profile).toBe('acme');
  expect((await idp.introspect(t.access_token)).active).toBe(true);
  // … and the session is the one the login made: never lost, never replayed, never revoked.
  const stored = home.storedSession('acme');
  expect(stored).toMatchObject({ v: 1, issuer: idp.issuer, client_id: 'authd-cli', subject: 'alice' });
  expect(stored?.refresh_token).toBeTypeOf('string');
  expect(idp.stats.deviceGrants).toBe(1);
  expect(idp.stats.refreshes).toBeGreaterThan(0);
  expect(idp.stats.reuseDetected).toBe(0);
  expect(idp.stats.revokedGrants).toBe(0);
  expect(readFileSync(join(home.dir, 'config.toml'), 'utf8')).toBe(configBefore);
});
