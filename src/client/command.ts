// What a command is: one file owning its flags, help text, argument checks and run. main.ts keeps
// the table of them (commands/index.ts); help, did-you-mean and completions come from that table.
import { type MethodName, type Methods, PROFILE_NAME } from '../protocol/index.js';
import { type FlagSpec, type Parsed, usage } from './args.js';
import type { IO } from './io.js';

/** The daemon, as a command sees it: requests and answers (a Connection, or a test's stand-in). */
export interface Requester {
  request<M extends MethodName>(method: M, params: Methods[M]['params']): Promise<Methods[M]['result']>;
  close(): void;
  /** The daemon went away after the request was sent and before it answered. */
  readonly lostMidRequest?: boolean;
}

/** Connects on first call (starting the daemon if need be); later calls return the same connection. */
export type Connect = () => Promise<Requester>;

export interface Command<O> {
  readonly name: string;
  /** Its line in `authd --help`: the arguments, then what it does. */
  readonly synopsis: string;
  readonly summary: string;
  readonly help: string;
  readonly flags: FlagSpec;
  /** The words its first argument may be (`daemon start`, `git setup`), for shell completion. */
  readonly subcommands?: readonly string[];
  /** Checks every argument, and reads stdin where the command takes input, before any daemon is contacted. */
  parse(args: Parsed, io: IO): O | Promise<O>;
  /** A read that may be asked once more, of a new daemon, when the daemon died before answering. */
  retryable?(opts: O): boolean;
  /** `commands`: the table the program runs, for a command about the commands (completion). */
  run(opts: O, io: IO, connect: Connect, commands: Commands): Promise<number>;
}

/** A table of commands (commands/index.ts has them all). */
// biome-ignore lint/suspicious/noExplicitAny: each command has its own options type
export type Commands = readonly Command<any>[];

/** The flags every command takes. */
export const HELP_FLAG: FlagSpec = { help: { short: 'h' } };
export const PROFILE_FLAG: FlagSpec = { profile: { short: 'p', value: true } };
export const JSON_FLAG: FlagSpec = { json: {} };

/** A profile name given on the command line, checked as the daemon will check it. */
export function profileName(name: string, command: string): string {
  if (!PROFILE_NAME.test(name)) throw usage(`invalid profile name "${name.slice(0, 40)}": use letters, digits, ".", "_" and "-"`, command);
  return name;
}

/** The profile a command acts on: -p/--profile, else AUTHD_PROFILE, else the daemon's default (undefined). */
export function chosenProfile(args: Parsed, io: IO, command: string): string | undefined {
  const flag = args.flags.profile;
  const name = typeof flag === 'string' ? flag : io.env.AUTHD_PROFILE || undefined;
  return name === undefined ? undefined : profileName(name, command);
}

export function noPositionals(args: Parsed, command: string): void {
  if (args.positionals.length) throw usage(`unexpected argument "${args.positionals[0]!.slice(0, 40)}"`, command);
}

/** A command's JSON output: one object per line, snake_case keys, for scripts. */
export function writeJson(io: IO, value: unknown, pretty = true): void {
  io.stdout.write(`${pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value)}\n`);
}
