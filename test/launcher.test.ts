// The launchers (bin/authd, bin/git-credential-authd) find their dist/ however they are reached:
// directly, through a symlinked file (npm's bin links), or through a symlinked bin directory on PATH
// (Node normalises `bin/../dist` by its letters, so the launcher must take `..` from where it points).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';

const BIN = resolve(__dirname, '../bin');
const VERSION = (JSON.parse(readFileSync(resolve(__dirname, '../package.json'), 'utf8')) as { version: string }).version;
const dir = mkdtempSync(join(tmpdir(), 'authd-launch.'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

symlinkSync(BIN, join(dir, 'linked-bin')); // absolute link to the bin directory
mkdirSync(join(dir, 'files'));
symlinkSync(join(BIN, 'authd'), join(dir, 'files', 'authd')); // npm's per-file links
symlinkSync(join(BIN, 'git-credential-authd'), join(dir, 'files', 'git-credential-authd'));
symlinkSync('linked-bin', join(dir, 'relative-bin')); // a relative link to a link

for (const native of ['1', '0']) {
  for (const via of ['linked-bin', 'files', 'relative-bin']) {
    test(`through ${via} (AUTHD_NATIVE=${native}), both launchers start`, () => {
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', AUTHD_HOME: join(dir, 'home'), AUTHD_NATIVE: native };
      // The version is built in (dist/authd.cjs): printed only if the launcher found dist/.
      expect(execFileSync(join(dir, via, 'authd'), ['--version'], { env, encoding: 'utf8' })).toBe(`authd ${VERSION}\n`);
      // An action git added after this helper: nothing printed, exit 0 (from dist/authd.cjs, by either client).
      expect(execFileSync(join(dir, via, 'git-credential-authd'), ['frobnicate'], { env, encoding: 'utf8', input: '' })).toBe('');
      // Relative to the working directory too.
      expect(execFileSync(join(via, 'authd'), ['--version'], { env, encoding: 'utf8', cwd: dir })).toBe(`authd ${VERSION}\n`);
    });
  }
}
