// A small, strict argument parser: unknown flags are usage errors, values never come from stdin.
import { closest } from '../protocol/closest.js';
import { AuthdError } from '../protocol/index.js';

export interface FlagSpec {
  /** `values`: the words a value may be, for shell completion (the command's parse still checks them). */
  [long: string]: { short?: string; value?: boolean; multiple?: boolean; values?: readonly string[] };
}

export interface Parsed {
  flags: Record<string, string | string[] | boolean | undefined>;
  positionals: string[];
  /** Everything after `--`. */
  rest: string[];
}

export function parseArgs(argv: string[], spec: FlagSpec, command: string): Parsed {
  const flags: Parsed['flags'] = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(spec).filter(([, s]) => s.short).map(([long, s]) => [s.short!, long]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { flags, positionals, rest: argv.slice(i + 1) };
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--') && arg.length > 2) {
      const eq = arg.indexOf('=');
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      if (!Object.hasOwn(spec, name)) {
        const guess = closest(name, Object.keys(spec));
        throw usage(`unknown option --${name.slice(0, 40)} for authd ${command}${guess ? ` (did you mean --${guess}?)` : ''}`, command);
      }
    } else if (arg.startsWith('-') && arg.length === 2 && arg !== '-') {
      name = byShort.get(arg.slice(1));
      if (!name) throw usage(`unknown option ${arg.slice(0, 40)} for authd ${command}`, command);
    } else {
      positionals.push(arg);
      continue;
    }
    if (spec[name]!.value) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw usage(`option --${name} needs a value`, command);
      if (spec[name]!.multiple) flags[name] = [...((flags[name] as string[] | undefined) ?? []), v];
      else flags[name] = v;
    } else {
      if (inline !== undefined) throw usage(`option --${name} takes no value`, command);
      flags[name] = true;
    }
  }
  return { flags, positionals, rest: [] };
}

export function usage(message: string, command: string): AuthdError {
  return new AuthdError('usage', message, `see \`authd ${command} --help\``);
}

export function str(v: string | string[] | boolean | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
