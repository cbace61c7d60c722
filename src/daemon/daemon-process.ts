// The daemon as a process: where it stands (not in the directory of whoever started it), how it
// tells its starter that it failed to start, the pid file `authd daemon stop --force` reads, and
// where Node's own warnings go. Its stdio is /dev/null when autostarted (connection.ts).
import { closeSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { type AuthdPaths, pidFilePath } from '../protocol/index.js';
import type { Logger } from './log.js';

/**
 * Every path made absolute, then the working directory left for `/`: the daemon outlives the
 * command that started it, must not keep its directory busy, and a core dump of it must not land
 * in a work tree (with the default core_pattern it would be written to the working directory).
 */
export function leaveStartingDirectory(paths: AuthdPaths): AuthdPaths {
  const pipe = process.platform === 'win32'; // a named pipe, not a file
  const absolute: AuthdPaths = {
    ...paths,
    configFile: resolve(paths.configFile),
    stateDir: resolve(paths.stateDir),
    socketDir: resolve(paths.socketDir),
    socket: pipe ? paths.socket : resolve(paths.socket),
  };
  process.chdir('/');
  return absolute;
}

export interface StartupReport {
  /** The daemon could not start: tell whoever is waiting for it (then it exits). */
  failed(text: string): void;
  /** The daemon listens: nothing more will be reported; the channel is closed. */
  serving(): void;
}

/**
 * `--report-fd=N`: the client that autostarted the daemon reads fd N until the daemon listens, for
 * the reason it failed to start. Nothing else is written there, and it is closed once the daemon
 * serves, so the daemon holds no file of its starter's (its stdio is /dev/null). Without the flag
 * (`authd daemon run`) the reason goes to stderr.
 */
export function startupReport(argv: string[]): StartupReport {
  const arg = argv.find((a) => a.startsWith('--report-fd='));
  const n = arg === undefined ? Number.NaN : Number(arg.slice('--report-fd='.length));
  let fd = Number.isInteger(n) && n > 2 ? n : undefined;
  return {
    failed(text) {
      if (fd === undefined) {
        process.stderr.write(text);
        return;
      }
      try {
        writeSync(fd, text);
      } catch {
        // the starter has gone: nobody to tell
      }
    },
    serving() {
      if (fd === undefined) return;
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      fd = undefined;
    },
  };
}

/** Node's warnings (a timer that overflowed, a deprecation) into the log, where someone can see them. */
export function logWarnings(log: Logger): void {
  process.on('warning', (w) => log.warn({ warning: w.name, code: (w as { code?: unknown }).code }, w.message.slice(0, 200)));
  // The foreground daemon's stderr is a terminal or a journal that may go away: never die of EPIPE.
  process.stderr.on('error', () => undefined);
  process.stdout.on('error', () => undefined);
}

/** Records which process serves this socket (for `authd daemon stop --force`); 0600, replaced atomically. */
export function writePidFile(paths: AuthdPaths): void {
  const file = pidFilePath(paths);
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, `${process.pid}\n`, { mode: 0o600 });
    renameSync(temp, file);
  } catch {
    rmSync(temp, { force: true });
  }
}

/** Removes the pid file, if it still names this process (a newer daemon may have replaced it). */
export function removePidFile(paths: AuthdPaths): void {
  const file = pidFilePath(paths);
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
  } catch {
    // gone already
  }
}
