// The environment the daemon starts with: what it needs, and nothing else. The starting command's
// own environment can hold anything — a client secret named by client_secret_env, a token in
// AUTHD_TOKEN — and a process's starting environment stays readable in /proc/PID/environ for its
// whole life. Names are listed exactly (no prefixes), so a user's secret variable cannot match.
import { userEnv } from './io.js';

const KEEP = new Set([
  // who and where: the paths are resolved from these (TMPDIR: the socket's fallback directory)
  'HOME', 'USER', 'LOGNAME', 'PATH', 'TMPDIR',
  'XDG_RUNTIME_DIR', 'XDG_STATE_HOME', 'XDG_CONFIG_HOME', 'XDG_DATA_HOME', 'XDG_CACHE_HOME', 'XDG_CONFIG_DIRS', 'XDG_DATA_DIRS',
  // language and time zone
  'LANG', 'LANGUAGE', 'TZ', 'LC_ALL', 'LC_CTYPE', 'LC_COLLATE', 'LC_MESSAGES', 'LC_MONETARY', 'LC_NUMERIC', 'LC_TIME',
  'LC_ADDRESS', 'LC_IDENTIFICATION', 'LC_MEASUREMENT', 'LC_NAME', 'LC_PAPER', 'LC_TELEPHONE',
  // the keychain (Secret Service on the session bus)
  'DBUS_SESSION_BUS_ADDRESS',
  // requests to the provider: trusted CAs, proxies (honoured by Node's fetch with NODE_USE_ENV_PROXY)
  'NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'NODE_USE_ENV_PROXY',
  'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
  // authd's settings the daemon reads (AUTHD_IDLE_TIMEOUT_MS, AUTHD_BROWSER_LOGIN_MS and AUTHD_TEST_*:
  // shorter waits for tests, bounded where they are read; never a secret)
  'AUTHD_HOME', 'AUTHD_CONFIG', 'AUTHD_SOCKET', 'AUTHD_STORE', 'AUTHD_LOG_LEVEL', 'AUTHD_IDLE_TIMEOUT_MS',
  'AUTHD_BROWSER_LOGIN_MS', 'AUTHD_TEST_PARTIAL_FRAME_MS',
]);

/** Windows needs these to run Node at all (SystemRoot for sockets and randomness); names are case-insensitive there. */
const KEEP_WINDOWS = new Set([
  'SYSTEMROOT', 'SYSTEMDRIVE', 'WINDIR', 'TEMP', 'TMP', 'USERPROFILE', 'APPDATA', 'LOCALAPPDATA', 'PROGRAMDATA',
  'USERNAME', 'COMSPEC', 'PATHEXT',
]);

/**
 * The daemon's environment: the allowed variables of the user's environment (NODE_EXTRA_CA_CERTS
 * given back, see userEnv). Left out on purpose: NODE_OPTIONS (`--inspect` would open the daemon's
 * memory to a debugger), NODE_TLS_REJECT_UNAUTHORIZED, and everything the daemon does not read.
 */
export function daemonEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  const windows = process.platform === 'win32';
  for (const [name, value] of Object.entries(userEnv(env))) {
    if (value === undefined) continue;
    if (KEEP.has(name) || (windows && (KEEP.has(name.toUpperCase()) || KEEP_WINDOWS.has(name.toUpperCase())))) out[name] = value;
  }
  return out;
}
