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
