// The processes this machine shows in /proc, for tests that look at argv (secrets must never be
// there) or look for the daemons and helpers they started.
import { readdirSync, readFileSync } from 'node:fs';

export interface Proc {
  pid: number;
  /** argv, NUL-separated as the kernel gives it. */
  cmdline: string;
  /** Read on demand: most callers only need argv. */
  environ(): string[];
}

export function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      out.push({
        pid: Number(name),
        cmdline,
        environ: () => {
          try {
            return readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
          } catch {
            return []; // gone meanwhile
          }
        },
      });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Every process's argv, one line each (NULs as spaces). */
export function allCmdlines(): string {
  return processes().map((p) => p.cmdline.replaceAll('\0', ' ')).join('\n');
}

/**
 * Dead, or a zombie nobody has reaped yet (its parent, say the client that started a daemon, has
 * exited) with every thread gone: a killed Node's main thread turns zombie before its other threads
 * have exited, and until the last one has, its files (a listening socket) stay open.
 */
export function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] === 'Z' && readdirSync(`/proc/${pid}/task`).length <= 1;
  } catch {
    return true;
  }
}
