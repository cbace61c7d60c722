// Real second (and third) Unix users for the tests of the boundary between users: created with
// useradd, commands run as them with setpriv, removed afterwards. Needs root (CI runs as root).
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { exitCode, type Result } from './harness.js';

export interface User {
  name: string;
  uid: number;
  gid: number;
}

/** Why these tests cannot run here, or undefined when they can. */
export function usersUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'they need Linux (SO_PEERCRED, /proc, useradd, setpriv)';
  if (process.getuid?.() !== 0) return 'they need root to create a second Unix user (CI runs as root)';
  return undefined;
}

/** A new system user without a home directory or login shell; `home` is only written into the passwd entry. */
export function createUser(name: string, home = '/nonexistent'): User {
  execFileSync('useradd', ['-M', '-d', home, '-s', '/usr/sbin/nologin', name], { stdio: 'pipe' });
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  return { name, uid: id('-u'), gid: id('-g') };
}

export function removeUser(user: User | undefined): void {
  if (!user) return;
  try {
    execFileSync('userdel', [user.name], { stdio: 'pipe' });
  } catch {
    // already gone
  }
}

function setprivArgs(user: User, cmd: string, args: string[]): string[] {
  return [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', cmd, ...args];
}

/** Runs CMD as `user` to completion. */
export function runAs(user: User, cmd: string, args: string[], opts: { env: Record<string, string>; input?: string; timeoutMs?: number }): Promise<Result> {
  return new Promise((done) => {
    const child = execFile('setpriv', setprivArgs(user, cmd, args), { env: opts.env, timeout: opts.timeoutMs ?? 30_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = exitCode(err);
        done({ code, stdout, stderr });
      });
    child.stdin?.on('error', () => undefined); // a command that exits without reading its input
    child.stdin?.on('error', () => undefined); // EPIPE from a command that exits without reading its input
    child.stdin?.end(opts.input ?? '');
  });
}

/** Starts CMD as `user`, stdout piped. */
export function spawnAs(user: User, cmd: string, args: string[], env: Record<string, string>): ChildProcess {
  return spawn('setpriv', setprivArgs(user, cmd, args), { env, stdio: ['ignore', 'pipe', 'inherit'] });
}
