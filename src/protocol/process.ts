// Whether a process is alive, for the client and the daemon alike (start markers, temp files of a
// writer that died). No dependencies beyond node:.
import { readFileSync } from 'node:fs';

/** The process exists and is not a zombie (a killed process whose parent has not reaped it, as a container's init often does not). */
export function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // someone else's process: alive, not ours to judge
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return true; // no /proc (macOS): kill(pid, 0) has answered
  }
}
