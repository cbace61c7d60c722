// Daemon cold start: no daemon running → the first token printed by `authd get-token`.
import { execFileSync, spawnSync } from 'node:child_process';
import { loggedInHome, summary } from './lib.mjs';

export async function benchColdStart({ rounds = 10 } = {}) {
  const home = await loggedInHome();
  try {
    const times = [];
    for (let i = 0; i < rounds; i++) {
      execFileSync(home.authd, ['daemon', 'stop'], { env: home.env, stdio: 'ignore' });
      const t0 = performance.now();
      const r = spawnSync(home.authd, ['get-token'], { env: home.env, encoding: 'utf8' });
      times.push(performance.now() - t0);
      if (r.status !== 0) throw new Error(`cold get-token failed: ${r.stderr}`);
    }
    const s = summary(times);
    return [{ benchmark: 'daemon cold start → first token (get-token)', figure: s.median, unit: 'ms', target: '≤ 250 ms', met: s.median <= 250, note: `p95 ${s.p95.toFixed(0)} ms` }];
  } finally {
    await home.close();
  }
}
