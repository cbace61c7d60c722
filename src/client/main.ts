// The `authd` program: parse arguments, connect, run one command, map errors to exit codes.
import { AuthdError, PROFILE_NAME, printable } from '../protocol/index.js';
import { type FlagSpec, type Parsed, parseArgs, str, usage } from './args.js';
import { type Connection, connect } from './connection.js';
import { type IO, processIO } from './io.js';

declare const AUTHD_VERSION: string;
const VERSION = typeof AUTHD_VERSION === 'string' ? AUTHD_VERSION : '0.0.0-dev';

const HELP: Record<string, string> = {
  '': `authd — one daemon per user that owns your OAuth sessions and hands out fresh tokens.

Usage: authd <command> [options]

Commands:
  login [-p P] [--json]          log in (device flow; client credentials are verified)
  get-token [-p P] [--min-ttl S] [--format token|json|header|exec-credential]
                                 print a valid access token
  exec [-p P] [--env NAME] -- CMD…  run CMD with a fresh token in $AUTHD_TOKEN (or NAME)
  status [--json]                the daemon and every profile
  logout [-p P | --all]          revoke at the provider and forget the session
  profiles [--json]              list profiles
  use P                          make P the default profile
  secret set P                   store a client secret, private key or API key, read from stdin
  store migrate --to keyring|file  move every secret to the other store, losing nothing
  daemon run|start|stop|status   daemon lifecycle
  doctor                         check permissions, store, config and providers
  git setup [--host H] [--all]   make git ask authd for credentials; git status shows the host map
  git-credential get|store|erase git's credential helper protocol (also git-credential-authd)

Options: -p, --profile P (or AUTHD_PROFILE)   -h, --help   --version
Exit codes: 0 ok, 1 error, 2 usage/config, 3 login required, 4 provider unreachable, 5 daemon unreachable.
`,
  login: `Usage: authd login [-p PROFILE] [--json] [--no-browser]

Device flow: shows a URL and a one-time code, opens the browser where there is one, and waits
until you approve. A second \`authd login\` for the same profile joins the login in progress.
For client_credentials profiles, fetches a token to check the secret.
  --json        one JSON object per line on stdout: {"event":"device_code",…} then {"event":"logged_in",…}
  --no-browser  do not open a browser
`,
  'get-token': `Usage: authd get-token [-p PROFILE] [--min-ttl SECONDS] [--format FORMAT]

Prints a valid access token on stdout, refreshed if it has less than --min-ttl seconds left
(default: 60 s, or a quarter of its lifetime if shorter). Asking for more than the token's whole
lifetime means half its lifetime, since no fresh token could give more. Never starts a login.
  --format token (default) | json | header | exec-credential (kubectl ExecCredential: v1, or the
           version kubectl names in KUBERNETES_EXEC_INFO: v1beta1 for kubectl before 1.22)
Example: curl -H "$(authd get-token --format header)" https://api.example.com/
`,
  exec: `Usage: authd exec [-p PROFILE] [--env NAME] -- COMMAND [ARGS…]

Runs COMMAND with a fresh access token in the environment variable NAME (default AUTHD_TOKEN).
The token is never put in COMMAND's arguments. Exits with COMMAND's exit code.
`,
  status: `Usage: authd status [--json]

Shows the daemon (pid, uptime, version, store) and each profile: logged in or not, subject,
expiry, the token masked (first 4 … last 4), refreshes and the last error.
`,
  logout: `Usage: authd logout [-p PROFILE | --all]

Revokes the session at the provider (RFC 7009) where it can, and deletes it from the store.
`,
  profiles: `Usage: authd profiles [--json]

Lists the configured profiles; * marks the default.
`,
  use: `Usage: authd use PROFILE

Makes PROFILE the default (writes default_profile in the config file).
`,
  secret: `Usage: authd secret set PROFILE < FILE

Reads a client secret (client_credentials), a PKCS#8 PEM private key (client_auth =
"private_key_jwt") or an API key (flow = "api_key") from stdin and keeps it in the daemon's store.
On a terminal it asks for it without echo. Never takes it from the command line. Setting it again
replaces it (rotation); \`authd logout -p PROFILE\` removes it.
Example: authd secret set ci < ~/secrets/ci-client-secret
`,
  store: `Usage: authd store migrate --to keyring|file

Moves every secret (sessions, client secrets, API keys, git credentials) from the store in use to
the other one: copies all, reads each back and compares, and only then deletes the originals, so
an interruption leaves them in both stores, never in neither. Requests wait while it runs. Where
the config names a store (store = "…"), it is updated to the new one.
`,
  daemon: `Usage: authd daemon run|start|stop [--force]|status

  run     run in the foreground (for systemd --user or launchd)
  start   start in the background if not running (also at an AUTHD_SOCKET path)
  stop    stop the running daemon; --force: also one that does not answer (it is killed)
  status  say whether it runs, and its socket path (exit 5 when it does not)
Any command that needs the daemon starts it, unless AUTHD_NO_AUTOSTART=1 or AUTHD_SOCKET names
the socket (a forwarded agent that stopped answering is reported, not replaced).
`,
  git: `Usage: authd git setup [--host HOST]… [--all]
       authd git status

setup   writes your global git config so git asks authd for credentials: for each host in the
        profiles' git_hosts (or each --host), credential.https://HOST.helper; with --all also
        credential.helper, so authd stores the credentials of every other host too (replacing
        plaintext helpers such as git-credential-store).
status  shows which hosts map to which profile, and whether git is set up for them.
`,
  'git-credential': `Usage: authd git-credential get|store|erase   (git runs this as git-credential-authd)

Speaks git's credential helper protocol on stdin/stdout.
For hosts in a profile's git_hosts: get answers with a fresh access token (never the refresh
token); store does nothing; erase (git saying the server rejected it) drops that access token so
the next get refreshes. A dead session prints nothing for git and one line on stderr.
For every other host: a secure storage helper with the semantics of git's own store/cache.
`,
  doctor: `Usage: authd doctor

Checks directory permissions, the store, the config and that each provider answers,
and says how to fix what is wrong.
`,
};

const PROFILE: FlagSpec = { profile: { short: 'p', value: true }, help: { short: 'h' } };

export async function main(argv: string[], io: IO): Promise<number> {
  const [command = '', ...args] = argv;
  if (command === '--version' || command === 'version') {
    io.stdout.write(`authd ${VERSION}\n`);
    return 0;
  }
  if (command === '' || command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? (args[0] ?? '') : '';
    io.stdout.write(HELP[topic] ?? HELP['']!);
    return 0;
  }
  if (!Object.hasOwn(HELP, command)) {
    throw new AuthdError('usage', `unknown command "${command.slice(0, 40)}"`, 'run `authd --help` to see the commands');
  }
  const spec = specFor(command);
  const { flags, positionals, rest } = parseArgs(args, spec, command);
  if (flags.help) {
    io.stdout.write(HELP[command]!);
    return 0;
  }
  const profile = str(flags.profile) ?? nonEmpty(io.env.AUTHD_PROFILE);
  const named = command === 'use' ? positionals : command === 'secret' ? positionals.slice(1) : [];
  for (const name of [profile, ...named]) {
    if (name !== undefined && !PROFILE_NAME.test(name)) {
      throw usage(`invalid profile name "${name.slice(0, 40)}": use letters, digits, ".", "_" and "-"`, command);
    }
  }

  if (command === 'daemon') {
    const action = positionals[0];
    if (action !== 'run' && action !== 'start' && action !== 'stop' && action !== 'status') {
      throw usage('authd daemon needs one of run, start, stop, status', 'daemon');
    }
    if (flags.force && action !== 'stop') throw usage('--force goes with `authd daemon stop`', 'daemon');
    const { run } = await import('./commands/daemon.js');
    return run({ action, force: flags.force === true }, io);
  }
  if (!['use', 'exec', 'git', 'git-credential', 'secret', 'store'].includes(command) && positionals.length) {
    throw usage(`unexpected argument "${positionals[0]!.slice(0, 40)}"`, command);
  }

  // Every argument is checked before the daemon is contacted (or started).
  const command_ = await plan(command, flags, positionals, rest, profile, io);
  if (!command_) return 0;
  // A read whose daemon died before answering (killed, restarted) is asked once more, of a new daemon.
  const retryable = command === 'get-token' || (command === 'git-credential' && positionals[0] === 'get');
  for (let attempt = 0; ; attempt++) {
    const conn = await connect({ env: io.env });
    try {
      return await command_(conn);
    } catch (err) {
      if (!retryable || attempt > 0 || !conn.lostMidRequest) throw err;
    } finally {
      conn.close();
    }
    // A dying daemon's socket can still accept for a few ms: give it time to go.
    await new Promise((r) => setTimeout(r, 100));
  }
}

function specFor(command: string): FlagSpec {
  switch (command) {
    case 'login':
      return { ...PROFILE, json: {}, 'no-browser': {} };
    case 'get-token':
      return { ...PROFILE, 'min-ttl': { value: true }, format: { short: 'f', value: true } };
    case 'exec':
      return { ...PROFILE, env: { short: 'e', value: true } };
    case 'logout':
      return { ...PROFILE, all: {} };
    case 'status':
    case 'profiles':
      return { json: {}, help: { short: 'h' } };
    case 'git':
      return { host: { value: true, multiple: true }, all: {}, help: { short: 'h' } };
    case 'store':
      return { to: { value: true }, help: { short: 'h' } };
    case 'daemon':
      return { force: {}, help: { short: 'h' } };
    default:
      return { help: { short: 'h' } };
  }
}

type Planned = (conn: Connection) => Promise<number>;

/** Validates the arguments of a command that needs the daemon, and returns how to run it (undefined: nothing to do). */
async function plan(
  command: string,
  flags: Parsed['flags'],
  positionals: string[],
  rest: string[],
  profile: string | undefined,
  io: IO,
): Promise<Planned | undefined> {
  switch (command) {
    case 'get-token': {
      const { run, TOKEN_FORMATS, execCredentialVersion } = await import('./commands/get-token.js');
      const format = str(flags.format) ?? 'token';
      if (!(TOKEN_FORMATS as string[]).includes(format)) {
        throw usage(`--format must be one of ${TOKEN_FORMATS.join(', ')}`, command);
      }
      const execVersion = format === 'exec-credential' ? execCredentialVersion(io.env) : undefined;
      let minTtl: number | undefined;
      if (flags['min-ttl'] !== undefined) {
        minTtl = Number(flags['min-ttl']);
        if (!/^\d+(\.\d+)?$/.test(String(flags['min-ttl'])) || minTtl > 86_400) {
          throw usage('--min-ttl must be a number of seconds between 0 and 86400', command);
        }
      }
      return (conn) => run({ profile, minTtl, format: format as 'token', execCredentialVersion: execVersion }, io, conn);
    }
    case 'login': {
      const { run } = await import('./commands/login.js');
      return (conn) => run({ profile, json: flags.json === true, browser: flags['no-browser'] !== true }, io, conn);
    }
    case 'exec': {
      const all = [...positionals, ...rest];
      if (all.length === 0) throw usage('authd exec needs a command after --', command);
      const envName = str(flags.env) ?? 'AUTHD_TOKEN';
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(envName)) throw usage(`--env ${envName.slice(0, 40)} is not a valid variable name`, command);
      const { run } = await import('./commands/exec.js');
      return (conn) => run({ profile, envName, command: all }, io, conn);
    }
    case 'status': {
      const { run } = await import('./commands/status.js');
      return (conn) => run({ json: flags.json === true }, io, conn);
    }
    case 'logout': {
      if (flags.all && flags.profile) throw usage('give either -p PROFILE or --all, not both', command);
      const { run } = await import('./commands/logout.js');
      return (conn) => run({ profile, all: flags.all === true }, io, conn);
    }
    case 'profiles': {
      const { run } = await import('./commands/profiles.js');
      return (conn) => run({ json: flags.json === true }, io, conn);
    }
    case 'use': {
      if (positionals.length !== 1) throw usage('authd use needs exactly one profile name', command);
      const { run } = await import('./commands/use.js');
      return (conn) => run({ profile: positionals[0]! }, io, conn);
    }
    case 'git-credential': {
      const action = positionals[0];
      if (positionals.length !== 1) throw usage('authd git-credential needs one of get, store, erase', command);
      // git may add actions; a helper ignores the ones it does not know.
      if (action !== 'get' && action !== 'store' && action !== 'erase') return undefined;
      const { run, readCredential, parseCredential } = await import('./commands/git-credential.js');
      const attrs = parseCredential(await readCredential(io.stdin));
      return (conn) => run({ action, attrs }, io, conn);
    }
    case 'git': {
      const action = positionals[0];
      if ((action !== 'setup' && action !== 'status') || positionals.length !== 1) throw usage('authd git needs setup or status', command);
      const hosts = (flags.host as string[] | undefined) ?? [];
      for (const h of hosts) {
        if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(h)) throw usage(`--host ${h.slice(0, 40)} is not a host name (HOST or HOST:PORT)`, command);
      }
      const { run } = await import('./commands/git.js');
      return (conn) => run({ action, hosts, all: flags.all === true }, io, conn);
    }
    case 'secret': {
      if (positionals[0] !== 'set' || positionals.length !== 2) throw usage('authd secret needs: set PROFILE (the secret comes on stdin)', command);
      const { run, readSecret } = await import('./commands/secret.js');
      const value = await readSecret({ profile: positionals[1]! }, io);
      return (conn) => run({ profile: positionals[1]!, value }, io, conn);
    }
    case 'store': {
      const to = str(flags.to);
      if (positionals[0] !== 'migrate' || positionals.length !== 1) throw usage('authd store needs: migrate --to keyring|file', command);
      if (to !== 'keyring' && to !== 'file') throw usage('--to must be keyring or file', command);
      const { run } = await import('./commands/store.js');
      return (conn) => run({ to }, io, conn);
    }
    case 'doctor': {
      const { run } = await import('./commands/doctor.js');
      return (conn) => run({}, io, conn);
    }
    default:
      throw usage(`unknown command "${command}"`, command);
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

export function reportError(err: unknown, io: IO): number {
  const e = err instanceof AuthdError ? err : new AuthdError('internal', err instanceof Error ? err.message : String(err));
  // The message may carry text from elsewhere (the provider, a daemon): nothing in it may drive the terminal.
  io.stderr.write(`authd: ${printable(e.message)}${e.hint ? `\n  ${printable(e.hint)}` : ''}\n`);
  return e.exitCode;
}

if (require.main === module) {
  const io = processIO();
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.exitCode = reportError(err, io);
    },
  );
}
