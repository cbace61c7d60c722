// The daemon's log: pino to state/authd.log (0600), secrets censored at the source.
import { once } from 'node:events';
import { join } from 'node:path';
import pino from 'pino';

export type Logger = pino.Logger;

/** Field names that may hold a secret anywhere in a log object. Messages are never redacted: keep secrets out of them. */
const SECRET_FIELDS = ['access_token', 'refresh_token', 'id_token', 'client_secret', 'device_code', 'password', 'token', 'secret', 'authorization'];

export const redact = {
  censor: '[REDACTED]',
  paths: [...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`), ...SECRET_FIELDS.map((f) => `*.*.${f}`)],
};

export async function openLog(stateDir: string, level = process.env.AUTHD_LOG_LEVEL ?? 'info'): Promise<{ log: Logger; file: string; flush: () => void; reopen: () => void }> {
  const file = join(stateDir, 'authd.log');
  const dest = pino.destination({ dest: file, sync: false, mode: 0o600 });
  await once(dest, 'ready');
  const log = pino({ level, redact, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
  return {
    log,
    file,
    flush: () => {
      try {
        dest.flushSync();
      } catch {
        // nothing more can be done at exit
      }
    },
    reopen: () => dest.reopen(),
  };
}

/** For `memory`-only runs and tests that need no file. */
export function silentLog(): Logger {
  return pino({ level: 'silent' });
}
