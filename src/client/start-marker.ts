// The start-up marker: a file a client creates, atomically, in the socket dir while it starts the
// daemon, holding its pid. It saves fifty racing clients from starting fifty daemons (the daemon's
// own lock decides the winner anyway), and lets a waiting client tell a start in progress from one
// whose starter died (killed with its daemon before that one listened): that is taken over at once.
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isRunning } from '../protocol/process.js';

/** A marker whose starter cannot be told (no pid yet, an older client's directory) is given up on after this long. */
const UNKNOWN_STARTER_MS = 10_000;

export type MarkerState = 'absent' | 'held' | 'abandoned';

export function markerState(marker: string): MarkerState {
  let mtime: number;
  try {
    mtime = statSync(marker).mtimeMs;
  } catch {
    return 'absent';
  }
  let pid = Number.NaN;
  try {
    pid = Number(readFileSync(marker, 'utf8').trim());
  } catch {
    // a directory (the marker of a client before this one) or gone meanwhile
  }
  if (Number.isInteger(pid) && pid > 0 && !isRunning(pid)) return 'abandoned';
  return Date.now() - mtime < UNKNOWN_STARTER_MS ? 'held' : 'abandoned';
}

/** Creates the marker for this process: true if it is ours now (an abandoned one is taken over). */
export function claimMarker(marker: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(marker, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || markerState(marker) !== 'abandoned') return false;
      rmSync(marker, { recursive: true, force: true });
    }
  }
  return false;
}

