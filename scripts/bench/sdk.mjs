// The daemon under the SDK: one connection's round trip, throughput at 50 and 200 connections next
// to a bare Node `net` server answering the same frames from memory, and the daemon's memory.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { loggedInHome, rssMb, summary } from './lib.mjs';

const require = createRequire(import.meta.url);
const { AuthdClient } = require('../../dist/sdk.cjs');

/** A bare server: newline-delimited JSON in, a token-sized answer out, from memory. */
async function bareServer() {
  const dir = mkdtempSync(join(tmpdir(), 'bare.'));
  const path = join(dir, 's.sock');
  const answer = (id) => `{"id":${id},"result":{"access_token":"${'x'.repeat(43)}","token_type":"bearer","expires_at":1800000000,"profile":"b"}}\n`;
  const server = net.createServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d;
      let nl = buf.indexOf('\n');
      let out = '';
      while (nl !== -1) {
        const req = JSON.parse(buf.slice(0, nl));
        out += answer(req.id);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
      if (out) s.write(out);
    });
  });
  server.listen(path);
  await once(server, 'listening');
  return { path, close: () => { server.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** Closed loop: `conns` clients each with one request in flight, for `ms`. */
async function throughput(makeClient, conns, ms) {
  const clients = await Promise.all(Array.from({ length: conns }, makeClient));
  const lat = [];
  let count = 0;
  const end = Date.now() + ms;
  await Promise.all(clients.map(async (c) => {
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      await c.getToken();
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      count++;
    }
  }));
  for (const c of clients) c.close();
  const s = summary(lat);
  const sorted = lat.sort((a, b) => a - b);
  return { rps: (count / ms) * 1000, p50: s.median, p99: sorted[Math.floor(0.99 * sorted.length)] ?? Number.NaN };
}

/** The SDK's own connection class, pointed at any socket (the bare server speaks the same frames). */
function sdkClient(socket, env) {
  return async () => {
    const c = new AuthdClient({ env: { ...env, AUTHD_SOCKET: socket }, autostart: false });
    await c.getToken();
    return c;
  };
}

export async function benchSdk({ seconds = 3, requests = 1_000_000 } = {}) {
  const home = await loggedInHome();
  const bare = await bareServer();
  const rows = [];
  try {
    const pid = home.daemonPid();
    await new Promise((r) => setTimeout(r, 1000));
    const idle = rssMb(pid);
    rows.push({ benchmark: 'daemon memory, idle RSS', figure: idle, unit: 'MB', target: '≤ 60 MB', met: idle <= 60 });

    // Round trip on one connection.
    const one = new AuthdClient({ env: home.env });
    for (let i = 0; i < 2000; i++) await one.getToken();
    const lat = [];
    for (let i = 0; i < 20_000; i++) {
      const t0 = process.hrtime.bigint();
      await one.getToken();
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    one.close();
    const rt = summary(lat);
    rows.push({ benchmark: 'SDK round trip, one connection (p50)', figure: rt.median, unit: 'ms', p95: rt.p95, target: 'p50 ≤ 0.1 ms', met: rt.median <= 0.1 });

    for (const conns of [50, 200]) {
      const a = await throughput(sdkClient(home.socket, home.env), conns, seconds * 1000);
      const b = await throughput(sdkClient(bare.path, home.env), conns, seconds * 1000);
      rows.push({
        benchmark: `SDK throughput, ${conns} connections`, figure: a.rps, unit: 'req/s', p99: a.p99,
        compared: 'bare Node net server', baseline: b.rps, ratio: a.rps / b.rps,
        target: conns === 50 ? '≥ 0.8× bare, p99 ≤ 5 ms' : '≥ 0.8× bare',
        met: a.rps / b.rps >= 0.8 && (conns !== 50 || a.p99 <= 5),
        note: `p99 ${a.p99.toFixed(2)} ms (bare ${b.p99.toFixed(2)} ms)`,
      });
    }

    // Memory after a million more requests (100 in flight on each of 50 connections).
    const clients = await Promise.all(Array.from({ length: 50 }, sdkClient(home.socket, home.env)));
    let left = requests;
    await Promise.all(clients.map(async (c) => {
      while (left > 0) {
        left -= 100;
        await Promise.all(Array.from({ length: 100 }, () => c.getToken()));
      }
    }));
    for (const c of clients) c.close();
    await new Promise((r) => setTimeout(r, 1000));
    const after = rssMb(pid);
    rows.push({
      benchmark: `daemon memory, growth after ${(requests / 1e6).toFixed(0)}M requests`, figure: after - idle, unit: 'MB',
      target: '≤ 5 MB', met: after - idle <= 5, note: `RSS ${after.toFixed(1)} MB`,
    });
  } finally {
    bare.close();
    await home.close();
  }
  return rows;
}
