// The `authd` client (dist/authd.cjs): the program with every command. bin/authd starts
// get-token-main.ts instead for `authd get-token`.
import { COMMANDS } from './commands/index.js';
import { type IO, reportError } from './io.js';
import { type Deps, runProgram, start, topLevelHelp as helpFor } from './program.js';

export { reportError };

export function main(argv: string[], io: IO, deps?: Deps): Promise<number> {
  return runProgram(COMMANDS, argv, io, deps);
}

export function topLevelHelp(): string {
  return helpFor(COMMANDS);
}

if (require.main === module) start(COMMANDS);
