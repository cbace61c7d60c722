// The daemon's log: JSON lines in state/authd.log (0600), secrets censored at the source.
// Written here rather than with pino: the daemon logs a few events and one audit line per token and
// caller a second, and pino's loading alone cost it ~9 MB of RSS and 46 internal modules (measured),
// while its path-based redaction was a third of the daemon's CPU on the token path before the audit
// trail skipped it. This redaction works by key name at any depth, which also catches nesting that
// a list of paths would miss.
import { closeSync, fchmodSync, fstatSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AuthdError } from '../protocol/index.js';

const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
type Level = keyof typeof LEVELS;

/** A key whose value may be a secret, wherever it appears in a log object. */
const SECRET_KEY = /token|secret|password|passwd|authorization|credential|private_?key|api_?key|device_code|^cookie$/i;
const CENSOR = '[REDACTED]';
const MAX_DEPTH = 6;

export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  fatal(obj: object | string, msg?: string): void;
  /** The same log without the redaction pass, for lines built only from fields that are never secret. */
  unredacted(): Logger;
}

/** An error as the log may show it: an authd error's code and sentence, else only its type (a message might quote a value). */
export function errText(err: unknown): string {
  if (err instanceof AuthdError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.name : 'error';
}

/** Copies `value` with every secret-named key's value replaced; messages are never touched: keep secrets out of them. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? CENSOR : redact(v, depth + 1);
  return out;
}

/**
 * Lines are batched and written once per turn of the event loop, synchronously: a few lines a
 * second cost microseconds, and a synchronous write can never be overtaken by the flush at exit
 * (an asynchronous one could, and reorder the file).
 */
class Sink {
  private fd: number;
  private queue: string[] = [];
  private scheduled = false;

  constructor(private readonly file: string) {
    this.fd = openPrivate(file);
  }

  push(line: string): void {
    if (this.fd < 0) return;
    this.queue.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushSync());
    }
  }

  /** Everything queued, now; also at exit. */
  flushSync(): void {
    this.scheduled = false;
    if (this.fd < 0 || this.queue.length === 0) return;
    const data = this.queue.join('');
    this.queue = [];
    try {
      writeSync(this.fd, data);
    } catch {
      // a full disk must not take the daemon down; the lines are lost, the tokens are not
    }
  }

  /** For logrotate (SIGHUP): the file may have been moved; write to a fresh one at the same path. */
  reopen(): void {
    this.flushSync();
    const old = this.fd;
    this.fd = openPrivate(this.file);
    closeSync(old);
  }

  close(): void {
    this.flushSync();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

function openPrivate(file: string): number {
  const fd = openSync(file, 'a', 0o600);
  if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600);
  return fd;
}

function createLogger(sink: Sink, min: number, redacting: boolean): Logger {
  const emit = (level: Level, obj: object | string, msg?: string) => {
    if (LEVELS[level] < min) return;
    const fields = typeof obj === 'string' ? undefined : redacting ? (redact(obj) as object) : obj;
    const text = typeof obj === 'string' ? obj : msg;
    const head = `{"level":${LEVELS[level]},"time":"${new Date().toISOString()}","pid":${process.pid}`;
    const body = fields ? JSON.stringify(fields).slice(1, -1) : '';
    sink.push(`${head}${body ? `,${body}` : ''}${text === undefined ? '' : `,"msg":${JSON.stringify(text)}`}}\n`);
  };
  const logger: Logger = {
    debug: (o, m) => emit('debug', o, m),
    info: (o, m) => emit('info', o, m),
    warn: (o, m) => emit('warn', o, m),
    error: (o, m) => emit('error', o, m),
    fatal: (o, m) => emit('fatal', o, m),
    unredacted: () => (redacting ? createLogger(sink, min, false) : logger),
  };
  return logger;
}

export function openLog(stateDir: string, level = process.env.AUTHD_LOG_LEVEL ?? 'info'): { log: Logger; file: string; flush: () => void; reopen: () => void } {
  const file = join(stateDir, 'authd.log');
  const sink = new Sink(file);
  const min = LEVELS[level as Level] ?? LEVELS.info;
  return { log: createLogger(sink, min, true), file, flush: () => sink.flushSync(), reopen: () => sink.reopen() };
}
