import { readFileSync } from 'node:fs';

// What a command may touch: its streams and its environment. Tests pass their own.
export interface Writable {
  write(s: string): unknown;
  isTTY?: boolean;
}

export interface IO {
  stdout: Writable;
  stderr: Writable;
  stdin: NodeJS.ReadableStream;
  env: Record<string, string | undefined>;
}

export function processIO(): IO {
  // Getters: Node builds each stream on first use, and most commands never touch stdin or stderr.
  return {
    get stdout() {
      return process.stdout;
    },
    get stderr() {
      return process.stderr;
    },
    get stdin() {
      return process.stdin;
    },
    env: process.env,
  };
}

/**
 * The environment the user really has. The `authd` launcher moves NODE_EXTRA_CA_CERTS aside so the
 * client (which does no TLS) starts without parsing the bundle; the daemon and `exec` get it back.
 */
export function userEnv(env: Record<string, string | undefined>): Record<string, string | undefined> {
  if (env.AUTHD_NODE_EXTRA_CA_CERTS === undefined) return { ...env };
  const { AUTHD_NODE_EXTRA_CA_CERTS: ca, ...rest } = env;
  return { ...rest, NODE_EXTRA_CA_CERTS: ca };
}

/**
 * Who is asking, for the daemon's audit trail: the parent process (the shell, git, a build tool)
 * by pid and, on Linux, its command name. Self-reported, so informative only.
 */
export function callerInfo(fallback: string): { pid: number; cmd: string } {
  let cmd = fallback;
  if (process.platform === 'linux') {
    try {
      cmd = readFileSync(`/proc/${process.ppid}/comm`, 'utf8').trim() || fallback;
    } catch {
      // the parent is gone or /proc is not mounted
    }
  }
  return { pid: process.ppid, cmd };
}
