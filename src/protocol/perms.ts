// The one module that decides whether a file or directory is private enough to hold secrets.
// As ssh does: refuse what is a symlink, owned by someone else, or open to group/others. Shared:
// the daemon checks its directories before it listens, the client (issue 9) before it connects.
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { AuthdError } from './errors.js';

/** Windows has no POSIX modes or uids: the checks are no-ops there. */
const POSIX = process.platform !== 'win32';

/**
 * Create `path` (and missing parents) 0700 if absent, then refuse it unless it is a private directory.
 * `chosenBy` names the variable through which the user chose this directory (AUTHD_SOCKET's): the fix
 * is then to choose another one, never to change a directory that may serve others (/tmp, /run).
 */
export function ensurePrivateDir(path: string, what: string, chosenBy?: string): void {
  if (!lstatIfExists(path)) mkdirSync(path, { recursive: true, mode: 0o700 });
  checkPrivateDir(path, what, chosenBy);
}

/** False if `path` is missing; true if it is a private directory; otherwise throws (see ensurePrivateDir). */
export function checkPrivateDir(path: string, what: string, chosenBy?: string): boolean {
  const st = lstatIfExists(path);
  if (!st) return false;
  if (!POSIX) return true;
  const elsewhere = chosenBy
    ? `set ${chosenBy} to a path in a directory only you can use (e.g. \`mkdir -m 700 ~/.authd\` and `
      + `${chosenBy}=~/.authd/authd.sock), or unset it`
    : undefined;
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new AuthdError(
      'insecure_permissions',
      `The ${what} ${path} is ${describe(st)}, not a directory.`,
      elsewhere ?? `remove it (\`rm ${shellQuote(path)}\`); authd creates the directory itself`,
    );
  }
  checkOwnerAndMode(st, path, what, '700', elsewhere);
  return true;
}

/** False if `path` is missing; true if it is a private regular file; otherwise throws. */
export function checkPrivateFile(path: string, what: string): boolean {
  const st = lstatIfExists(path);
  if (!st) return false;
  if (!POSIX) return true;
  if (st.isSymbolicLink() || !st.isFile()) {
    throw new AuthdError(
      'insecure_permissions',
      `The ${what} ${path} is ${describe(st)}, not a regular file.`,
      `move it away (\`mv ${shellQuote(path)} ${shellQuote(`${path}.old`)}\`) and retry`,
    );
  }
  checkOwnerAndMode(st, path, what, '600');
  return true;
}

/** Mode bits as ls users read them, e.g. "0755". */
export function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** `elsewhere`: how to choose another path, for a path the user chose (it is not authd's to change). */
function checkOwnerAndMode(st: Stats, path: string, what: string, wanted: '600' | '700', elsewhere?: string): void {
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new AuthdError(
      'insecure_permissions',
      `The ${what} ${path} is owned by uid ${st.uid}, not by you (uid ${uid}).`,
      elsewhere ?? `remove it, or have its owner or root run \`chown ${uid} ${shellQuote(path)}\``,
    );
  }
  if ((st.mode & 0o077) === 0) return;
  const chmod = `\`chmod ${wanted} ${shellQuote(path)}\``;
  // A sticky or world-writable directory (/tmp, /var/tmp, /dev/shm) is shared on purpose: making it
  // private would break everyone else who uses it.
  if (st.isDirectory() && (st.mode & 0o1002) !== 0) {
    throw new AuthdError(
      'insecure_permissions',
      `The ${what} ${path} is shared with others (mode ${octal(st.mode)}); authd needs a directory only you can use.`,
      elsewhere ?? `move it away (\`mv ${shellQuote(path)} ${shellQuote(`${path}.old`)}\`); authd creates a private one in its place`,
    );
  }
  throw new AuthdError(
    'insecure_permissions',
    `The ${what} ${path} has mode ${octal(st.mode)}; it must not be accessible by group or others.`,
    elsewhere ? `${elsewhere}; or, if ${path} is for you alone, run ${chmod}` : `run ${chmod}`,
  );
}

function lstatIfExists(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function describe(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a regular file';
  return 'a special file';
}

/** Quote a path for a hint the user pastes into a shell. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}
