// The daemon's log: secrets censored by key name at any depth, a private file, lines a machine can read.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { openLog, redact } from '../src/daemon/log.js';

test('secret-named fields are censored wherever they are nested, other fields kept', () => {
  const out = redact({
    profile: 'acme',
    refresh_token: 'rt',
    nested: { deeper: { access_token: 'at', client_secret: 'cs', Authorization: 'Bearer x', ok: 1 } },
    list: [{ id_token: 'it' }, 'plain'],
    apiKey: 'k',
    private_key: 'pem',
  });
  expect(out).toEqual({
    profile: 'acme',
    refresh_token: '[REDACTED]',
    nested: { deeper: { access_token: '[REDACTED]', client_secret: '[REDACTED]', Authorization: '[REDACTED]', ok: 1 } },
    list: [{ id_token: '[REDACTED]' }, 'plain'],
    apiKey: '[REDACTED]',
    private_key: '[REDACTED]',
  });
});

test('the log file is 0600 and holds one JSON object per line, with pid before msg', () => {
  const dir = mkdtempSync(join(tmpdir(), 'authd-log.'));
  const { log, flush } = openLog(dir);
  log.info({ profile: 'p', token: 'should-not-appear' }, 'hello "world"');
  log.warn('plain message');
  log.debug({ x: 1 }, 'below the level');
  log.unredacted().info({ fp: 'abc', caller: { pid: 1 } }, 'audit');
  flush();
  const file = join(dir, 'authd.log');
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines).toHaveLength(3);
  expect(lines[0]).toMatchObject({ level: 30, pid: process.pid, profile: 'p', token: '[REDACTED]', msg: 'hello "world"' });
  expect(lines[1]).toMatchObject({ level: 40, msg: 'plain message' });
  expect(lines[2]).toMatchObject({ fp: 'abc', caller: { pid: 1 }, msg: 'audit' });
  expect(readFileSync(file, 'utf8')).not.toContain('should-not-appear');
});
