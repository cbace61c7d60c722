// Replacing a file so that a reader, or a crash, finds the old contents or the new, never a mix:
// temp file beside it (O_EXCL, 0600) → write → chmod → fsync → rename over it → fsync the directory.
// One sequence for the file store (tokens) and the config editor; the sync and async forms below
// are step for step the same.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fsyncSync, openSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /** Permission bits of the new file. Default: those of the file it replaces, or 0600 when there is none. */
  mode?: number;
  /** Write the file a symbolic link names, keeping the link (a config kept with dotfiles). Default: replace `path` itself. */
  followSymlink?: boolean;
  /**
   * 'required' (default): a write counts as done once its rename is on disk, and a failed directory
   * fsync is an error. 'best-effort': a failed directory fsync is ignored (some file systems refuse
   * it), for a file whose edit is better reported as made, which it is, than as failed.
   */
  syncDir?: 'required' | 'best-effort';
}

/**
 * A write that failed, with the errno code (never any of the data) and the directory it wrote in.
 * Unless the directory fsync failed, the old file is intact and the temp file is gone.
 */
export class AtomicWriteError extends Error {
  readonly code: string;

  constructor(
    cause: unknown,
    readonly dir: string,
  ) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
    super(`cannot write a file in ${dir} (${code})`, { cause });
    this.code = code;
  }
}

const CREATE_NEW = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY;

export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const target = options.followSymlink ? await realpath(path).catch(() => path) : path;
  const mode = options.mode ?? (await stat(target).then((st) => st.mode & 0o7777, () => 0o600));
  const dir = dirname(target);
  const tmp = tempPath(target);
  let tmpExists = false;
  try {
    const file = await open(tmp, CREATE_NEW, 0o600);
    tmpExists = true;
    try {
      await file.writeFile(data);
      await file.chmod(mode); // exact: the umask may have narrowed it
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, target);
    tmpExists = false;
    await syncDir(dir).catch((err: unknown) => {
      if (options.syncDir !== 'best-effort') throw err;
    });
  } catch (err) {
    if (tmpExists) await rm(tmp, { force: true }).catch(() => undefined);
    throw new AtomicWriteError(err, dir);
  }
}

export function writeFileAtomicSync(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const target = options.followSymlink ? orElse(() => realpathSync(path), path) : path;
  const mode = options.mode ?? orElse(() => statSync(target).mode & 0o7777, 0o600);
  const dir = dirname(target);
  const tmp = tempPath(target);
  let tmpExists = false;
  try {
    const fd = openSync(tmp, CREATE_NEW, 0o600);
    tmpExists = true;
    try {
      writeFileSync(fd, data);
      fchmodSync(fd, mode); // exact: the umask may have narrowed it
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
    tmpExists = false;
    try {
      syncDirSync(dir);
    } catch (err) {
      if (options.syncDir !== 'best-effort') throw err;
    }
  } catch (err) {
    if (tmpExists) orElse(() => rmSync(tmp, { force: true }), undefined);
    throw new AtomicWriteError(err, dir);
  }
}

/**
 * The pid of the process that made `name` as a temp file for the file named `base` (it is in the
 * name, so a leftover of a writer that died can be told from a live writer's), or undefined if
 * `name` is not one.
 */
export function tempFileWriter(name: string, base: string): number | undefined {
  const prefix = `${base}.tmp-`;
  const m = name.startsWith(prefix) ? /^(\d+)-[0-9a-f]{12}$/.exec(name.slice(prefix.length)) : null;
  return m ? Number(m[1]) : undefined;
}

function tempPath(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** Makes a rename durable. Windows cannot open a directory, and NTFS does not need it. */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function syncDirSync(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function orElse<T>(fn: () => T, fallback: T): T {
  try {
    return fn();
  } catch {
    return fallback;
  }
}
