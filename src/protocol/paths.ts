// The one path resolver, shared by the client and the daemon. No dependencies beyond node:.
import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { AuthdError } from './errors.js';

export interface AuthdPaths {
  configFile: string;
  stateDir: string;
  socketDir: string;
  socket: string;
  /** True when the socket was named explicitly (AUTHD_SOCKET): its directory is the caller's business. */
  socketExplicit: boolean;
}

type Env = Record<string, string | undefined>;

/**
 * A file a client creates in the socket dir while it starts the daemon, holding the client's pid; the
 * daemon removes it once it listens (or finds another one serving).
 */
export const SPAWN_MARKER = 'authd.starting';

/** Unix socket paths longer than this are refused: Node 20 silently truncates at 107 bytes. */
export const MAX_SOCKET_PATH = 100;

export function resolvePaths(env: Env = process.env): AuthdPaths {
  const home = nonEmpty(env.AUTHD_HOME);
  const userHome = nonEmpty(env.HOME) ?? homedir();
  const configFile =
    nonEmpty(env.AUTHD_CONFIG) ??
    (home
      ? join(home, 'config.toml')
      : join(nonEmpty(env.XDG_CONFIG_HOME) ?? join(userHome, '.config'), 'authd', 'config.toml'));
  const stateDir = home
    ? join(home, 'state')
    : join(nonEmpty(env.XDG_STATE_HOME) ?? join(userHome, '.local', 'state'), 'authd');

  const explicit = nonEmpty(env.AUTHD_SOCKET);
  if (explicit) {
    return { configFile, stateDir, socketDir: dirOf(explicit), socket: explicit, socketExplicit: true };
  }
  if (process.platform === 'win32') {
    const pipe = `\\\\.\\pipe\\authd-${userInfo().username}${home ? `-${shortHash(stateDir)}` : ''}`;
    return { configFile, stateDir, socketDir: stateDir, socket: pipe, socketExplicit: false };
  }
  if (home) {
    const socketDir = join(home, 'run');
    return { configFile, stateDir, socketDir, socket: join(socketDir, 'authd.sock'), socketExplicit: false };
  }
  const runtime = nonEmpty(env.XDG_RUNTIME_DIR);
  const socketDir = runtime
    ? join(runtime, 'authd')
    : join(nonEmpty(env.TMPDIR) ?? tmpdir(), `authd-${process.getuid?.() ?? 0}`);
  // Another HOME or XDG_STATE_HOME is another instance: give it its own socket (as gpg-agent does).
  const defaultState = join(passwdHome(), '.local', 'state', 'authd');
  const name = stateDir === defaultState ? 'authd.sock' : `authd.${shortHash(stateDir)}.sock`;
  return { configFile, stateDir, socketDir, socket: join(socketDir, name), socketExplicit: false };
}

/** The account's home from the password database, not $HOME (which is what may differ). */
function passwdHome(): string {
  try {
    return userInfo().homedir;
  } catch {
    return homedir();
  }
}

/**
 * The restricted socket (gpg-agent's extra socket is the model): it serves only get-token, and git's
 * get, for profiles with forward = true. It is the one to forward to an SSH host or mount into a
 * container, so it has a private directory of its own, beside the full socket: a container gets that
 * directory, never the one holding the full socket. None for a named pipe (Windows).
 */
export function restrictedSocketPath(paths: AuthdPaths): string | undefined {
  if (process.platform === 'win32') return undefined;
  const base = paths.socket.endsWith('.sock') ? paths.socket.slice(0, -'.sock'.length) : paths.socket;
  return `${base}.restricted/authd.sock`;
}

/** The file naming the pid of the daemon that serves this socket: beside the socket (on Windows, where it is a named pipe, in the state dir). */
export function pidFilePath(paths: AuthdPaths): string {
  return process.platform === 'win32' ? join(paths.stateDir, 'authd.pid') : `${paths.socket}.pid`;
}

/** Refuses a Unix socket path Node would silently truncate (the limit is in bytes, not characters). */
export function checkSocketPath(paths: AuthdPaths): void {
  const bytes = Buffer.byteLength(paths.socket);
  if (process.platform !== 'win32' && bytes > MAX_SOCKET_PATH) {
    throw new AuthdError('config_error', `the socket path is ${bytes} bytes, over the ${MAX_SOCKET_PATH}-byte limit: ${paths.socket}`,
      'set AUTHD_SOCKET (or AUTHD_HOME) to a shorter path');
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

function dirOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

/**
 * A short name for a state dir. Not a security measure, only distinct per home; FNV-1a rather than
 * node:crypto, which the client would otherwise load (a few ms) just to name its socket.
 */
function shortHash(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x01000193 ^ 0x2c9277b5) >>> 0;
  }
  return (a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0')).slice(0, 10);
}
