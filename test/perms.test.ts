import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthdError } from '../src/protocol/errors.js';
import { checkPrivateDir, checkPrivateFile, ensurePrivateDir, readTrustedFile } from '../src/protocol/perms.js';

const NOBODY = 65534;
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'authd-perms-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function refusal(fn: () => unknown): AuthdError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AuthdError);
    expect((err as AuthdError).code).toBe('insecure_permissions');
    return err as AuthdError;
  }
  throw new Error('expected an insecure_permissions error');
}

describe.skipIf(process.platform === 'win32')('private directories', () => {
  it('a missing state directory is created 0700, parents included', () => {
    const dir = join(root, 'a', 'b', 'state');
    ensurePrivateDir(dir, 'state directory');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, 'a')).mode & 0o777).toBe(0o700);
  });

  it('an existing private directory is accepted as it is', () => {
    const dir = join(root, 'state');
    mkdirSync(dir, { mode: 0o700 });
    expect(() => ensurePrivateDir(dir, 'state directory')).not.toThrow();
  });

  it('a directory readable by others is refused with a chmod 700 hint', () => {
    const dir = join(root, 'state');
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const err = refusal(() => ensurePrivateDir(dir, 'state directory'));
    expect(err.message).toBe(
      `The state directory ${dir} has mode 0755; it must not be accessible by group or others.`,
    );
    expect(err.hint).toBe(`run \`chmod 700 ${dir}\``);
  });

  it('a directory owned by someone else is refused, naming both uids', () => {
    const dir = join(root, 'state');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, NOBODY, NOBODY);
    const err = refusal(() => ensurePrivateDir(dir, 'socket directory'));
    expect(err.message).toBe(
      `The socket directory ${dir} is owned by uid ${NOBODY}, not by you (uid ${process.getuid?.()}).`,
    );
    expect(err.hint).toContain('chown');
  });

  it('a symlink to a private directory is refused, not followed', () => {
    const real = join(root, 'real');
    mkdirSync(real, { mode: 0o700 });
    const link = join(root, 'state');
    symlinkSync(real, link);
    const err = refusal(() => ensurePrivateDir(link, 'state directory'));
    expect(err.message).toContain('is a symbolic link, not a directory');
  });

  it('a regular file where the directory should be is refused', () => {
    const path = join(root, 'state');
    writeFileSync(path, '');
    const err = refusal(() => ensurePrivateDir(path, 'state directory'));
    expect(err.message).toBe(`The state directory ${path} is a regular file, not a directory.`);
  });

  it('a shared (sticky, world-writable) directory is refused without advice to chmod it', () => {
    const dir = join(root, 'tmp');
    mkdirSync(dir);
    chmodSync(dir, 0o1777);
    const err = refusal(() => ensurePrivateDir(dir, 'state directory'));
    expect(err.message).toBe(`The state directory ${dir} is shared with others (mode 1777); authd needs a directory only you can use.`);
    expect(err.hint).not.toMatch(/chmod/);
    expect(statSync(dir).mode & 0o7777).toBe(0o1777);
  });

  it('a directory the user chose (AUTHD_SOCKET) is never to be changed: every hint says to choose another', () => {
    const shared = join(root, 'tmp');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const theirs = join(root, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, NOBODY, NOBODY);
    const link = join(root, 'link');
    symlinkSync(shared, link);
    for (const dir of [shared, theirs, link]) {
      const err = refusal(() => ensurePrivateDir(dir, 'socket directory', 'AUTHD_SOCKET'));
      expect(err.hint).toMatch(/^set AUTHD_SOCKET to a path in a directory only you can use/);
      expect(err.hint).not.toMatch(/chmod|chown|\brm\b|\bmv\b/);
    }
  });

  it('a chosen directory of your own that others can read may be made private, or another chosen', () => {
    const dir = join(root, 'mine');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const err = refusal(() => ensurePrivateDir(dir, 'socket directory', 'AUTHD_SOCKET'));
    expect(err.hint).toMatch(/^set AUTHD_SOCKET to a path in a directory only you can use/);
    expect(err.hint).toContain(`or, if ${dir} is for you alone, run \`chmod 700 ${dir}\``);
  });

  it('a hint quotes a path with spaces so it can be pasted', () => {
    const dir = join(root, "it's here");
    mkdirSync(dir, { mode: 0o750 });
    chmodSync(dir, 0o750);
    const err = refusal(() => ensurePrivateDir(dir, 'state directory'));
    expect(err.hint).toBe(`run \`chmod 700 '${root}/it'\\''s here'\``);
  });
});

describe.skipIf(process.platform === 'win32')('private files', () => {
  it('a missing file is reported as absent, not as an error', () => {
    expect(checkPrivateFile(join(root, 'credentials.json'), 'credentials file')).toBe(false);
  });

  it('a 0600 file of your own is accepted', () => {
    const file = join(root, 'credentials.json');
    writeFileSync(file, '{}', { mode: 0o600 });
    expect(checkPrivateFile(file, 'credentials file')).toBe(true);
  });

  it('a file readable by the group is refused with a chmod 600 hint', () => {
    const file = join(root, 'credentials.json');
    writeFileSync(file, '{}');
    chmodSync(file, 0o640);
    const err = refusal(() => checkPrivateFile(file, 'credentials file'));
    expect(err.message).toBe(
      `The credentials file ${file} has mode 0640; it must not be accessible by group or others.`,
    );
    expect(err.hint).toBe(`run \`chmod 600 ${file}\``);
  });

  it('a file owned by someone else is refused even when its mode is 0600', () => {
    const file = join(root, 'credentials.json');
    writeFileSync(file, '{}', { mode: 0o600 });
    chownSync(file, NOBODY, NOBODY);
    const err = refusal(() => checkPrivateFile(file, 'credentials file'));
    expect(err.message).toContain(`is owned by uid ${NOBODY}`);
  });

  it('a symlink to a private file is refused, not followed', () => {
    const real = join(root, 'elsewhere.json');
    writeFileSync(real, '{}', { mode: 0o600 });
    const link = join(root, 'credentials.json');
    symlinkSync(real, link);
    const err = refusal(() => checkPrivateFile(link, 'credentials file'));
    expect(err.message).toBe(`The credentials file ${link} is a symbolic link, not a regular file.`);
  });

  it('a directory where the file should be is refused', () => {
    const path = join(root, 'credentials.json');
    mkdirSync(path, { mode: 0o700 });
    const err = refusal(() => checkPrivateFile(path, 'credentials file'));
    expect(err.message).toContain('is a directory, not a regular file');
  });
});

describe.skipIf(process.platform === 'win32')('files authd acts on (the config)', () => {
  it('a missing file is no file, and a file of your own that only you can write is read', () => {
    const file = join(root, 'config.toml');
    expect(readTrustedFile(file, 'config file')).toBeUndefined();
    writeFileSync(file, 'x = 1\n', { mode: 0o644 });
    expect(readTrustedFile(file, 'config file')).toBe('x = 1\n');
  });

  it('a file root owns and only root can write is trusted, as ssh trusts it (an admin-managed config)', () => {
    const file = join(root, 'config.toml');
    writeFileSync(file, 'x = 1\n', { mode: 0o644 });
    chownSync(file, 0, 0);
    expect(readTrustedFile(file, 'config file')).toBe('x = 1\n');
  });

  it('a group-writable file is refused with a chmod go-w hint', () => {
    const file = join(root, 'config.toml');
    writeFileSync(file, '');
    chmodSync(file, 0o664);
    const err = refusal(() => readTrustedFile(file, 'config file'));
    expect(err.message).toBe(`The config file ${file} has mode 0664: others can change it, so authd does not act on it.`);
    expect(err.hint).toBe(`run \`chmod go-w ${file}\``);
  });

  it('a FIFO in the file\'s place is refused at once, not waited on', () => {
    const file = join(root, 'config.toml');
    execFileSync('mkfifo', [file]);
    const err = refusal(() => readTrustedFile(file, 'config file'));
    expect(err.message).toBe(`The config file ${file} is a special file, not a regular file.`);
  });
});

describe.skipIf(process.platform === 'win32')('checking a directory without creating it (the client, before it connects)', () => {
  it('a missing directory is reported as absent and not created', () => {
    const dir = join(root, 'run');
    expect(checkPrivateDir(dir, 'socket directory')).toBe(false);
    expect(() => statSync(dir)).toThrow();
  });

  it('another user\'s directory is refused as ensurePrivateDir refuses it', () => {
    const dir = join(root, 'run');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, NOBODY, NOBODY);
    expect(refusal(() => checkPrivateDir(dir, 'socket directory')).message).toContain(`is owned by uid ${NOBODY}`);
  });
});
