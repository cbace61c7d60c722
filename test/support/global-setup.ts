// Tests drive the real built binary: build once before any test file runs. And the tests' temp
// directories (every test's AUTHD_HOME, git's work trees) go on a tmpfs where there is one.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';

/** statfs's f_type of a tmpfs. */
const TMPFS_MAGIC = 0x01021994;

export default function setup(): () => void {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
  return tmpdirOnTmpfs();
}

/**
 * Creating a file on this VM's ext4 /tmp costs ~0.6 ms of kernel time (the 30,000-file checkout of
 * git-2.47.test.ts took 20 s there, 0.3 s on tmpfs): TMPDIR becomes a directory of its own on
 * /dev/shm for the test run (the workers and every process they start inherit it), removed at the
 * end, when /dev/shm is a tmpfs with 2 GiB free. AUTHD_TEST_TMPDIR=keep leaves TMPDIR as it is.
 */
function tmpdirOnTmpfs(): () => void {
  if (process.env.AUTHD_TEST_TMPDIR === 'keep' || !existsSync('/dev/shm')) return () => undefined;
  try {
    // A container's /dev/shm is often 64 MiB: too small for the git tests' checkouts.
    const fs = statfsSync('/dev/shm');
    if (fs.type !== TMPFS_MAGIC || fs.bavail * fs.bsize < 2 * 1024 ** 3) return () => undefined;
  } catch {
    return () => undefined;
  }
  const dir = mkdtempSync(join('/dev/shm', 'authd-tests.'));
  // Like /tmp: the tests of the boundary between users run commands as other users in it.
  chmodSync(dir, 0o1777);
  const before = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return () => {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    rmSync(dir, { recursive: true, force: true });
  };
}
