// The client trusts only its own daemon. Before connecting, the socket's directory must be private
// to the user, as the daemon requires before it listens (in /tmp anyone can make /tmp/authd-<uid>
// first); once connected, where the addon is built, the process at the other end must run as the
// user (or root, who can read the user's memory anyway).
import { dirname, join } from 'node:path';
import type net from 'node:net';
import { loadPeerCred, peerOf } from '../native/peercred.js';
import { AuthdError } from '../protocol/errors.js';
import { checkPrivateDir, shellQuote } from '../protocol/perms.js';

/** Refuses a socket whose directory someone else owns or can get into; a missing directory passes (nothing listens). */
export function checkSocketDir(socket: string, explicit: boolean): void {
  if (process.platform === 'win32') return;
  const dir = dirname(socket);
  try {
    checkPrivateDir(dir, 'socket directory', explicit ? 'AUTHD_SOCKET' : undefined);
  } catch (err) {
    if (!(err instanceof AuthdError)) throw err;
    const message = err.message.replace(/^The /, 'the ').replace(/\.$/, '');
    let hint = err.hint;
    if (/owned by uid/.test(message)) {
      hint = explicit
        ? `another user may be posing as your authd daemon; ${err.hint}`
        : `another user may be posing as your authd daemon: have root remove it (\`rm -r ${shellQuote(dir)}\`), or set AUTHD_SOCKET to a path in a directory only you can use`;
    }
    throw new AuthdError('daemon_unreachable', `refusing to connect to ${socket}: ${message}`, hint);
  }
}

/** Refuses a connected socket whose other end runs as another user. Without the addon: nothing to check. */
export function checkDaemonPeer(socket: net.Socket, path: string): void {
  const me = process.getuid?.();
  if (me === undefined) return;
  // Built beside the bundle (dist/); loaded on the first connection only.
  const { addon } = loadPeerCred(join(__dirname, 'peercred.node'));
  if (!addon) return;
  let uid: number;
  try {
    uid = peerOf(addon, socket).uid;
  } catch (err) {
    throw new AuthdError('daemon_unreachable', `cannot tell which user runs the process at ${path} (${(err as Error).message}): refusing to talk to it`,
      'run `authd doctor`');
  }
  if (uid === me || uid === 0) return;
  throw new AuthdError('daemon_unreachable', `the process at ${path} runs as uid ${uid}, not as you (uid ${me}): refusing to talk to it`,
    'another user may be posing as your authd daemon; have root remove that socket, or set AUTHD_SOCKET to a path in a directory only you can use');
}
