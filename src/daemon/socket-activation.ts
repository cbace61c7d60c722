// Socket activation (systemd's sd_listen_fds): started by a socket unit (`authd daemon install`), the
// daemon serves the socket systemd listens on, fd 3, instead of binding its own, once that socket has
// passed the checks its own would: in the private socket directory, at the path clients resolve,
// owned by the user and closed to others. Its peers are checked as on its own socket (peer.ts).
import { fstatSync, lstatSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { AuthdError } from '../protocol/index.js';
import { octal } from '../protocol/perms.js';

/** sd_listen_fds: passed descriptors start here. */
const SD_LISTEN_FDS_START = 3;

/**
 * The listening descriptors systemd handed this process: the full socket (fd 3) and, when the unit
 * lists it second, the restricted one (fd 4; `authd daemon install` writes both). Undefined when none
 * was handed to it (LISTEN_PID names another process: the variables were inherited, not meant for
 * it). The variables are removed either way, as sd_listen_fds(1) does, so no child inherits them.
 * Which is which is checked against where each is bound (checkHandedSocket).
 */
export function listenFds(env: Record<string, string | undefined> = process.env, pid = process.pid): { main: number; restricted?: number } | undefined {
  const { LISTEN_PID: forPid, LISTEN_FDS: count } = env;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (forPid === undefined || count === undefined || !/^\d{1,10}$/.test(forPid) || Number(forPid) !== pid) return undefined;
  if (!/^\d{1,4}$/.test(count) || Number(count) === 0) return undefined;
  if (Number(count) > 2) {
    throw new AuthdError('config_error', `the service manager handed the daemon ${Number(count)} sockets (LISTEN_FDS); authd serves at most two (its socket, then its restricted socket)`,
      'give the socket unit those two ListenStream= lines only (`authd daemon install` writes them)');
  }
  return Number(count) === 2 ? { main: SD_LISTEN_FDS_START, restricted: SD_LISTEN_FDS_START + 1 } : { main: SD_LISTEN_FDS_START };
}

interface UnixSocketEntry {
  path: string;
  stream: boolean;
  listening: boolean;
}

/** __SO_ACCEPTCON in /proc/net/unix's Flags: the socket listens. */
const SO_ACCEPTCON = 0x10000;
/** SOCK_STREAM in /proc/net/unix's Type. */
const SOCK_STREAM = 1;

/**
 * What the kernel says of the Unix socket with this inode (/proc/net/unix: Num RefCount Protocol
 * Flags Type St Inode Path), or undefined where it cannot say (no /proc, another network namespace).
 */
function unixSocketEntry(inode: number): UnixSocketEntry | undefined {
  let table: string;
  try {
    table = readFileSync('/proc/net/unix', 'utf8');
  } catch {
    return undefined;
  }
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7 || Number(f[6]) !== inode) continue;
    return {
      path: f.slice(7).join(' '),
      stream: Number.parseInt(f[4]!, 16) === SOCK_STREAM,
      listening: (Number.parseInt(f[3]!, 16) & SO_ACCEPTCON) !== 0,
    };
  }
  return undefined;
}

const REINSTALL = 'run `authd daemon install` again from the shell whose authd you mean, or fix the socket unit';

/**
 * Refuses a handed descriptor that is not a listening stream socket at `socketPath`, or whose file is
 * not the user's own or that group or others may write (connect to). The directory was checked by the caller,
 * as for a socket of the daemon's own. Returns a warning when the kernel could not say where the
 * socket is bound (then the file's own checks stand alone).
 */
export function checkHandedSocket(fd: number, socketPath: string): string | undefined {
  let inode: number;
  try {
    const st = fstatSync(fd);
    if (!st.isSocket()) throw new Error('not a socket');
    inode = st.ino;
  } catch {
    throw new AuthdError('config_error', `socket activation: descriptor ${fd} is not a socket`, REINSTALL);
  }
  const entry = unixSocketEntry(inode);
  let warning: string | undefined;
  if (!entry) {
    warning = 'socket activation: the kernel does not say where the handed socket is bound; trusting the socket unit';
  } else if (!entry.stream || !entry.listening) {
    throw new AuthdError('config_error', 'socket activation: the handed socket is not a listening stream socket', 'use ListenStream= in the socket unit');
  } else if (entry.path !== socketPath) {
    throw new AuthdError('config_error',
      `socket activation: the socket unit listens on ${entry.path || '(no path)'}, but this daemon's socket is ${socketPath}`, REINSTALL);
  }
  const st = lstatSync(socketPath, { throwIfNoEntry: false });
  if (!st?.isSocket()) {
    throw new AuthdError('config_error', `socket activation: ${socketPath} is not the socket the service manager listens on`, REINSTALL);
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new AuthdError('insecure_permissions', `The socket ${socketPath} is owned by uid ${st.uid}, not by you (uid ${uid}).`, REINSTALL);
  }
  // Connecting takes write permission: a socket that group or others may write, they may use.
  if ((st.mode & 0o022) !== 0) {
    throw new AuthdError('insecure_permissions', `The socket ${socketPath} has mode ${octal(st.mode)}: group or others could connect to it.`,
      'set SocketMode=0600 in the socket unit (`authd daemon install` writes it so)');
  }
  return warning;
}

/** Serves the handed listening socket. Closing the server never removes its file: systemd owns it. */
export function serveHandedSocket(fd: number, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: false }, onConnection);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ fd }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
