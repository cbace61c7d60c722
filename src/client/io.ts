import { readFileSync, writeSync } from 'node:fs';
import { AuthdError, printable } from '../protocol/index.js';

// What a command may touch: its streams and its environment. Tests pass their own.
export interface Writable {
  write(s: string): unknown;
  isTTY?: boolean;
  /** Something written is still queued in Node's stream (the descriptor did not take it at once): the process must not exit yet. */
  readonly queued?: boolean;
}

export interface IO {
  stdout: Writable;
  stderr: Writable;
  stdin: NodeJS.ReadableStream;
  /** The descriptor under stdin, where a command may read it directly (the process's own: 0; tests: none). */
  stdinFd?: number;
  env: Record<string, string | undefined>;
}

export function processIO(): IO {
  // Getters: Node builds each stream on first use, and most commands never touch stdin or stderr.
  const stdout = direct(1, () => process.stdout);
  const stderr = direct(2, () => process.stderr);
  return {
    stdout,
    stderr,
    get stdin() {
      return process.stdin;
    },
    stdinFd: 0,
    env: process.env,
  };
}

/**
 * Writes straight to the file descriptor, as Node's own stdout does on Linux for a pipe or a file
 * (synchronously), without building the stream: that costs a get-token start ~3 ms (issue 13). What
 * the descriptor does not take at once (a non-blocking pipe that is full, a closed reader) goes to
 * the stream, as does everything after it, so the order holds and its errors are Node's as before.
 */
function direct(fd: number, stream: () => NodeJS.WriteStream): Writable {
  let viaStream = false;
  return {
    write(s: string) {
      if (viaStream) return stream().write(s);
      const buf = Buffer.from(s);
      let done = 0;
      try {
        while (done < buf.length) done += writeSync(fd, buf, done);
      } catch {
        viaStream = true;
        return stream().write(buf.subarray(done));
      }
      return true;
    },
    get isTTY() {
      return stream().isTTY;
    },
    get queued() {
      return viaStream;
    },
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

/** Prints an error as every command does (its message, then its hint); its exit code. */
export function reportError(err: unknown, io: IO): number {
  const e = err instanceof AuthdError ? err : new AuthdError('internal', err instanceof Error ? err.message : String(err));
  // The message may carry text from elsewhere (the provider, a daemon): nothing in it may drive the terminal.
  io.stderr.write(`authd: ${printable(e.message)}${e.hint ? `\n  ${printable(e.hint)}` : ''}\n`);
  return e.exitCode;
}
