// Who was handed which token: profile, the caller as it describes itself, time, and a fingerprint.
import { createHash } from 'node:crypto';
import type { AuditEntry, CallerInfo } from '../protocol/index.js';
import type { Logger } from './log.js';

const KEEP = 20;

/** A short, one-way fingerprint: enough to match log lines to a token, useless to anyone holding it. */
export function fingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

export class Audit {
  private readonly recent: AuditEntry[] = [];

  constructor(private readonly log: Logger) {}

  record(profile: string, fp: string, caller: CallerInfo | undefined): void {
    const entry: AuditEntry = { time: new Date().toISOString(), profile, fingerprint: fp };
    if (caller) entry.caller = caller;
    this.recent.push(entry);
    if (this.recent.length > KEEP) this.recent.shift();
    this.log.info({ audit: 'served', profile, fp, caller }, 'token served');
  }

  last(n: number): AuditEntry[] {
    return this.recent.slice(-n);
  }
}

/** The caller as it says it is: a pid and a command name, checked for shape only. */
export function callerFrom(v: unknown): CallerInfo | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const c = v as Record<string, unknown>;
  const out: CallerInfo = {};
  if (typeof c.pid === 'number' && Number.isInteger(c.pid) && c.pid > 0) out.pid = c.pid;
  if (typeof c.cmd === 'string') out.cmd = c.cmd.replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 120);
  return out.pid === undefined && out.cmd === undefined ? undefined : out;
}
