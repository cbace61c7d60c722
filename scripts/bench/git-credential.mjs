// `git credential fill` through authd (a mapped host, cached token) next to git's own `cache`
// helper and a bare Node helper that answers from memory, alternating in the same run.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { approveDeviceCode, startIdp } from '../dev-idp.mjs';
import { alternate } from './lib.mjs';

export async function benchGitCredential({ rounds = 40 } = {}) {
  const bin = new URL('../../bin/', import.meta.url).pathname;
  const idp = await startIdp({ accessTokenTtl: 3600 });
  const home = mkdtempSync(join(tmpdir(), 'authd-bench.'));
  const env = { ...process.env, AUTHD_HOME: home, HOME: home, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' };
  delete env.NODE_EXTRA_CA_CERTS;
  const cacheSocket = join(home, 'cache.sock');
  try {
    writeFileSync(join(home, 'config.toml'),
      `[profiles.b]\nissuer = "${idp.issuer}"\nclient_id = "authd-cli"\ndevice_poll_interval = 0.05\ngit_hosts = ["git.example.com"]\n`);
    await new Promise((resolve, reject) => {
      const login = spawn(join(bin, 'authd'), ['login', '--json'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      login.stdout.on('data', (d) => {
        const m = /"verification_uri_complete":"([^"]+)"/.exec(String(d));
        if (m) approveDeviceCode(m[1]).catch(reject);
      });
      login.on('exit', (c) => (c === 0 ? resolve() : reject(new Error(`login exited ${c}`))));
    });
    const bare = join(home, 'bare-helper.cjs');
    writeFileSync(bare, `let s='';process.stdin.on('data',d=>{s+=d;if(/\\n\\n|^\\n/.test(s)){process.stdout.write('username=oauth2\\npassword=tok\\n');process.exit(0)}});process.stdin.on('end',()=>{process.stdout.write('username=oauth2\\npassword=tok\\n')});\n`);
    const fill = (helper, extra = {}) => ({ cmd: 'git', args: ['-c', 'credential.helper=', '-c', `credential.helper=${helper}`, 'credential', 'fill'],
      env: { ...env, ...extra }, input: 'protocol=https\nhost=git.example.com\n\n' });
    // Prime git's cache daemon with a credential.
    execFileSync('git', ['-c', 'credential.helper=', '-c', `credential.helper=cache --socket=${cacheSocket}`, 'credential', 'approve'],
      { env, input: 'protocol=https\nhost=git.example.com\nusername=oauth2\npassword=tok\n\n' });
    const [authd, authdNode, cache, node] = alternate([
      fill(join(bin, 'git-credential-authd')),
      fill(join(bin, 'git-credential-authd'), { AUTHD_NATIVE: '0' }),
      fill(`cache --socket=${cacheSocket}`),
      fill(`!node ${bare}`),
    ], rounds);
    const rows = [{ benchmark: 'git credential fill via authd (mapped host), Node client', compared: 'bare Node helper', authd: authdNode, baseline: node,
      ratio: authdNode.median / node.median, target: '≤ 1.15×', met: authdNode.median / node.median <= 1.15 }];
    if (existsSync(join(bin, '..', 'dist', 'authd-native'))) {
      rows.unshift({ benchmark: 'git credential fill via authd (mapped host), native client', compared: "git's cache helper", authd, baseline: cache,
        ratio: authd.median / cache.median, target: '≤ 1.5×', met: authd.median / cache.median <= 1.5 });
    }
    return rows;
  } finally {
    try {
      execFileSync(join(bin, 'authd'), ['daemon', 'stop'], { env, stdio: 'ignore' });
      execFileSync('git', ['credential-cache', `--socket=${cacheSocket}`, 'exit'], { env, stdio: 'ignore' });
    } catch {}
    await idp.close();
    rmSync(home, { recursive: true, force: true });
  }
}
