// The `authd` program over a table of commands: find the command, check its arguments, connect, run
// it, and map errors to exit codes. Its entries pass the table: main.ts every command, get-token-main.ts
// get-token alone, git-credential-main.ts git's helper (with a connect of its own: one-request.ts).
import { closest } from '../protocol/closest.js';
import { AuthdError, printable } from '../protocol/index.js';
import { VERSION } from '../protocol/version.js';
import { parseArgs, usage } from './args.js';
import type { Command, Commands, Connect, Requester } from './command.js';
import { connect as connectDaemon } from './connection.js';
import { type IO, processIO, reportError } from './io.js';

/** What main reaches outside the process through; tests pass their own daemon. */
export interface Deps {
  connect(io: IO): Promise<Requester>;
}

const processDeps: Deps = { connect: (io) => connectDaemon({ env: io.env }) };

export function topLevelHelp(commands: Commands): string {
  // A synopsis too long for the column puts its summary on the next line.
  const width = 34;
  const lines = commands.map((c) => (c.synopsis.length < width ? `  ${c.synopsis.padEnd(width)}${c.summary}` : `  ${c.synopsis}\n  ${''.padEnd(width)}${c.summary}`));
  return `authd — one daemon per user that owns your OAuth sessions and hands out fresh tokens.

Usage: authd [-p PROFILE] <command> [options]

Commands:
${lines.join('\n')}

Options: -p, --profile P   the profile for ${commands.filter((c) => Object.hasOwn(c.flags, 'profile')).map((c) => c.name).join(', ')}
                           (default: AUTHD_PROFILE, then default_profile in the config)
         -h, --help        --version
Run \`authd help COMMAND\` (or \`authd COMMAND --help\`) for a command's options.
Exit codes: 0 ok, 1 error, 2 usage/config, 3 login required, 4 provider unreachable, 5 daemon unreachable.
`;
}

// biome-ignore lint/suspicious/noExplicitAny: each command has its own options type
function find(commands: Commands, name: string): Command<any> {
  const found = commands.find((c) => c.name === name);
  if (found) return found;
  const guess = closest(name, commands.map((c) => c.name));
  throw new AuthdError('usage', `unknown command "${printable(name.slice(0, 40))}"${guess ? ` (did you mean \`authd ${guess}\`?)` : ''}`,
    'run `authd --help` to see the commands');
}

/** Options given before the command: `authd -p acme get-token`, `authd --help`, `authd --version`. */
function globalOptions(argv: string[]): { profile?: string; help: boolean; version: boolean; rest: string[] } {
  const out: { profile?: string; help: boolean; version: boolean; rest: string[] } = { help: false, version: false, rest: argv };
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') out.help = true;
    else if (arg === '--version') out.version = true;
    else if (arg === '-p' || arg === '--profile') {
      out.profile = argv[++i];
      if (out.profile === undefined) throw new AuthdError('usage', `option ${arg} needs a value`, 'run `authd --help` to see the options');
    } else if (arg.startsWith('--profile=')) out.profile = arg.slice('--profile='.length);
    else if (arg.startsWith('-') && arg !== '-') {
      throw new AuthdError('usage', `unknown option ${printable(arg.slice(0, 40))} before the command`, 'run `authd --help` to see the options');
    } else break;
  }
  out.rest = argv.slice(i);
  return out;
}

export async function runProgram(commands: Commands, argv: string[], io: IO, deps: Deps = processDeps): Promise<number> {
  const global = globalOptions(argv);
  const [name = '', ...args] = global.rest;
  if (global.version || name === 'version') {
    io.stdout.write(`authd ${VERSION}\n`);
    return 0;
  }
  if (name === 'help' || (name === '' && global.profile === undefined)) {
    io.stdout.write(args[0] ? find(commands, args[0]).help : topLevelHelp(commands));
    return 0;
  }
  if (name === '') throw new AuthdError('usage', 'no command given', 'run `authd --help` to see the commands');
  const command = find(commands, name);
  if (global.help) {
    io.stdout.write(command.help);
    return 0;
  }
  if (global.profile !== undefined) {
    if (!Object.hasOwn(command.flags, 'profile')) throw usage(`-p/--profile does not apply to authd ${command.name}`, command.name);
    args.unshift('--profile', global.profile);
  }
  const parsed = parseArgs(args, command.flags, command.name);
  if (parsed.flags.help) {
    io.stdout.write(command.help);
    return 0;
  }
  // Every argument is checked (and stdin read, where the command takes input) before the daemon is contacted or started.
  const opts = await command.parse(parsed, io);
  // A read whose daemon died before answering (killed, restarted) is asked once more, of a new daemon.
  for (let attempt = 0; ; attempt++) {
    let conn: Requester | undefined;
    const connect: Connect = async () => {
      conn ??= await deps.connect(io);
      return conn;
    };
    try {
      return await command.run(opts, io, connect, commands);
    } catch (err) {
      if (attempt > 0 || !conn?.lostMidRequest || !command.retryable?.(opts)) throw err;
    } finally {
      conn?.close();
    }
    // A dying daemon's socket can still accept for a few ms: give it time to go.
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs the program on this process's argv and streams; the exit code becomes the process's. */
export function start(commands: Commands, deps: Deps = processDeps): void {
  const io = processIO();
  runProgram(commands, process.argv.slice(2), io, deps).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.exitCode = reportError(err, io);
    },
  );
}
