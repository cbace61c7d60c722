// `authd completion bash|zsh|fish`: a completion script made from the command table, so a new
// command, flag or flag value completes without anyone touching this file.
import { type FlagSpec, usage } from '../args.js';
import { type Command, type Commands, HELP_FLAG, noPositionals, PROFILE_FLAG } from '../command.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export const command: Command<{ shell: Shell }> = {
  name: 'completion',
  synopsis: 'completion bash|zsh|fish',
  summary: 'print a shell completion script',
  help: `Usage: authd completion bash|zsh|fish

Prints a completion script for the shell: the commands, their options, the words a command's first
argument may be (daemon start, git setup, …), the values of options such as --format, and profile
names after -p (asked of the running daemon; a TAB never starts one, and shows nothing when none runs).

  bash  add to ~/.bashrc:  source <(authd completion bash)
        or save it:        authd completion bash > ~/.local/share/bash-completion/completions/authd
  zsh   save it as _authd in a directory of $fpath, e.g.
          mkdir -p ~/.zfunc && authd completion zsh > ~/.zfunc/_authd
        with fpath=(~/.zfunc $fpath) before compinit in ~/.zshrc
        (or, after compinit in ~/.zshrc:  source <(authd completion zsh))
  fish  authd completion fish > ~/.config/fish/completions/authd.fish
`,
  flags: { ...HELP_FLAG },
  subcommands: SHELLS,
  parse(args) {
    const [shell, ...extra] = args.positionals;
    if (!SHELLS.includes(shell as Shell)) throw usage(`completion needs one of ${SHELLS.join(', ')}`, 'completion');
    noPositionals({ ...args, positionals: extra }, 'completion');
    return { shell: shell as Shell };
  },
  // It prints the table the program runs; it never contacts the daemon.
  async run(opts, io, _connect, commands) {
    io.stdout.write(completionScript(opts.shell, commands));
    return 0;
  },
};

/** What a script completes for one word before the cursor: a command, or (named '') authd itself. */
interface Completable {
  name: string;
  summary: string;
  flags: FlagSpec;
  subcommands: readonly string[];
}

/** The options main.ts takes before the command: `authd -p acme get-token`, `authd --version`. */
const GLOBAL_FLAGS: FlagSpec = { ...PROFILE_FLAG, ...HELP_FLAG, version: {} };

/**
 * The profile names, from the running daemon: never one started for a TAB, errors never shown, and
 * not the whole 10 s a client waits for a daemon that does not answer.
 */
const PROFILES_ENV = 'AUTHD_NO_AUTOSTART=1 AUTHD_NOT_ANSWERING_MS=2000';
/** A profile's line in `authd profiles --json` (names are letters, digits, ".", "_" and "-"). */
const PROFILE_LINE = '^ +"name": "([A-Za-z0-9._-]+)"';

export function completionScript(shell: Shell, commands: Commands): string {
  const all: Completable[] = [
    { name: '', summary: '', flags: GLOBAL_FLAGS, subcommands: [] },
    ...commands.map((c) => ({ name: c.name, summary: c.summary, flags: c.flags, subcommands: c.subcommands ?? [] })),
    // main.ts's own: `authd help COMMAND`.
    { name: 'help', summary: "a command's options", flags: {}, subcommands: commands.map((c) => c.name) },
  ];
  return shell === 'bash' ? bash(all) : shell === 'zsh' ? zsh(all) : fish(all);
}

/** `--format` and `-f`, for one entry of a FlagSpec. */
function spellings(long: string, spec: FlagSpec[string]): string[] {
  return spec.short ? [`--${long}`, `-${spec.short}`] : [`--${long}`];
}

const isProfile = (long: string, spec: FlagSpec[string]) => long === 'profile' && spec.value === true;

/** A single-quoted word for bash and zsh. */
function sh(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

/** A single-quoted word for fish. */
function fq(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function bash(all: Completable[]): string {
  const specs = all.map((c) => {
    const flags = Object.entries(c.flags);
    const words = flags.flatMap(([l, s]) => spellings(l, s)).join(' ');
    const valued = flags.filter(([, s]) => s.value).flatMap(([l, s]) => spellings(l, s)).join(' ');
    return `    ${sh(c.name)}) flags=${sh(words)} valued=${sh(valued)} subs=${sh(c.subcommands.join(' '))} ;;`;
  });
  const values = all.flatMap((c) => Object.entries(c.flags).flatMap(([l, s]) => {
    const when = spellings(l, s).map((f) => sh(`${c.name}:${f}`)).join('|');
    if (isProfile(l, s)) return [`    ${when}) _authd_profiles "$3" ;;`];
    if (s.values) return [`    ${when}) printf '%s\\n' ${s.values.map(sh).join(' ')} ;;`];
    return [];
  }));
  const names = all.filter((c) => c.name !== '').map((c) => c.name).join(' ');
  return `# bash completion for authd, made by \`authd completion bash\` from its command table.
# Load it with \`source <(authd completion bash)\` in ~/.bashrc, or save it as
# ~/.local/share/bash-completion/completions/authd.

# _authd_profiles AUTHD: the profile names of the running daemon (${PROFILES_ENV}).
_authd_profiles() {
  local line re=${sh(PROFILE_LINE)}
  while IFS= read -r line; do
    [[ $line =~ $re ]] && printf '%s\\n' "\${BASH_REMATCH[1]}"
  done < <(${PROFILES_ENV} "$1" profiles --json 2>/dev/null </dev/null)
}

# _authd_values COMMAND FLAG AUTHD: the words FLAG's value may be.
_authd_values() {
  case $1:$2 in
${values.join('\n')}
  esac
}

# _authd_spec COMMAND: its flags, those that take a value, and the words its first argument may be.
_authd_spec() {
  case $1 in
${specs.join('\n')}
    *) flags= valued= subs= ;;
  esac
}

_authd() {
  local cword=$COMP_CWORD cur=\${COMP_WORDS[COMP_CWORD]} cmd= at=0 n=0 dashdash=0 flag= i w flags valued subs
  COMPREPLY=()
  # The command: the first word that is neither an option nor an option's value. bash splits
  # --name=value into three words (= is in COMP_WORDBREAKS).
  _authd_spec ''
  for ((i = 1; i < cword; i++)); do
    w=\${COMP_WORDS[i]}
    if [[ $w == = ]]; then i=$((i + 1))
    elif [[ $w == -* ]]; then [[ " $valued " == *" $w "* && \${COMP_WORDS[i+1]} != = ]] && i=$((i + 1))
    else cmd=$w at=$i; break
    fi
  done
  if [[ -n $cmd ]]; then
    _authd_spec "$cmd"
    for ((i = at + 1; i < cword; i++)); do
      w=\${COMP_WORDS[i]}
      if [[ $w == -- ]]; then dashdash=$i; break
      elif [[ $w == = ]]; then i=$((i + 1))
      elif [[ $w == -* ]]; then [[ " $valued " == *" $w "* && \${COMP_WORDS[i+1]} != = ]] && i=$((i + 1))
      else n=$((n + 1))
      fi
    done
  fi
  # After --, a command line of its own (authd exec -- CMD …).
  if ((dashdash)); then
    if declare -F _command_offset >/dev/null; then _command_offset $((dashdash + 1))
    elif ((cword == dashdash + 1)); then COMPREPLY=($(compgen -c -- "$cur"))
    else compopt -o default 2>/dev/null
    fi
    return 0
  fi
  # An option's value: --format json, or --format=json.
  if [[ $cur == = ]]; then flag=\${COMP_WORDS[cword-1]} cur=
  elif [[ \${COMP_WORDS[cword-1]} == = ]]; then flag=\${COMP_WORDS[cword-2]}
  elif ((cword > 1)) && [[ " $valued " == *" \${COMP_WORDS[cword-1]} "* ]]; then flag=\${COMP_WORDS[cword-1]}
  fi
  if [[ -n $flag ]]; then
    [[ " $valued " == *" $flag "* ]] && COMPREPLY=($(compgen -W "$(_authd_values "$cmd" "$flag" "\${COMP_WORDS[0]}")" -- "$cur"))
  elif [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [[ -z $cmd ]]; then COMPREPLY=($(compgen -W ${sh(names)} -- "$cur"))
  elif ((n == 0)); then COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  fi
  return 0
}

complete -F _authd authd
`;
}

/** One _arguments spec per spelling: '(-f --format)-f:format:(token json)'. */
function zshFlags(flags: FlagSpec): string[] {
  return Object.entries(flags).flatMap(([long, s]) => {
    const names = spellings(long, s);
    const group = s.multiple ? '*' : names.length > 1 ? `(${names.join(' ')})` : '';
    const action = isProfile(long, s) ? '_authd_profiles' : s.values ? `(${s.values.join(' ')})` : ' ';
    return names.map((n) => sh(s.value ? `${group}${n}${n.startsWith('--') ? '=' : ''}:${long}:${action}` : `${group}${n}`));
  });
}

function zsh(all: Completable[]): string {
  const [top, ...commands] = all;
  const arms = commands.map((c) => {
    const specs = zshFlags(c.flags);
    if (c.subcommands.length) specs.push(sh(`1:${c.name === 'help' ? 'command' : 'subcommand'}:(${c.subcommands.join(' ')})`));
    return `    (${c.name}) _arguments : ${specs.join(' ')} && ret=0 ;;`;
  });
  const described = commands.map((c) => `    ${sh(`${c.name}:${c.summary}`)}`);
  return `#compdef authd
# zsh completion for authd, made by \`authd completion zsh\` from its command table.
# Save it as _authd in a directory of $fpath (e.g. ~/.zfunc, with fpath=(~/.zfunc $fpath) before
# compinit in ~/.zshrc), or load it with \`source <(authd completion zsh)\` after compinit.

# The profile names of the running daemon (${PROFILES_ENV}).
_authd_profiles() {
  local line expl
  local -a names
  for line in \${(f)"$(${PROFILES_ENV} "\${_authd_bin:-authd}" profiles --json 2>/dev/null </dev/null)"}; do
    [[ $line =~ ${sh(PROFILE_LINE)} ]] && names+=($match[1])
  done
  _wanted profiles expl profile compadd -a names
}

_authd_commands() {
  local -a commands=(
${described.join('\n')}
  )
  _describe -t commands 'authd command' commands
}

_authd() {
  setopt localoptions no_bash_rematch
  local curcontext=$curcontext state state_descr line ret=1 _authd_bin=\${(Q)words[1]}
  local -A opt_args
  _arguments -C : ${zshFlags(top!.flags).join(' ')} '1: :_authd_commands' '*:: :->args' && ret=0
  [[ $state == args ]] || return ret
  # After --, a command line of its own (authd exec -- CMD …).
  local dashdash=\${words[(i)--]}
  if ((dashdash < CURRENT)); then
    shift $dashdash words
    ((CURRENT -= dashdash))
    _normal && ret=0
    return ret
  fi
  curcontext=\${curcontext%:*:*}:authd-$words[1]:
  case $words[1] in
${arms.join('\n')}
  esac
  return ret
}

if [[ $funcstack[1] == _authd ]]; then _authd "$@"; else compdef _authd authd; fi
`;
}

function fish(all: Completable[]): string {
  const lines: string[] = [];
  for (const c of all) {
    const when = c.name === '' ? '__authd_no_command' : `__authd_is ${c.name}`;
    if (c.name !== '') lines.push(`complete -c authd -n __authd_no_command -a ${fq(c.name)} -d ${fq(c.summary)}`);
    for (const [long, s] of Object.entries(c.flags)) {
      const short = s.short ? ` -s ${fq(s.short)}` : '';
      const value = isProfile(long, s) ? " -x -a '(__authd_profiles)'" : s.values ? ` -x -a ${fq(s.values.join(' '))}` : s.value ? ' -x' : '';
      lines.push(`complete -c authd -n ${fq(when)}${short} -l ${fq(long)}${value}`);
    }
    if (c.subcommands.length) {
      const words = c.subcommands.join(' ');
      lines.push(`complete -c authd -n ${fq(`__authd_first_argument ${c.name} ${words}`)} -a ${fq(words)}`);
    }
  }
  return `# fish completion for authd, made by \`authd completion fish\` from its command table.
# Save it as ~/.config/fish/completions/authd.fish, or load it with \`authd completion fish | source\`.

# The command: the first word that is neither an option nor an option's value.
function __authd_command
    set -l words (commandline -opc)
    set -e words[1]
    set -l skip 0
    for w in $words
        if test $skip = 1
            set skip 0
        else if contains -- $w ${Object.entries(GLOBAL_FLAGS).filter(([, s]) => s.value).flatMap(([l, s]) => spellings(l, s)).map(fq).join(' ')}
            set skip 1
        else if not string match -q -- '-*' $w
            echo $w
            return 0
        end
    end
    return 1
end

function __authd_after_dashdash
    contains -- -- (commandline -opc)
end

function __authd_no_command
    not __authd_command >/dev/null
end

# __authd_is COMMAND: the command is COMMAND, and no -- came before the cursor.
function __authd_is
    __authd_after_dashdash; and return 1
    set -l c (__authd_command)
    test "$c" = "$argv[1]"
end

# __authd_first_argument COMMAND WORD…: the command is COMMAND and none of the WORDs came yet.
function __authd_first_argument
    __authd_is $argv[1]; or return 1
    set -l words (commandline -opc)
    set -e argv[1]
    for w in $argv
        contains -- $w $words; and return 1
    end
    return 0
end

# The profile names of the running daemon (${PROFILES_ENV}).
function __authd_profiles
    set -l authd (commandline -opc)[1]
    test -n "$authd"; or set authd authd
    env ${PROFILES_ENV} $authd profiles --json 2>/dev/null </dev/null | string replace -rf ${fq(`${PROFILE_LINE}.*`)} '$1'
end

# After --, a command line of its own (authd exec -- CMD …).
function __authd_rest
    set -l words (commandline -opc)
    set -l i (contains -i -- -- $words)
    set -e words[1..$i]
    complete -C (string join ' ' -- (string escape -- $words) (commandline -ct))
end

complete -c authd -f
complete -c authd -n __authd_after_dashdash -a '(__authd_rest)'
${lines.join('\n')}
`;
}
