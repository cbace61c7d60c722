// The Node fast path's socket exchange on Node's own pipe handle (src/client/pipe-exchange.ts), against
// real Unix-socket servers that answer as daemons do, and as broken or hostile ones do. Whatever the
// far end does, the exchange ends with a line or with nothing (the full client then takes over), and
// nothing is sent before the caller's check of the peer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, test } from 'vitest';
import { loadPeerCred } from '../src/native/peercred.js';
import { type ExchangeOptions, pipeBinding, pipeExchange } from '../src/client/pipe-exchange.js';

const dir = mkdtempSync(join(tmpdir(), 'authd-pipe.'));
const servers: Server[] = [];
let n = 0;

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A server on a fresh socket path; `onConnection` plays the daemon. Resolves with the path and what each connection sent. */
async function server(onConnection: (c: Socket) => void): Promise<{ path: string; received: string[]; closed: Promise<void> }> {
  const path = join(dir, `s${n++}.sock`);
  const received: string[] = [];
  let closedResolve!: () => void;
  const closed = new Promise<void>((r) => {
    closedResolve = r;
  });
  const s = createServer((c) => {
    const i = received.push('') - 1;
    c.on('data', (d) => {
      received[i] += String(d);
    });
    c.on('close', () => closedResolve());
    c.on('error', () => undefined);
    onConnection(c);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(path, r));
  return { path, received, closed };
}

const binding = pipeBinding();
const opts = (over: Partial<ExchangeOptions> = {}): ExchangeOptions => ({ connected: () => undefined, timeoutMs: 2000, maxBytes: 1024, ...over });
const REQUEST = '{"v":1,"id":1,"method":"getToken","params":{}}\n';

/** The exchange's result when it ends well before its 10 s silence timeout (which would hide a missed end). */
async function promptly(path: string, over: Partial<ExchangeOptions> = {}): Promise<string | undefined> {
  const t0 = Date.now();
  const line = await pipeExchange(binding!, path, REQUEST, opts({ timeoutMs: 10_000, ...over }));
  expect(Date.now() - t0, 'ended by the far end, not by the silence timeout').toBeLessThan(3000);
  return line;
}

test('this Node lends its pipe handle (Node 20, 22 and 24): the fast path does not load node:net', () => {
  expect(binding).toBeDefined();
});

test('the answer line comes back whole, however the daemon splits it, and what follows it is not read as part of it', async () => {
  const { path, received } = await server((c) => {
    c.once('data', () => {
      c.write('{"id":1,');
      setTimeout(() => c.write('"result":{"access_token":"t"}}\n{"id":2}\n'), 20);
    });
  });
  expect(await promptly(path)).toBe('{"id":1,"result":{"access_token":"t"}}');
  expect(received).toEqual([REQUEST]);
});

test('nothing listening (no socket file, or a file nobody listens on): no answer, at once', async () => {
  expect(await promptly(join(dir, 'none.sock'))).toBeUndefined();
  const plain = join(dir, 'plain.sock');
  writeFileSync(plain, ''); // connect(2) answers ECONNREFUSED
  expect(await promptly(plain)).toBeUndefined();
});

test('a patience beyond what a timer can hold (AUTHD_NOT_ANSWERING_MS=1e10) is not taken for none at all', async () => {
  const { path } = await server((c) => c.once('data', () => setTimeout(() => c.write('{"id":1}\n'), 30)));
  expect(await promptly(path, { timeoutMs: 1e10 })).toBe('{"id":1}');
});

test('a daemon that hangs up before the newline, or says nothing: no answer (the full client asks again)', async () => {
  const eof = await server((c) => c.once('data', () => c.end('{"id":1,"result":')));
  expect(await promptly(eof.path)).toBeUndefined();
  const silent = await server(() => undefined);
  const t0 = Date.now();
  expect(await pipeExchange(binding!, silent.path, REQUEST, opts({ timeoutMs: 100 }))).toBeUndefined();
  expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
  await silent.closed; // the exchange closed its end
});

test('an answer longer than the frame limit: no answer, without waiting for its end', async () => {
  const { path, closed } = await server((c) => c.once('data', () => c.write('x'.repeat(5000))));
  expect(await promptly(path, { maxBytes: 1024 })).toBeUndefined();
  await closed;
});

test('a refusal by the peer check ends the exchange with it, before a byte is sent; the check gets the socket descriptor', async () => {
  const { path, received, closed } = await server(() => undefined);
  const refusal = new Error('runs as uid 1234');
  let fd: number | undefined;
  await expect(pipeExchange(binding!, path, REQUEST, opts({
    connected: (d) => {
      fd = d;
      throw refusal;
    },
  }))).rejects.toBe(refusal);
  await closed;
  expect(received).toEqual(['']);
  expect(fd).toBeGreaterThan(2);
});

test('the descriptor given to the check is the connected socket: the peer it names is this process (the server runs here)', async () => {
  const { addon } = loadPeerCred(join(__dirname, '..', 'dist', 'peercred.node'));
  if (!addon) return expect(process.env.CI, 'the addon is built in CI').toBeUndefined();
  const { path } = await server((c) => c.once('data', () => c.write('{"id":1}\n')));
  let peer: { uid: number; pid: number } | undefined;
  await pipeExchange(binding!, path, REQUEST, opts({
    connected: (fd) => {
      peer = addon.peerCred(fd!);
    },
  }));
  expect(peer).toMatchObject({ uid: process.getuid!(), pid: process.pid });
});
