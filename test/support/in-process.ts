// The command line in-process: a program over a table of commands, run with an injected IO and a
// stand-in daemon that answers from a test's table and records what it was asked.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Commands, Requester } from '../../src/client/command.js';
import { COMMANDS } from '../../src/client/commands/index.js';
import { type IO, reportError } from '../../src/client/io.js';
import { runProgram } from '../../src/client/program.js';
import { AuthdError, type MethodName, type Methods } from '../../src/protocol/index.js';

/** What the stand-in daemon answers, method by method; a method not here is refused as unknown. */
export type Answers = { [M in MethodName]?: (params: Methods[M]['params']) => Methods[M]['result'] };

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
  requests: { method: string; params: unknown }[];
  connected: boolean;
}

export type Cli = (argv: string[], answers?: Answers, env?: Record<string, string>, input?: string) => Promise<Ran>;

/** `authd ARGV` over COMMANDS, to its exit code (an error reported as the program reports it). */
export function program(commands: Commands): Cli {
  return async (argv, answers = {}, env = {}, input = '') => {
    let stdout = '';
    let stderr = '';
    const requests: Ran['requests'] = [];
    let connected = false;
    const io: IO = {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      // Bytes, as a pipe gives them.
      stdin: Readable.from([Buffer.from(input)]),
      env: { AUTHD_HOME: join(tmpdir(), 'authd-cli-none'), ...env },
    };
    const daemon: Requester = {
      request: async (method, params) => {
        requests.push({ method, params });
        const answer = answers[method] as ((p: unknown) => unknown) | undefined;
        if (!answer) throw new AuthdError('unknown_method', `the stand-in daemon has no answer for ${method}`);
        return answer(params) as never;
      },
      close: () => undefined,
    };
    let code: number;
    try {
      code = await runProgram(commands, argv, io, {
        connect: async () => {
          connected = true;
          return daemon;
        },
      });
    } catch (err) {
      code = reportError(err, io);
    }
    return { code, stdout, stderr, requests, connected };
  };
}

/** `authd ARGV` with every command, as dist/authd.cjs has them. */
export const cli = program(COMMANDS);
