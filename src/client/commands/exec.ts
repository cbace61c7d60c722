import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { AuthdError } from '../../protocol/index.js';
import type { Connection } from '../connection.js';
import { type IO, userEnv } from '../io.js';
import { bearerOnly, requestWithEnvSecret } from './shared.js';

export interface ExecOptions {
  profile?: string;
  envName: string;
  command: string[];
}

/** Runs a command with a fresh token in its environment (never in its argv). */
export async function run(opts: ExecOptions, io: IO, conn: Connection): Promise<number> {
  const params: { profile?: string; caller: { pid: number; cmd: string } } = {
    caller: { pid: process.pid, cmd: `authd exec ${opts.command[0] ?? ''}`.slice(0, 200) },
  };
  if (opts.profile) params.profile = opts.profile;
  const token = bearerOnly(await requestWithEnvSecret(conn, 'getToken', params, io.env));
  conn.close();
  const env = { ...userEnv(io.env), [opts.envName]: token.access_token };
  const child = spawn(opts.command[0]!, opts.command.slice(1), { stdio: 'inherit', env });
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, forward);
  return new Promise((resolve, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(new AuthdError('usage', `cannot run ${opts.command[0]}: ${err.code ?? err.message}`, 'check the command name and PATH')));
    child.on('exit', (code, signal) => {
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, forward);
      resolve(code ?? 128 + (signal ? signalNumber(signal) : 1));
    });
  });
}

function signalNumber(sig: NodeJS.Signals): number {
  return constants.signals[sig] ?? 1;
}
