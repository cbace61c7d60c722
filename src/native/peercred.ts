// Loads peercred.node (src/native/peercred.c, built beside the bundles by scripts/build-native.mjs).
// Without it authd still runs: the client checks only the socket directory, and the daemon relies on
// that directory's 0700; `authd status` and `authd doctor` say so.
import { existsSync } from 'node:fs';
import type net from 'node:net';

export interface PeerCred {
  uid: number;
  gid: number;
  /** -1 where the platform does not say. */
  pid: number;
}

export interface Hardening {
  /** PR_GET_DUMPABLE after the call: 0 on Linux; -1 where there is no such setting. */
  dumpable: number;
  coreLimit: number;
}

export interface PeerCredAddon {
  peerCred(fd: number): PeerCred;
  harden(): Hardening;
}

export type Loaded = { addon: PeerCredAddon; why?: undefined } | { addon?: undefined; why: string };

const loaded = new Map<string, Loaded>();

/** The addon at `file`, loaded once; or why it is not there. */
export function loadPeerCred(file: string): Loaded {
  let r = loaded.get(file);
  if (!r) {
    r = load(file);
    loaded.set(file, r);
  }
  return r;
}

function load(file: string): Loaded {
  if (process.platform === 'win32') return { why: 'Windows named pipes carry no Unix credentials' };
  const m = { exports: {} as Partial<PeerCredAddon> };
  try {
    // process.dlopen, not require: the same code runs in the CommonJS client and the ESM daemon.
    process.dlopen(m, file);
  } catch (err) {
    // Asked only now: on every get-token the file is there (a stat first costs each start ~0.1 ms).
    if (!existsSync(file)) return { why: `${file} was not built (no C compiler or Node headers at build time)` };
    return { why: `${file} does not load (${String((err as Error).message).split('\n')[0]})` };
  }
  const addon = m.exports;
  if (typeof addon.peerCred !== 'function' || typeof addon.harden !== 'function') return { why: `${file} is not authd's addon` };
  return { addon: addon as PeerCredAddon };
}

/** The descriptor under a connected or accepted Unix socket (Node keeps it on an internal handle). */
export function socketFd(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Who is at the other end of `socket`. Call it in the connect/connection handler: Node drops the handle once the peer hangs up. */
export function peerOf(addon: PeerCredAddon, socket: net.Socket): PeerCred {
  return peerOfFd(addon, socketFd(socket));
}

/** Who is at the other end of the connected Unix socket `fd`. */
export function peerOfFd(addon: PeerCredAddon, fd: number | undefined): PeerCred {
  if (fd === undefined) throw new Error('the socket has no descriptor');
  return addon.peerCred(fd);
}
