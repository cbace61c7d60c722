import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from '../src/daemon/store/index.js';
import type { StoredSession } from '../src/daemon/store/types.js';
import type { AuthdError } from '../src/protocol/errors.js';
import { rejection } from './support/rejection.js';

const SECRET = 'rt-SECRET-7f3a9c1e5b';
const session = (n = 0): StoredSession => ({ v: 1, issuer: 'https://idp.example', refresh_token: `${SECRET}-${n}` });

let root: string;
let stateDir: string;
let credentials: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'authd-store-'));
  stateDir = join(root, 'state');
  credentials = join(stateDir, 'credentials.json');
});
afterEach(() => {
  chattr('-i', credentials);
  rmSync(root, { recursive: true, force: true });
});

/** `chattr` sets the immutable flag, a real fault even root's rename cannot get past. */
function chattr(flag: '+i' | '-i', path: string): boolean {
  return spawnSync('chattr', [flag, path], { stdio: 'ignore' }).status === 0;
}

function writeCredentials(text: string, mode = 0o600): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(credentials, text, { mode });
  chmodSync(credentials, mode);
}


describe('the file store', () => {
  it('a session put is there after the daemon restarts', async () => {
    const first = await openStore('file', stateDir);
    await first.put('acme', { ...session(), expires_at: 1_900_000_000, future_field: 'kept' } as StoredSession);
    const second = await openStore('file', stateDir);
    expect(await second.get('acme')).toEqual({ ...session(), expires_at: 1_900_000_000, future_field: 'kept' });
    expect(await second.keys()).toEqual(['acme']);
    expect(second.location).toBe(credentials);
    expect(second.warning).toBeUndefined();
  });

  it('a deleted session is gone after a restart, and deleting it again says so', async () => {
    const store = await openStore('file', stateDir);
    await store.put('acme', session());
    await store.put('secret:acme', session(1));
    expect(await store.delete('acme')).toBe(true);
    expect(await store.delete('acme')).toBe(false);
    expect(await (await openStore('file', stateDir)).keys()).toEqual(['secret:acme']);
  });

  it.skipIf(process.platform === 'win32')('the file is 0600 in a 0700 directory after a write', async () => {
    const store = await openStore('file', stateDir);
    await store.put('acme', session());
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    expect(statSync(credentials).mode & 0o777).toBe(0o600);
    expect(readdirSync(stateDir)).toEqual(['credentials.json']);
  });

  it('fifty concurrent puts lose no entry', async () => {
    const store = await openStore('file', stateDir);
    const keys = Array.from({ length: 50 }, (_, i) => `profile-${i}`);
    await Promise.all(keys.map((k, i) => store.put(k, session(i))));
    const reopened = await openStore('file', stateDir);
    expect((await reopened.keys()).sort()).toEqual([...keys].sort());
    expect(await reopened.get('profile-49')).toEqual(session(49));
  });

  it('concurrent writes to one key apply in the order they were made', async () => {
    const store = await openStore('file', stateDir);
    await Promise.all([store.put('acme', session(1)), store.delete('acme'), store.put('acme', session(3))]);
    expect(await (await openStore('file', stateDir)).get('acme')).toEqual(session(3));
  });

  it('changing a value after put or get does not change what is stored', async () => {
    const store = await openStore('file', stateDir);
    const value = session(1);
    const written = store.put('acme', value);
    value.refresh_token = 'changed';
    await written;
    const got = await store.get('acme');
    if (got) got.refresh_token = 'changed again';
    expect(await store.get('acme')).toEqual(session(1));
  });

  it('a corrupt credentials file is kept aside, not emptied', async () => {
    const garbage = `{"v":1,"entries":{"acme":{"v":1,"refresh_token":"${SECRET}"`;
    writeCredentials(garbage);
    const store = await openStore('file', stateDir);
    expect(await store.keys()).toEqual([]);
    const aside = readdirSync(stateDir).filter((f) => f.startsWith('credentials.json.corrupt-'));
    expect(aside).toHaveLength(1);
    const asidePath = join(stateDir, aside[0] ?? '');
    expect(aside[0]).toMatch(/^credentials\.json\.corrupt-\d{8}T\d{6}\.\d{3}Z$/);
    expect(readFileSync(asidePath, 'utf8')).toBe(garbage);
    expect(statSync(asidePath).mode & 0o777).toBe(0o600);
    expect(store.warning).toContain(asidePath);
    expect(store.warning).not.toContain(SECRET);
  });

  it('valid JSON of the wrong shape is also kept aside', async () => {
    writeCredentials(JSON.stringify({ v: 1, entries: { acme: 'not a session' } }));
    const store = await openStore('file', stateDir);
    expect(store.warning).toMatch(/corrupt/);
    expect(readdirSync(stateDir).some((f) => f.startsWith('credentials.json.corrupt-'))).toBe(true);
  });

  it.skipIf(process.platform === 'win32')(
    'a credentials file readable by the group is refused with a chmod hint',
    async () => {
      writeCredentials(JSON.stringify({ v: 1, entries: {} }), 0o640);
      const err = await rejection(openStore('file', stateDir));
      expect(err.code).toBe('insecure_permissions');
      expect(err.hint).toBe(`run \`chmod 600 ${credentials}\``);
    },
  );

  it.skipIf(process.platform === 'win32')('a state directory open to others is refused', async () => {
    mkdirSync(stateDir, { mode: 0o700 });
    chmodSync(stateDir, 0o755);
    const err = await rejection(openStore('file', stateDir));
    expect(err.code).toBe('insecure_permissions');
    expect(err.hint).toBe(`run \`chmod 700 ${stateDir}\``);
  });

  // Needs chattr and a filesystem with the immutable flag (ext4, xfs, btrfs); skipped elsewhere.
  it('a failed write leaves the previous file intact', async (ctx) => {
    const store = await openStore('file', stateDir);
    await store.put('acme', session(1));
    const before = readFileSync(credentials, 'utf8');
    if (!chattr('+i', credentials)) ctx.skip('chattr +i is not available here');

    const err = await rejection(store.put('acme', session(2)));
    expect(err.code).toBe('store_error');
    expect(err.message).toBe(`Could not write the credentials file ${credentials} (EPERM).`);
    expect(readFileSync(credentials, 'utf8')).toBe(before);
    expect(readdirSync(stateDir)).toEqual(['credentials.json']); // the temp file was removed
    expect(await store.get('acme')).toEqual(session(1)); // memory still matches the disk

    chattr('-i', credentials);
    await store.put('other', session(3)); // the queue is not stuck after a failure
    expect((await (await openStore('file', stateDir)).keys()).sort()).toEqual(['acme', 'other']);
  });

  it('temp files left by a writer that died are removed when the store opens; a live writer\'s and every other file stay', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid; // exited and reaped: its pid names no process
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const orphan = `credentials.json.tmp-${dead}-0123456789ab`;
    const kept = [
      `credentials.json.tmp-${process.pid}-0123456789ab`, // a writer that is alive (this one)
      'credentials.json.tmp-other',
      `credentials.json.tmp-${dead}-0123456789ab.txt`,
      `xcredentials.json.tmp-${dead}-0123456789ab`,
      'notes.txt',
    ];
    for (const name of [orphan, ...kept]) writeFileSync(join(stateDir, name), SECRET, { mode: 0o600 });
    const store = await openStore('file', stateDir);
    expect(await store.keys()).toEqual([]);
    expect(readdirSync(stateDir).sort()).toEqual([...kept].sort());
  });

  it('no secret value appears in any error message', async () => {
    const messages: string[] = [];
    const collect = (err: AuthdError | undefined) => {
      if (err) messages.push(err.message, err.hint ?? '');
    };

    writeCredentials(`{"entries":{"acme":{"refresh_token":"${SECRET}"}}`, 0o644);
    collect(await rejection(openStore('file', stateDir)));
    chmodSync(credentials, 0o600);
    const store = await openStore('file', stateDir);
    messages.push(store.warning ?? '');

    await store.put('acme', session(1));
    if (chattr('+i', credentials)) {
      collect(await rejection(store.put('acme', session(2))));
      chattr('-i', credentials);
    }
    expect(messages.filter(Boolean).length).toBeGreaterThanOrEqual(3);
    for (const m of messages) expect(m).not.toContain(SECRET);
  });
});

describe('the memory store', () => {
  it('keeps sessions only in memory and writes no file', async () => {
    const store = await openStore('memory', stateDir);
    await store.put('acme', session());
    expect(await store.get('acme')).toEqual(session());
    expect(await store.delete('acme')).toBe(true);
    expect(await store.keys()).toEqual([]);
    expect(store.location).toBe('memory');
    expect(() => statSync(stateDir)).toThrow();
  });
});
