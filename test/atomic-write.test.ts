import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AtomicWriteError,
  type AtomicWriteOptions,
  tempFileWriter,
  writeFileAtomic,
  writeFileAtomicSync,
} from '../src/daemon/atomic-write.js';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'authd-atomic-'));
  file = join(dir, 'data.json');
});
afterEach(() => {
  chattr('-i', file);
  rmSync(dir, { recursive: true, force: true });
});

/** `chattr` sets the immutable flag, a real fault even root's rename cannot get past. */
function chattr(flag: '+i' | '-i', path: string): boolean {
  return spawnSync('chattr', [flag, path], { stdio: 'ignore' }).status === 0;
}

/** The error a write fails with (and a failed test if it succeeds or fails otherwise). */
async function failure(write: Promise<void>): Promise<AtomicWriteError> {
  const err = await write.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AtomicWriteError);
  return err as AtomicWriteError;
}

// The file store writes with the async form, the config editor with the sync one: both must keep the same promises.
describe.each([
  ['writeFileAtomic', writeFileAtomic],
  ['writeFileAtomicSync', async (path: string, data: string, options?: AtomicWriteOptions) => writeFileAtomicSync(path, data, options)],
])('%s', (_name, write) => {
  it('replaces the contents and leaves nothing else in the directory', async () => {
    writeFileSync(file, 'old');
    await write(file, 'new');
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(readdirSync(dir)).toEqual(['data.json']);
  });

  // Needs chattr and a filesystem with the immutable flag (ext4, xfs, btrfs); skipped elsewhere.
  it('a failed write leaves the old file as it was, and no temp file behind', async (ctx) => {
    writeFileSync(file, 'old');
    chmodSync(file, 0o640);
    if (!chattr('+i', file)) ctx.skip('chattr +i is not available here');

    const err = await failure(write(file, 'new', { mode: 0o600 }));
    expect(err.code).toBe('EPERM');
    expect(err.dir).toBe(dir);
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['data.json']);
  });

  it('keeps the mode of the file it replaces; a new file is 0600', async () => {
    writeFileSync(file, 'old');
    chmodSync(file, 0o640);
    await write(file, 'new');
    expect(statSync(file).mode & 0o777).toBe(0o640);

    const fresh = join(dir, 'fresh.json');
    await write(fresh, 'new');
    expect(statSync(fresh).mode & 0o777).toBe(0o600);
  });

  it('a mode it is given is exact, whatever the umask', async () => {
    writeFileSync(file, 'old');
    chmodSync(file, 0o644);
    const umask = process.umask(0o277); // would make a new file 0400
    try {
      await write(file, 'new', { mode: 0o600 });
    } finally {
      process.umask(umask);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('replaces a symbolic link with a file of its own, unless told to follow it', async () => {
    const real = join(dir, 'dotfiles.json');
    writeFileSync(real, 'old');
    symlinkSync(real, file);
    await write(file, 'through the link', { followSymlink: true });
    expect(lstatSync(file).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toBe('through the link');

    await write(file, 'in place of the link');
    expect(lstatSync(file).isFile()).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('in place of the link');
    expect(readFileSync(real, 'utf8')).toBe('through the link');
  });

  // A writer killed mid-write leaves its temp file (for the store, a copy of the tokens); the store
  // removes those of dead writers at start, recognising them by tempFileWriter.
  it('names its temp file so that tempFileWriter finds the writer', async () => {
    const seen: string[] = [];
    const renamed = new Promise<void>((resolve) => {
      const watcher = watch(dir, (_event, name) => {
        if (name) seen.push(name);
        if (name === 'data.json') {
          watcher.close();
          resolve();
        }
      });
    });
    await write(file, 'new');
    await renamed;
    const temps = [...new Set(seen)].filter((n) => n !== 'data.json');
    expect(temps).toHaveLength(1);
    expect(tempFileWriter(temps[0]!, 'data.json')).toBe(process.pid);
    expect(readdirSync(dir)).toEqual(['data.json']);
  });
});

describe('tempFileWriter', () => {
  it('reads the pid from the temp-file names of one file only', () => {
    expect(tempFileWriter('credentials.json.tmp-4242-0123456789ab', 'credentials.json')).toBe(4242);
    for (const other of [
      'credentials.json',
      'credentials.json.tmp-other',
      'credentials.json.tmp-4242-0123456789ab.keep',
      'xcredentials.json.tmp-4242-0123456789ab',
      'credentials.json.tmp-4242-0123456789AB',
      'config.toml.tmp-4242-0123456789ab',
    ]) {
      expect(tempFileWriter(other, 'credentials.json')).toBeUndefined();
    }
  });
});
