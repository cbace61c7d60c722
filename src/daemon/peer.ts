// The daemon serves only its owner: the uid at the other end of each connection is checked as it is
// accepted (SO_PEERCRED; getpeereid elsewhere), as ssh-agent does; root is let through, as there.
// And the process is made non-dumpable with no core file, so neither a crash nor another process of
// the same user (ptrace, /proc/PID/mem or environ) can read the tokens it holds.
import type net from 'node:net';
import { type Hardening, type Loaded, type PeerCred, peerOf } from '../native/peercred.js';
import type { Logger } from './log.js';

/** What the daemon could do to protect itself, for `status` and `doctor`. */
export interface Protection {
  /** Why peer uids are not checked, when they are not. */
  peerCheckOff?: string;
  hardening?: Hardening;
  /** Why hardening failed, when it did. */
  hardeningOff?: string;
}

/** Non-dumpable, RLIMIT_CORE 0: first thing at start, before any secret is read. */
export function protectProcess(native: Loaded): Protection {
  if (!native.addon) return { peerCheckOff: native.why, hardeningOff: native.why };
  try {
    return { hardening: native.addon.harden() };
  } catch (err) {
    return { hardeningOff: (err as Error).message };
  }
}

/** One line each for `status` and `doctor`: what protects the socket and the process, or what does not. */
export function describeProtection(p: Protection): { ok: boolean; detail: string; fix?: string } {
  const parts: string[] = [];
  parts.push(p.peerCheckOff ? 'peer uid checks unavailable (the 0700 socket directory is the only boundary)' : 'every connection\'s uid is checked');
  if (p.hardening) {
    parts.push(p.hardening.dumpable === 0 ? 'not dumpable' : 'dumpable (no such setting here)');
    parts.push(p.hardening.coreLimit === 0 ? 'no core files' : `core files up to ${p.hardening.coreLimit} bytes`);
  } else {
    parts.push('dumpable, core files allowed');
  }
  const why = p.peerCheckOff ?? p.hardeningOff;
  const detail = why ? `${parts.join('; ')}: ${why}` : parts.join('; ');
  if (!why) return { ok: true, detail };
  if (!p.peerCheckOff) return { ok: false, detail, fix: 'the system refused it (a seccomp or container policy?); the uid checks still apply' };
  return {
    ok: false,
    detail,
    fix: 'install a C compiler and Node\'s headers (Debian: gcc, and libnode-dev if Node came from Debian), rebuild authd '
      + '(`npm rebuild -g authd`, or `npm run build` in a checkout), then restart the daemon (`authd daemon stop`)',
  };
}

/** At most one log line a second about refused connections: a flood of them must not fill the disk. */
const REFUSAL_LOG_MS = 1000;

/** A gate for the 'connection' handler: true to serve the socket; false once it is refused and destroyed. */
export function peerGate(native: Loaded, log: Logger): (socket: net.Socket) => boolean {
  const me = process.getuid?.();
  const addon = native.addon;
  if (!addon || me === undefined) return () => true;
  let lastLogged = 0;
  let unlogged = 0;
  const refuse = (socket: net.Socket, fields: Record<string, unknown>, msg: string): false => {
    socket.destroy();
    const now = Date.now();
    if (now - lastLogged < REFUSAL_LOG_MS) {
      unlogged++;
    } else {
      log.warn({ ...fields, ...(unlogged ? { alsoRefused: unlogged } : {}) }, msg);
      lastLogged = now;
      unlogged = 0;
    }
    return false;
  };
  return (socket) => {
    let peer: PeerCred;
    try {
      // Synchronously, in the connection handler: Node drops the handle once the peer hangs up.
      peer = peerOf(addon, socket);
    } catch (err) {
      return refuse(socket, { errType: (err as Error).name }, 'refused a connection whose user could not be told');
    }
    if (peer.uid === me || peer.uid === 0) return true;
    return refuse(socket, { peerUid: peer.uid, peerPid: peer.pid }, 'refused a connection from another user');
  };
}
