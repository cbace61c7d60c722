// Tests drive the real built binary: build once before any test file runs. And the tests' temp
// directories (every test's AUTHD_HOME, git's work trees) go on a tmpfs where there is one.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync } from 'node:fs';
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
    strayDaemons(dir);
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    // A daemon still on its way out may write into its home meanwhile: retry, and never fail the run for it.
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch (err) {
      process.stderr.write(`authd tests: could not remove ${dir}: ${(err as Error).message}\n`);
    }
  };
}

/**
 * A test should leave nothing running. A daemon whose AUTHD_HOME is under this run's TMPDIR outlived
 * its test (one of a git-storage.test.ts home has, now and then, under a full run's load): say which
 * home and what its log says it served, and stop it, so that the run ends clean and the next one can
 * find where it came from.
 */
function strayDaemons(root: string): void {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return; // no /proc here
  }
  for (const pid of pids) {
    let cmdline: string;
    let home: string | undefined;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmdline.includes('daemon.mjs')) continue;
      home = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').find((v) => v.startsWith('AUTHD_HOME='))?.slice('AUTHD_HOME='.length);
    } catch {
      continue;
    }
    if (!home?.startsWith(`${root}/`)) continue;
    let log = '';
    try {
      log = readFileSync(join(home, 'state', 'authd.log'), 'utf8').trim().split('\n').slice(-5).join('\n    ');
    } catch {
      // its home is gone, or it wrote nothing yet
    }
    process.stderr.write(`authd tests: a daemon (pid ${pid}) outlived its test, AUTHD_HOME=${home}; stopping it${log ? `. Its log ends:\n    ${log}` : ''}\n`);
    try {
      process.kill(Number(pid), 'SIGTERM');
    } catch {
      // gone meanwhile
    }
  }
}
