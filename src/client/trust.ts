// The client trusts only its own daemon. Before connecting, the socket's directory must be private
// to the user, as the daemon requires before it listens (in /tmp anyone can make /tmp/authd-<uid>
// first); once connected, where the addon is built, the process at the other end must run as the
// user (or root, who can read the user's memory anyway). A value from the environment goes to the
// daemon only for a variable the user's own config names (client_secret_env, or a CI platform's).
import { dirname, join } from 'node:path';
import { loadPeerCred, peerOfFd } from '../native/peercred.js';
import { AuthdError } from '../protocol/errors.js';
import { resolvePaths } from '../protocol/paths.js';
import { checkPrivateDir, readTrustedFile, shellQuote } from '../protocol/perms.js';

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

/** Refuses a connected socket (by its descriptor) whose other end runs as another user. Without the addon: nothing to check. */
export function checkDaemonPeer(fd: number | undefined, path: string): void {
  const me = process.getuid?.();
  if (me === undefined) return;
  // Built beside the bundle (dist/); loaded on the first connection only.
  const { addon } = loadPeerCred(join(__dirname, 'peercred.node'));
  if (!addon) return;
  let uid: number;
  try {
    uid = peerOfFd(addon, fd).uid;
  } catch (err) {
    throw new AuthdError('daemon_unreachable', `cannot tell which user runs the process at ${path} (${(err as Error).message}): refusing to talk to it`,
      'run `authd doctor`');
  }
  if (uid === me || uid === 0) return;
  throw new AuthdError('daemon_unreachable', `the process at ${path} runs as uid ${uid}, not as you (uid ${me}): refusing to talk to it`,
    'another user may be posing as your authd daemon; have root remove that socket, or set AUTHD_SOCKET to a path in a directory only you can use');
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** What a profile with subject_token_source = "github-actions" is asked with (config/schema.ts GITHUB_ACTIONS_ENV). */
const GITHUB_ACTIONS_ENV = ['ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN'];

/**
 * The values of `names` from the caller's environment, to answer a daemon's `secret_required` —
 * only if the user's own config (trusted as the daemon trusts it) names each of them: as some
 * profile's client_secret_env, or (GitHub Actions' two ID token request variables) by a profile
 * with subject_token_source = "github-actions". A daemon that asks for any other variable gets
 * nothing: it might not be ours. Undefined when one of them is not set.
 */
export async function secretsFromEnv(names: string[], env: Record<string, string | undefined>): Promise<Record<string, string> | undefined> {
  if (names.length === 0 || names.length > GITHUB_ACTIONS_ENV.length) return undefined;
  if (!names.every((name) => ENV_NAME.test(name) && Object.hasOwn(env, name) && env[name])) return undefined;
  const configFile = resolvePaths(env).configFile;
  const notNamed = (name: string) => new AuthdError('config_error',
    GITHUB_ACTIONS_ENV.includes(name)
      ? `the daemon asked for the value of $${name}, and no profile in your config ${configFile} has subject_token_source = "github-actions": not sent`
      : `the daemon asked for the value of $${name}, which no profile in your config ${configFile} names as client_secret_env: not sent`,
    GITHUB_ACTIONS_ENV.includes(name)
      ? 'a profile that takes its subject token from GitHub Actions says so with subject_token_source = "github-actions"'
      : `if a profile should read its client secret from $${name}, add client_secret_env = "${name}" to it`);
  let text: string | undefined;
  try {
    text = readTrustedFile(configFile, 'config file');
  } catch (err) {
    if (err instanceof AuthdError) throw new AuthdError('config_error', err.message, err.hint);
    throw notNamed(names[0]!);
  }
  if (text === undefined) throw notNamed(names[0]!);
  // Only on this rare path: the TOML parser is not part of the client's start-up. (require, not import():
  // the fast path of get-token runs in a vm.Script, where a dynamic import would need a loader of its own.)
  const { parse } = require('smol-toml') as typeof import('smol-toml');
  let profiles: unknown;
  try {
    profiles = parse(text).profiles;
  } catch {
    throw notNamed(names[0]!); // the daemon reports a broken config itself
  }
  const all = typeof profiles === 'object' && profiles !== null
    ? Object.values(profiles).filter((p): p is Record<string, unknown> => typeof p === 'object' && p !== null) : [];
  const values: Record<string, string> = {};
  for (const name of names) {
    const named = all.some((p) => p.client_secret_env === name
      || (GITHUB_ACTIONS_ENV.includes(name) && p.subject_token_source === 'github-actions'));
    if (!named) throw notNamed(name);
    values[name] = env[name]!;
  }
  return values;
}
