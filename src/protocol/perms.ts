// The one module that decides whether a file or directory is private enough to hold secrets, or
// trustworthy enough to act on. As ssh does: refuse what is a symlink, owned by someone else, or open
// to group/others. Shared: the daemon checks before it listens, the client before it connects.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, realpathSync, type Stats } from 'node:fs';
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

/**
 * The text of a file authd acts on though it holds no secret (the config), or undefined if there is
 * none. As ssh treats its config: refused if someone else could have written it (group- or
 * world-writable, or owned by neither you nor root), also when reached through a symbolic link. Read
 * from the descriptor that was checked, so the file cannot be swapped in between.
 */
export function readTrustedFile(path: string, what: string): string | undefined {
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO put in the file's place must not hang the reader.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    if (POSIX) checkTrusted(fstatSync(fd), path, what);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

function checkTrusted(st: Stats, path: string, what: string): void {
  const link = lstatIfExists(path)?.isSymbolicLink() ? realpathOrSelf(path) : undefined;
  const shown = link ? `${path} (a symbolic link to ${link})` : path;
  if (!st.isFile()) {
    throw new AuthdError('insecure_permissions', `The ${what} ${shown} is ${describe(st)}, not a regular file.`,
      `move it away (\`mv ${shellQuote(path)} ${shellQuote(`${path}.old`)}\`) and retry`);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid && st.uid !== 0) {
    throw new AuthdError(
      'insecure_permissions',
      link
        ? `The ${what} ${path} is a symbolic link to ${link}, which is owned by uid ${st.uid}, not by you (uid ${uid}); authd does not act on a file another user can change.`
        : `The ${what} ${path} is owned by uid ${st.uid}, not by you (uid ${uid}); authd does not act on a file another user can change.`,
      link
        ? `if you trust what it says, replace the link with a copy of your own (\`cp ${shellQuote(link)} ${shellQuote(`${path}.new`)} && mv ${shellQuote(`${path}.new`)} ${shellQuote(path)}\`)`
        : `if you wrote it, have root run \`chown ${uid} ${shellQuote(path)}\`; otherwise move it away and write your own`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    throw new AuthdError(
      'insecure_permissions',
      `The ${what} ${shown} has mode ${octal(st.mode)}: others can change it, so authd does not act on it.`,
      `run \`chmod go-w ${shellQuote(link ?? path)}\``,
    );
  }
}

function realpathOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
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
