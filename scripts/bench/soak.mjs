// Soak: 100 concurrent callers running `authd get-token` over and over for 60 s, across several
// token expiries: no errors, and no refresh-token reuse at the provider.
import { spawn } from 'node:child_process';
import { loggedInHome } from './lib.mjs';

export async function benchSoak({ seconds = 60, callers = 100 } = {}) {
  const home = await loggedInHome({ ttl: 5 });
  try {
    const end = Date.now() + seconds * 1000;
    let calls = 0;
    let errors = 0;
    const run = () => new Promise((resolve) => {
      const child = spawn(home.authd, ['get-token'], { env: home.env, stdio: ['ignore', 'ignore', 'ignore'] });
      child.on('exit', (code) => resolve(code));
    });
    await Promise.all(Array.from({ length: callers }, async () => {
      while (Date.now() < end) {
        const code = await run();
        calls++;
        if (code !== 0) errors++;
      }
    }));
    const { refreshes, reuseDetected, revokedGrants } = home.idp.stats;
    return [{
      benchmark: `soak: ${callers} callers × ${seconds} s of get-token, 5 s tokens`,
      figure: errors, unit: 'errors',
      target: '0 errors, 0 reuse', met: errors === 0 && reuseDetected === 0 && revokedGrants === 0,
      note: `${calls} calls, ${refreshes} refreshes, reuse ${reuseDetected}`,
    }];
  } finally {
    await home.close();
  }
}
