// `authd exec -- CMD…`: runs a command with a fresh token in its environment (never in its argv).
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { printable } from '../../protocol/index.js';
import { str, usage } from '../args.js';
import { chosenProfile, type Command, HELP_FLAG, PROFILE_FLAG } from '../command.js';
import { userEnv } from '../io.js';
import { bearerOnly, requestWithEnvSecret, warningLine } from '../token-requests.js';

export interface ExecOptions {
  profile?: string;
  envName: string;
  command: string[];
}

export const command: Command<ExecOptions> = {
  name: 'exec',
  synopsis: 'exec [--env NAME] -- CMD…',
  summary: 'run CMD with a fresh token in $AUTHD_TOKEN (or NAME)',
  help: `Usage: authd exec [-p PROFILE] [--env NAME] -- COMMAND [ARGS…]

Runs COMMAND with a fresh access token in the environment variable NAME (default AUTHD_TOKEN).
The token is never put in COMMAND's arguments. Exits with COMMAND's exit code; 127 when COMMAND
is not found, 126 when it cannot be run, as shells do.
`,
  flags: { ...PROFILE_FLAG, env: { short: 'e', value: true }, ...HELP_FLAG },
  parse(args, io) {
    const all = [...args.positionals, ...args.rest];
    if (all.length === 0) throw usage('exec needs a command after --', 'exec');
    const envName = str(args.flags.env) ?? 'AUTHD_TOKEN';
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(envName)) throw usage(`--env ${envName.slice(0, 40)} is not a valid variable name`, 'exec');
    return { profile: chosenProfile(args, io, 'exec'), envName, command: all };
  },
  async run(opts, io, connect) {
    const conn = await connect();
    const params: { profile?: string; caller: { pid: number; cmd: string } } = {
      caller: { pid: process.pid, cmd: `authd exec ${opts.command[0] ?? ''}`.slice(0, 200) },
    };
    if (opts.profile) params.profile = opts.profile;
    const token = bearerOnly(await requestWithEnvSecret(conn, 'getToken', params, io.env));
    conn.close();
    const warning = warningLine(token);
    if (warning) io.stderr.write(warning);
    const env = { ...userEnv(io.env), [opts.envName]: token.access_token };
    const child = spawn(opts.command[0]!, opts.command.slice(1), { stdio: 'inherit', env });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
    const unforward = () => {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, forward);
    };
    return new Promise((resolve) => {
      child.on('error', (err: NodeJS.ErrnoException) => {
        unforward();
        // As a shell says it: 127 for a command not found, 126 for one found but not runnable.
        const notFound = err.code === 'ENOENT';
        const why = notFound ? 'command not found' : err.code === 'EACCES' ? 'permission denied' : (err.code ?? err.message);
        io.stderr.write(`authd: ${printable(opts.command[0]!.slice(0, 200))}: ${why}\n`);
        resolve(notFound ? 127 : 126);
      });
      child.on('exit', (code, signal) => {
        unforward();
        resolve(code ?? 128 + (signal ? signalNumber(signal) : 1));
      });
    });
  },
};

function signalNumber(sig: NodeJS.Signals): number {
  return constants.signals[sig] ?? 1;
}
