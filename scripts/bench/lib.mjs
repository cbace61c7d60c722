// Shared bits for the benchmarks: timing whole processes, alternating, and summarising.
import { spawnSync } from 'node:child_process';

export function timeOnce(cmd, args, env, input) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

/** Runs each command `rounds` times, alternating (a b a b …) so that load drift hits both alike. */
export function alternate(commands, rounds, warmup = 5) {
  for (let i = 0; i < warmup; i++) for (const c of commands) timeOnce(c.cmd, c.args, c.env, c.input);
  const samples = commands.map(() => []);
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? commands.map((_, j) => j) : commands.map((_, j) => commands.length - 1 - j);
    for (const j of order) {
      const c = commands[j];
      samples[j].push(timeOnce(c.cmd, c.args, c.env, c.input));
    }
  }
  return samples.map(summary);
}

export function summary(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, median: q(0.5), p95: q(0.95), min: s[0] };
}

export const fmt = (ms) => `${ms.toFixed(1)} ms`;

/** A logged-in authd home against a local provider, for benchmarks. */
export async function loggedInHome({ ttl = 3600, config = '', env: extraEnv = {} } = {}) {
  const { spawn, execFileSync } = await import('node:child_process');
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { approveDeviceCode, startIdp } = await import('../dev-idp.mjs');
  const authd = new URL('../../bin/authd', import.meta.url).pathname;
  const idp = await startIdp({ accessTokenTtl: ttl });
  const dir = mkdtempSync(join(tmpdir(), 'authd-bench.'));
  const env = { ...process.env, AUTHD_HOME: dir, AUTHD_STORE: 'file', ...extraEnv };
  delete env.NODE_EXTRA_CA_CERTS;
  writeFileSync(join(dir, 'config.toml'),
    `default_profile = "b"\n[profiles.b]\nissuer = "${idp.issuer}"\nclient_id = "authd-cli"\ndevice_poll_interval = 0.05\n${config}`);
  await new Promise((resolve, reject) => {
    const login = spawn(authd, ['login', '--json'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    login.stdout.on('data', (d) => {
      const m = /"verification_uri_complete":"([^"]+)"/.exec(String(d));
      if (m) approveDeviceCode(m[1]).catch(reject);
    });
    login.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`login exited ${c}`))));
  });
  const daemonPid = () => Number(/running pid (\d+)/.exec(execFileSync(authd, ['daemon', 'status'], { env, encoding: 'utf8' }))[1]);
  return {
    authd,
    idp,
    dir,
    env,
    daemonPid,
    socket: join(dir, 'run', 'authd.sock'),
    async close() {
      try {
        execFileSync(authd, ['daemon', 'stop'], { env, stdio: 'ignore' });
      } catch {}
      await idp.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function rssMb(pid) {
  const { readFileSync } = require_('node:fs');
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

import { createRequire } from 'node:module';
const require_ = createRequire(import.meta.url);
