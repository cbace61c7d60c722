// `authd daemon run`: checks its directories, becomes the one daemon for this home, and serves.
import { lstatSync, rmSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import lockfile from 'proper-lockfile';
import { loadPeerCred } from '../native/peercred.js';
import { AuthdError, checkSocketPath, resolvePaths, restrictedSocketPath, SPAWN_MARKER } from '../protocol/index.js';
import { loadConfig } from './config/index.js';
import { Daemon, VERSION } from './daemon.js';
import { leaveStartingDirectory, logWarnings, removePidFile, startupReport, writePidFile } from './daemon-process.js';
import { openLog } from './log.js';
import { peerGate, protectProcess } from './peer.js';
import { ensurePrivateDir } from '../protocol/perms.js';
import { ConnectionTable, idleTimeoutMs, partialFrameMs } from './connections.js';
import { serveConnection } from './server.js';
import { checkHandedSocket, listenFds, serveHandedSocket } from './socket-activation.js';
import { openStore, type StoreChoice } from './store/index.js';
import { SwitchableStore } from './store/switchable.js';

const report = startupReport(process.argv);

async function main(): Promise<number> {
  // Before anything secret is read: no core file, no same-user ptrace or /proc/PID/mem.
  const native = loadPeerCred(fileURLToPath(new URL('peercred.node', import.meta.url)));
  const protection = protectProcess(native);
  const foreground = !process.argv.includes('--autostarted');
  // Read (and removed from the environment) before any child is started: systemd's socket, if any.
  const handed = listenFds();
  const handedFd = handed?.main;
  const paths = leaveStartingDirectory(resolvePaths());
  checkSocketPath(paths);
  if (process.platform !== 'win32') ensurePrivateDir(paths.socketDir, 'socket directory', paths.socketExplicit ? 'AUTHD_SOCKET' : undefined);
  const handedWarning = handedFd === undefined ? undefined : checkHandedSocket(handedFd, paths.socket);
  ensurePrivateDir(paths.stateDir, 'state directory');
  // The store is opened (and, for the keychain, probed) before listening, so no client connects to
  // a daemon that is about to exit because its store is unusable.
  const store = new SwitchableStore(await openStore(storeChoice(paths.configFile), paths.stateDir));

  const { log, flush, reopen } = openLog(paths.stateDir);
  logWarnings(log);
  // Connections that arrive before the daemon is ready wait here, unread.
  let accept: ((socket: net.Socket) => void) | undefined;
  const early: net.Socket[] = [];
  const admit = peerGate(native, log);
  const onConnection = (socket: net.Socket) => {
    if (!admit(socket)) return;
    if (accept) accept(socket);
    else early.push(socket);
  };
  if (handedWarning) log.warn(handedWarning);
  // A handed socket is systemd's: no lock, no probe (systemd starts one service per socket), and
  // closing it never removes its file.
  const bound = handedFd === undefined
    ? await bindExclusively(paths.socket, onConnection, (msg) => log.warn(msg))
    : { server: await serveHandedSocket(handedFd, onConnection), id: undefined };
  const server = bound?.server;
  // The start a client announced with this marker is over, whether this daemon serves or another
  // one already did: a marker left behind would make the next start after a crash wait 10 s.
  rmSync(join(paths.socketDir, SPAWN_MARKER), { recursive: true, force: true });
  if (!server) {
    log.info('another daemon is already serving this socket; exiting');
    await store.close?.();
    flush();
    if (foreground) process.stderr.write(`authd: a daemon is already running on ${paths.socket}\n`);
    return 0;
  }

  // The restricted socket (restricted.ts), beside the full one: this daemon owns both paths now.
  let acceptRestricted: ((socket: net.Socket) => void) | undefined;
  const restrictedPath = restrictedSocketPath(paths);
  const onRestricted = (socket: net.Socket) => {
    if (!admit(socket)) return;
    if (acceptRestricted) acceptRestricted(socket);
    else socket.destroy();
  };
  // Handed by systemd too (a second ListenStream): checked as the full one is, then served; else bound here.
  if (handed?.restricted !== undefined && restrictedPath) ensurePrivateDir(dirname(restrictedPath), 'restricted socket directory');
  const restrictedWarning = handed?.restricted !== undefined && restrictedPath ? checkHandedSocket(handed.restricted, restrictedPath) : undefined;
  if (restrictedWarning) log.warn(restrictedWarning);
  const restricted = !restrictedPath ? undefined
    : handed?.restricted !== undefined ? await serveHandedSocket(handed.restricted, onRestricted)
    : await listenRestricted(restrictedPath, onRestricted, (msg) => log.warn(msg));

  let closing = false;
  // A socket file that is no longer this daemon's (removed, or another daemon's in its place): this one
  // is unreachable, and two daemons must not share a store. It answers what is in flight and exits,
  // leaving the file and the pid file beside it alone (closing the server would remove that file).
  // (Its identity taken as it bound, under the start-up lock. Not a socket systemd handed over, which is
  // systemd's; not a named pipe, which cannot be replaced.)
  const own = handedFd === undefined && process.platform !== 'win32' ? bound?.id ?? 'none' : undefined;
  const notOwn = () => {
    const now = socketIdentity(paths.socket);
    return own !== undefined && now !== 'unknown' && now !== own;
  };
  const watch = own === undefined ? undefined : setInterval(() => {
    if (notOwn()) void superseded();
  }, SOCKET_WATCH_MS);
  watch?.unref();
  // Exits without closing its servers or removing the pid file: they are the other daemon's now.
  const leaveTheirFiles = async () => {
    await store.close?.().catch(() => undefined);
    flush();
    process.exit(0);
  };
  const superseded = async () => {
    if (closing) return;
    closing = true;
    clearInterval(watch);
    log.warn({ socket: paths.socket }, 'this daemon\'s socket file was removed or another one is in its place: stopping, and leaving that file alone');
    // Nothing new: connections still arriving on its sockets, and idle ones, are closed (their clients
    // reconnect to whoever serves the path now); what is in flight is answered and stored.
    accept = (socket) => socket.destroy();
    acceptRestricted = (socket) => socket.destroy();
    connections.closeIdle(0);
    await daemon.close();
    await leaveTheirFiles();
  };
  const shutdown = async (why: string) => {
    if (closing) return;
    closing = true;
    clearInterval(watch);
    log.info({ why }, 'daemon stopping');
    // Refreshes in flight are answered and stored first; the socket serves on meanwhile.
    await daemon.close();
    // Taken over since the last check: closing would remove the other daemon's files.
    if (notOwn()) await leaveTheirFiles();
    restricted?.close();
    server.close();
    removePidFile(paths);
    store.close?.().catch(() => undefined);
    flush();
    // Lingering keep-alive connections must not keep the process up.
    setTimeout(() => process.exit(0), 200).unref();
  };
  const daemon = new Daemon(paths, store, log, () => void shutdown('shutdown request'), protection, handedFd !== undefined);
  const handlers = daemon.handlers();
  const connections = new ConnectionTable(log, idleTimeoutMs(process.env));
  const frameMs = partialFrameMs(process.env);
  accept = (socket) => serveConnection(socket, handlers, log, connections.add(socket), frameMs);
  if (restricted && restrictedPath) {
    const limited = daemon.restrictedHandlers();
    acceptRestricted = (socket) => serveConnection(socket, limited, log, connections.add(socket), frameMs);
  }
  for (const socket of early.splice(0)) accept(socket);

  process.on('uncaughtException', (err) => {
    // Nothing is lost (the store is written before a token is served); say where it broke, never what.
    log.fatal({ errType: err.name, where: err.stack?.split('\n').slice(1, 5).join('\n') }, 'daemon crashed');
    flush();
    process.exit(1);
  });
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    reopen();
    daemon.reloadConfig();
  });
  server.on('close', () => process.exit(0));
  log.info({ version: VERSION, socket: paths.socket, socketActivated: handedFd !== undefined, store: store.kind, peerChecks: !protection.peerCheckOff, dumpable: protection.hardening?.dumpable ?? 1 }, 'daemon started');
  if (protection.peerCheckOff ?? protection.hardeningOff) log.warn({ why: protection.peerCheckOff ?? protection.hardeningOff }, 'running without peer checks or hardening');
  writePidFile(paths);
  report.serving();
  if (foreground) {
    const how = handedFd === undefined ? 'listening on' : 'serving, by socket activation,';
    process.stderr.write(`authd: daemon ${VERSION} ${how} ${paths.socket} (pid ${process.pid})\n`);
  }
  return -1;
}

/** AUTHD_STORE, else `store` in the config, else auto. */
function storeChoice(configFile: string): StoreChoice {
  const choice = process.env.AUTHD_STORE || undefined;
  if (choice === undefined) {
    try {
      return loadConfig(configFile).store;
    } catch {
      return 'auto'; // a broken config is reported by every command; the daemon still starts
    }
  }
  if (choice === 'auto' || choice === 'file' || choice === 'memory' || choice === 'keyring') return choice;
  throw new AuthdError('config_error', `AUTHD_STORE names an unknown store "${choice.slice(0, 20)}"`, 'use auto, keyring, file or memory');
}

/**
 * The start-up lock is held for milliseconds, so one 2 s old (proper-lockfile's shortest `stale`) was
 * left by a daemon killed while holding it: it is taken over well within a client's 10 s wait.
 */
const LOCK_STALE_MS = 2_000;

/** How often a daemon checks that its socket file is still its own. */
const SOCKET_WATCH_MS = 2_000;

/**
 * Exactly one daemon per socket, however many start at once: under a lock, connect to see whether
 * one is alive; if not, replace the stale socket and listen. The lock covers probe-and-bind only.
 */
async function bindExclusively(
  socketPath: string,
  onConnection: (socket: net.Socket) => void,
  warn: (msg: string) => void,
): Promise<{ server: net.Server; id: string } | undefined> {
  const release = await lockfile.lock(socketPath, {
    realpath: false,
    lockfilePath: `${socketPath}.lock`,
    stale: LOCK_STALE_MS,
    retries: { retries: 40, minTimeout: 25, maxTimeout: 250 },
    onCompromised: () => warn('start-up lock was taken over by another process'),
  });
  try {
    // Only the very file found dead is removed: a daemon stalled here past the lock's 2 s may find
    // another one bound in its place by then (it took the lock over), and that one serves. Removing
    // its file would leave it running, unreachable, beside this one.
    for (let attempt = 0; attempt < 3; attempt++) {
      const probed = socketIdentity(socketPath);
      if (await isAlive(socketPath)) return undefined;
      if (socketIdentity(socketPath) !== probed) continue; // replaced meanwhile: probe the new one
      try {
        unlinkSync(socketPath);
      } catch {
        // no stale socket
      }
      try {
        return withIdentity(await listenPrivately(socketPath, onConnection), socketPath);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err; // bound meanwhile: probe it
      }
    }
    // Three times another file in its place: whoever keeps binding there serves.
    return undefined;
  } finally {
    // A lock taken over while this daemon stalled (> 2 s) cannot be released; that is no reason to stop serving.
    await release().catch(() => warn('start-up lock was taken over by another process'));
  }
}

/**
 * The restricted socket, in its own private directory: the daemon holds the full socket, so the path
 * beside it is its own; a file left there by an earlier daemon is replaced. Without it (a path over the limit, say) the daemon
 * serves on, and says why in its log.
 */
async function listenRestricted(path: string, onConnection: (socket: net.Socket) => void, warn: (msg: string) => void): Promise<net.Server | undefined> {
  if (Buffer.byteLength(path) > (process.platform === 'darwin' ? 103 : 107)) { // sun_path, less its NUL
    warn(`no restricted socket: its path is over the limit (${path})`);
    return undefined;
  }
  try {
    ensurePrivateDir(dirname(path), 'restricted socket directory');
    unlinkSync(path);
  } catch (err) {
    if (err instanceof AuthdError) {
      warn(`no restricted socket: ${err.message}`);
      return undefined;
    }
    // none left behind
  }
  try {
    return await listenPrivately(path, onConnection);
  } catch (err) {
    warn(`no restricted socket at ${path}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

/** A server listening at `path`, the socket file created for the user alone (umask 077). */
async function listenPrivately(path: string, onConnection: (socket: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: false }, onConnection);
  const oldMask = process.umask(0o077);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  } finally {
    process.umask(oldMask);
  }
}

/**
 * Which file is at `path` (device and inode, whole: an NFS file id may pass 2^53), to tell it from one
 * put in its place; undefined if there is none, 'unknown' if it cannot be told now (a transient error).
 */
export function socketIdentity(path: string): string | undefined {
  try {
    const st = lstatSync(path, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? undefined : 'unknown';
  }
}

/** The server with the identity of the file it bound, taken at once (still under the start-up lock). */
function withIdentity(server: net.Server, path: string): { server: net.Server; id: string } {
  return { server, id: socketIdentity(path) ?? 'none' };
}

function isAlive(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

main().then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    const e = err instanceof AuthdError ? err : new AuthdError('internal', err instanceof Error ? err.message : 'daemon failed to start');
    report.failed(`authd: ${e.message}${e.hint ? `\n  ${e.hint}` : ''}\n`);
    process.exit(e.exitCode);
  },
);
