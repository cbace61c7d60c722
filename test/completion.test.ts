// `authd completion bash|zsh|fish` through real shells: each script is installed as the help says and
// completed by the shell's own machinery — bash and zsh at a prompt on a pseudo-terminal (a TAB typed,
// the shell's words, its splitting at =), fish with `complete -C`. Profile names come from a real
// daemon; without one, a TAB prints nothing and starts none.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest';
import { type Idp, startIdp } from '../scripts/dev-idp.mjs';
import type { Command } from '../src/client/command.js';
import { completionScript, SHELLS, type Shell } from '../src/client/commands/completion.js';
import { COMMANDS } from '../src/client/commands/index.js';
import { AUTHD, devProfile, Home } from './support/harness.js';

const has = (program: string) => spawnSync('sh', ['-c', `command -v ${program}`]).status === 0;
const HAS: Record<Shell, boolean> = { bash: has('bash'), zsh: has('zsh'), fish: has('fish') };

/** The environment of a user of this home: authd on PATH, nothing of AUTHD_* but AUTHD_HOME. */
function userEnv(home: Home, dir: string): Record<string, string> {
  return {
    ...home.env, PATH: `${dirname(AUTHD)}:${process.env.PATH}`, TERM: 'xterm', HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'), HISTFILE: '/dev/null',
  };
}

/** What the shell would offer after each line (each completed at its end), and what the terminal showed. */
interface Completed {
  matches: string[][];
  screen: string;
}

/** The script as `authd completion SHELL` prints it, in the place its help says to put it. */
async function install(home: Home, shell: Shell, dir: string, script?: string): Promise<string> {
  let text = script;
  if (text === undefined) {
    const r = await home.run(['completion', shell]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    text = r.stdout;
  }
  const file = { bash: join(dir, 'authd.bash'), zsh: join(dir, 'zfunc', '_authd'), fish: join(dir, 'config', 'fish', 'completions', 'authd.fish') }[shell];
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

/**
 * Types each line and a TAB at an interactive shell, then clears the line. A completion hook (set up
 * after the script is loaded) appends what the shell would offer to a file, then `<done>`.
 */
async function atPrompt(shell: 'bash' | 'zsh', env: Record<string, string>, dir: string, lines: string[], bashSource: string): Promise<Completed> {
  const capture = join(dir, 'capture');
  writeFileSync(capture, '');
  const setup = join(dir, `setup.${shell}`);
  if (shell === 'bash') {
    // As the help says (source <(authd completion bash)); then the same function, its answer recorded.
    writeFileSync(setup, `PS1='$ '
source ${bashSource}
_capture() { _authd "$@"; { printf '%s\\n' "\${COMPREPLY[@]}"; echo '<done>'; } >> "$CAPTURE"; }
complete -F _capture authd
`);
  } else {
    // As the help says: _authd in a directory of $fpath, then compinit. Every match the completion
    // system is given (compadd) is recorded; comppostfuncs runs once after each completion.
    writeFileSync(setup, `bindkey -e
PS1='$ '
fpath=(${dir}/zfunc $fpath)
autoload -U compinit && compinit -u -D
compadd() {
  if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then builtin compadd "$@"; return $?; fi
  local -a __hits
  builtin compadd -A __hits "$@"
  (( $#__hits )) && print -rl -- $__hits >> $CAPTURE
  builtin compadd "$@"
}
_capture_done() { print -r -- '<done>' >> $CAPTURE; comppostfuncs=(_capture_done) }
comppostfuncs=(_capture_done)
`);
  }
  const argv = shell === 'bash' ? 'bash --norc --noprofile -i' : 'zsh -f -i';
  const child = spawn('script', ['-qfec', `exec ${argv}`, '/dev/null'], { env: { ...env, SHELL: '/bin/sh', CAPTURE: capture }, stdio: 'pipe' });
  let screen = '';
  child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
  child.stderr.on('data', (d: Buffer) => (screen += d.toString()));
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  try {
    child.stdin.write(`source ${setup}\n`);
    for (let i = 0; i < lines.length; i++) {
      child.stdin.write(`${lines[i]}\t`);
      await until(() => readFileSync(capture, 'utf8').split('<done>').length > i + 1, `${shell} completing ${JSON.stringify(lines[i])}`, () => screen);
      child.stdin.write('\x15'); // kill the line
    }
    child.stdin.write('exit\n');
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
  } finally {
    stop(child);
  }
  const groups = readFileSync(capture, 'utf8').split('<done>\n').slice(0, lines.length);
  return { matches: groups.map((g) => g.split('\n').filter((w) => w !== '')), screen };
}

async function until(done: () => boolean, what: string, screen: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out ${what}; the terminal showed:\n${screen()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function stop(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** fish's own answer for each line: `complete -C`, with the script where fish looks for it. */
async function withFish(env: Record<string, string>, lines: string[]): Promise<Completed> {
  const matches: string[][] = [];
  let screen = '';
  for (const line of lines) {
    const r = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      execFile('fish', ['-c', `complete -C '${line.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`], { env, timeout: 20_000 }, (err, stdout, stderr) =>
        err ? reject(err) : resolve({ stdout, stderr }));
    });
    screen += r.stderr;
    matches.push(r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0]!));
  }
  return { matches, screen };
}

/** Installs the script for `shell` in a fresh user directory and completes each line. */
async function complete(home: Home, shell: Shell, lines: string[], script?: string): Promise<Completed> {
  const dir = mkdtempSync(join(tmpdir(), 'authd-comp.'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  const file = await install(home, shell, dir, script);
  const env = userEnv(home, dir);
  if (shell === 'fish') return withFish(env, lines);
  // A script that is not `authd completion bash`'s own is sourced from its file.
  return atPrompt(shell, env, dir, lines, script === undefined ? '<(authd completion bash)' : file);
}

const sorted = (words: string[]) => [...new Set(words)].sort();
const names = COMMANDS.map((c) => c.name);

let home: Home;

beforeAll(() => {
  home = new Home('authd-c.');
});

afterAll(async () => {
  await home.dispose();
});

test('authd completion --help says how to install each script; a shell it does not know is a usage error', async () => {
  const help = await home.run(['completion', '--help']);
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('source <(authd completion bash)');
  expect(help.stdout).toContain('~/.local/share/bash-completion/completions/authd');
  expect(help.stdout).toContain('_authd');
  expect(help.stdout).toContain('~/.config/fish/completions/authd.fish');
  expect((await home.run(['--help'])).stdout).toMatch(/completion bash\|zsh\|fish +print a shell completion script/);
  const bad = await home.run(['completion', 'tcsh']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('completion needs one of bash, zsh, fish');
  expect(bad.stdout).toBe('');
  expect((await home.run(['completion'])).code).toBe(2);
  expect(existsSync(home.socket)).toBe(false);
});

test('every command, flag, subcommand and flag value in the table is in each script', async () => {
  for (const shell of SHELLS) {
    const { stdout } = await home.run(['completion', shell]);
    expect(stdout).toBe(completionScript(shell, COMMANDS));
    for (const c of COMMANDS) {
      expect(stdout, `${shell}: ${c.name}`).toContain(c.name);
      if (shell !== 'bash') expect(stdout, `${shell}: ${c.name}'s summary`).toContain(c.summary.replace(/'/g, shell === 'fish' ? "\\'" : "'\\''"));
      for (const [long, spec] of Object.entries(c.flags)) {
        expect(stdout, `${shell}: ${c.name} --${long}`).toContain(shell === 'fish' ? `-l '${long}'` : `--${long}`);
        if (spec.short) expect(stdout, `${shell}: ${c.name} -${spec.short}`).toContain(shell === 'fish' ? `-s '${spec.short}'` : `-${spec.short}`);
        for (const v of spec.values ?? []) expect(stdout, `${shell}: ${c.name} --${long} ${v}`).toContain(v);
      }
      for (const s of c.subcommands ?? []) expect(stdout, `${shell}: ${c.name} ${s}`).toContain(s);
    }
  }
  // The commands with fixed first words say so in the table.
  const subs = Object.fromEntries(COMMANDS.filter((c) => c.subcommands).map((c) => [c.name, c.subcommands]));
  expect(subs).toEqual({
    daemon: ['run', 'start', 'stop', 'status', 'install', 'uninstall'], git: ['setup', 'status'], profile: ['add', 'remove'], secret: ['set'],
    store: ['migrate'], completion: ['bash', 'zsh', 'fish'], 'git-credential': ['get', 'store', 'erase'],
  });
});

const LINES = [
  'authd ',
  'authd get-token --',
  'authd get-token --format ',
  'authd get-token --format=',
  'authd get-token -f j',
  'authd daemon ',
  'authd -p work st',
  'authd store --to ',
  'authd help gi',
  'authd completion ',
];

describe.each(SHELLS)('%s', (shell) => {
  test.skipIf(!HAS[shell])('completes the commands, their flags, subcommands and flag values', async () => {
    const { matches, screen } = await complete(home, shell, LINES);
    const [commands, flags, formats, formatsEq, json, daemon, afterProfile, stores, help, shells] = matches.map((m) => sorted(m));
    expect(commands).toEqual(sorted([...names, 'help']));
    expect(flags).toEqual(['--audience', '--format', '--help', '--id-token', '--min-ttl', '--profile', '--resource', '--scope']);
    const fmt = ['exec-credential', 'header', 'json', 'token'];
    expect(formats).toEqual(fmt);
    // fish offers the whole word; bash and zsh the value after the =.
    expect(formatsEq).toEqual(shell === 'fish' ? fmt.map((f) => `--format=${f}`) : fmt);
    expect(json).toEqual(['json']);
    expect(daemon).toEqual(['install', 'run', 'start', 'status', 'stop', 'uninstall']);
    expect(afterProfile).toEqual(['status', 'store']);
    expect(stores).toEqual(['file', 'keyring']);
    expect(help).toEqual(['git', 'git-credential']);
    expect(shells).toEqual(['bash', 'fish', 'zsh']);
    expect(screen).not.toContain('authd:');
  });

  test.skipIf(!HAS[shell])('a command added to the table completes with its flags and words, with no other change', async () => {
    const frob: Command<object> = {
      name: 'frobnicate', synopsis: 'frobnicate on|off', summary: 'frobnicate the widgets', help: '',
      flags: { widget: { short: 'w', value: true, values: ['left', 'right'] }, loud: {} }, subcommands: ['on', 'off'],
      parse: () => ({}), run: async () => 0,
    };
    const script = completionScript(shell, [...COMMANDS, frob]);
    const lines = ['authd frob', 'authd frobnicate --', 'authd frobnicate --widget ', 'authd frobnicate '];
    const { matches } = await complete(home, shell, lines, script);
    expect(matches[0]).toEqual(['frobnicate']);
    expect(sorted(matches[1]!)).toEqual(['--loud', '--widget']);
    expect(sorted(matches[2]!)).toEqual(['left', 'right']);
    expect(sorted(matches[3]!)).toEqual(['off', 'on']);
  });
});

describe('profile names', () => {
  let idp: Idp;
  let running: Home;

  beforeAll(async () => {
    idp = await startIdp({ accessTokenTtl: 600 });
    running = new Home('authd-c.');
    running.writeConfig({ work: devProfile(idp), 'ci-prod': devProfile(idp), ops_2: devProfile(idp) }, { default_profile: 'work' });
    expect((await running.run(['daemon', 'start'])).code).toBe(0);
  });

  afterAll(async () => {
    await running.dispose();
    await idp.close();
  });

  test.for(SHELLS)('%s: -p and --profile complete the profiles of the running daemon', async (shell, ctx) => {
    if (!HAS[shell]) ctx.skip(`${shell} is not installed`);
    const pid = running.daemonPid();
    const lines = ['authd -p ', 'authd get-token --profile ', 'authd login -p o', 'authd logout --profile=c'];
    const { matches, screen } = await complete(running, shell, lines);
    expect(sorted(matches[0]!)).toEqual(['ci-prod', 'ops_2', 'work']);
    expect(sorted(matches[1]!)).toEqual(['ci-prod', 'ops_2', 'work']);
    expect(matches[2]).toEqual(['ops_2']);
    expect(matches[3]).toEqual([shell === 'fish' ? '--profile=ci-prod' : 'ci-prod']);
    expect(screen).not.toContain('authd:');
    expect(running.daemonPid()).toBe(pid);
  });

  test.for(SHELLS)('%s: with no daemon running, -p completes nothing, prints nothing and starts no daemon', async (shell, ctx) => {
    if (!HAS[shell]) ctx.skip(`${shell} is not installed`);
    const idle = new Home('authd-c.');
    onTestFinished(() => idle.dispose());
    idle.writeConfig({ work: devProfile(idp) });
    const { matches, screen } = await complete(idle, shell, ['authd -p ', 'authd get-token --profile w']);
    expect(matches).toEqual([[], []]);
    expect(screen).not.toMatch(/authd:|daemon|not running/);
    expect(existsSync(idle.socket)).toBe(false);
    expect((await idle.run(['daemon', 'status'])).code).toBe(5);
  });
});
