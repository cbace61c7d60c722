// A throwaway OpenSSH server on 127.0.0.1, for tests of `authd ssh`: its own host key, one user key,
// its own config, in the foreground (-D -e), killed afterwards. The client side gets an ssh_config
// naming all of it (the host as `far`), so nothing of ~/.ssh or /etc/ssh is used.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

export const SSHD = '/usr/sbin/sshd';

export interface Sshd {
  /** The ssh_config to give `ssh -F`: Host `far` is this server. */
  config: string;
  port: number;
  /** What sshd has logged so far. */
  log(): string;
  close(): Promise<void>;
}

/** Starts sshd with `env` set in every session there (sshd_config's SetEnv). */
export async function startSshd(env: Record<string, string>): Promise<Sshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is not installed: the authd ssh tests need Debian's openssh-server (apt-get install openssh-server)`);
  const dir = mkdtempSync(join(tmpdir(), 'authd-sshd.'));
  for (const key of ['host', 'user']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', key, '-f', join(dir, key)]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'user.pub')));
  // sshd's privilege separation directory (Debian's package makes it at boot, not at install).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const setEnv = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    writeFileSync(join(dir, 'sshd_config'), [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${join(dir, 'host')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no', 'PermitRootLogin prohibit-password', 'UsePAM no', 'PasswordAuthentication no',
      'KbdInteractiveAuthentication no', 'AllowStreamLocalForwarding yes', 'PrintMotd no', 'PrintLastLog no',
      `SetEnv ${setEnv}`, '',
    ].join('\n'));
    const sshd = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    sshd.stderr.setEncoding('utf8');
    const listening = new Promise<boolean>((resolve) => {
      sshd.stderr.on('data', (s: string) => {
        log += s;
        if (log.includes('Server listening on')) resolve(true);
      });
      sshd.once('exit', () => resolve(false));
    });
    if (!(await listening)) {
      // The port was taken between freePort and sshd's bind: another one.
      if (attempt < 3 && /Address already in use/.test(log)) continue;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`sshd did not start: ${log}`);
    }
    const config = join(dir, 'ssh_config');
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${readFileSync(join(dir, 'host.pub'), 'utf8')}`);
    writeFileSync(config, [
      'Host far', '  HostName 127.0.0.1', `  Port ${port}`, `  User ${userInfo().username}`,
      `  IdentityFile ${join(dir, 'user')}`, '  IdentitiesOnly yes', '  BatchMode yes',
      `  UserKnownHostsFile ${join(dir, 'known_hosts')}`, '  GlobalKnownHostsFile /dev/null', '  StrictHostKeyChecking yes',
      '  ConnectTimeout 30', '  LogLevel ERROR', '',
    ].join('\n'));
    return { config, port, log: () => log, close: () => stop(sshd, dir) };
  }
}

async function stop(sshd: ChildProcess, dir: string): Promise<void> {
  if (sshd.exitCode === null && sshd.signalCode === null) {
    const exited = new Promise((resolve) => sshd.once('exit', resolve));
    sshd.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
}

