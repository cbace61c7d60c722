// `authd ssh [ssh options…] HOST [-- COMMAND…]`: the system's ssh, with this machine's restricted
// socket forwarded to a private per-connection path on HOST, named there in AUTHD_SOCKET.
//
// sshd neither creates the forward's directory nor expands `~` in its path, so one connection does
// three things, in order: a master connection (ControlMaster) whose own session makes the private
// directory and prints its absolute path, then waits on stdin and removes the socket when stdin ends
// (when this command ends, however it ends); `ssh -O forward -R` through the master; and the session
// itself, a client of the master. Only paths go into ssh's argv, never a secret.
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuthdError, printable, restrictedSocketPath, resolvePaths } from '../../protocol/index.js';
import { shellQuote } from '../../protocol/perms.js';
import { type FlagSpec, usage } from '../args.js';
import type { Command } from '../command.js';
import { type IO, userEnv } from '../io.js';

interface SshOptions {
  /** ssh's own options, as separate words, for the session. */
  sshArgs: string[];
  /** The same less -t, -T and -n, for the master connection: its session is this command's, on a pipe. */
  masterArgs: string[];
  host: string;
  /** The remote command's words (ssh joins them with spaces), or none: the login shell. */
  command: string[];
  /** -t or -T was given: the user chose whether there is a terminal. */
  ttyChosen: boolean;
}

/** ssh's options (OpenSSH 9): letter → the long name authd's parser files it under, and whether it takes a value. */
const SSH_OPTIONS: Record<string, [string, boolean]> = {
  4: ['ipv4', false], 6: ['ipv6', false], A: ['forward-agent', false], a: ['no-forward-agent', false],
  C: ['compression', false], g: ['gateway-ports', false], K: ['gssapi-delegate', false],
  k: ['no-gssapi-delegate', false], n: ['null-stdin', false], q: ['quiet', false], t: ['tty', false],
  T: ['no-tty', false], v: ['verbose', false], X: ['x11', false], x: ['no-x11', false],
  Y: ['trusted-x11', false], y: ['syslog', false],
  B: ['bind-interface', true], b: ['bind-address', true], c: ['cipher', true], D: ['dynamic-forward', true],
  E: ['log-file', true], e: ['escape-char', true], F: ['config', true], I: ['pkcs11', true],
  i: ['identity', true], J: ['jump', true], L: ['local-forward', true], l: ['login', true], m: ['mac', true],
  o: ['option', true], p: ['port', true], P: ['tag', true], R: ['remote-forward', true], w: ['tunnel', true],
  // Refused below: no session to set AUTHD_SOCKET in, or the connection sharing authd ssh needs itself.
  f: ['background', false], G: ['print-config', false], M: ['control-master', false], N: ['no-command', false],
  s: ['subsystem', false], V: ['version', false], O: ['control', true], Q: ['query', true],
  S: ['control-path', true], W: ['stdio-forward', true],
};
const REFUSED = new Set(['f', 'G', 'M', 'N', 's', 'V', 'O', 'Q', 'S', 'W']);
const LETTER_OF = new Map(Object.entries(SSH_OPTIONS).map(([letter, [long]]) => [long, letter]));

const FLAGS: FlagSpec = {
  ...Object.fromEntries(Object.entries(SSH_OPTIONS).map(([letter, [long, value]]) => [long, { short: letter, value, multiple: value }])),
  help: { short: 'h' },
};

/** Where the forwarded socket goes on the far side: a private directory of the user's, made there. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: shell text, expanded on the far side
const REMOTE_DIR = '${XDG_RUNTIME_DIR:+$XDG_RUNTIME_DIR/authd-forward}';
const REMOTE_DIR_ELSE = '$HOME/.authd/forward';
/** Marks the line where the master's session says the directory's absolute path. */
const DIR_MARK = 'authd-forward-dir:';
/** The command is authd's: a RemoteCommand in the user's ssh config would make ssh refuse to run. */
const OWN_COMMAND = ['-o', 'RemoteCommand=none'];
/** A Unix socket's path limit on the far side (macOS's; Linux allows 107 bytes). */
const MAX_REMOTE_PATH = 103;

export const command: Command<SshOptions> = {
  name: 'ssh',
  synopsis: 'ssh [SSH OPTIONS…] HOST [-- CMD…]',
  summary: 'ssh to HOST with get-token forwarded (profiles with forward = true)',
  help: `Usage: authd ssh [SSH OPTIONS…] HOST [-- COMMAND…]

Runs ssh to HOST with this machine's restricted authd socket forwarded to a private path there
(\${XDG_RUNTIME_DIR}/authd-forward/, else ~/.authd/forward/, one socket per connection, removed
when it ends), and AUTHD_SOCKET naming it for COMMAND or your login shell. On HOST, \`authd
get-token\` and git's credential helper then answer for the profiles with forward = true in your
config here; nothing else (login, logout, secrets, status) goes through. ssh's own options are
passed on (-p, -i, -J, -o, …). Put -- before COMMAND when it or ssh has options of its own; a
script that passes a HOST it did not write puts -- before HOST (authd ssh -- "$HOST" -- COMMAND), so
a HOST starting with - is never taken for an option.
Secrets never go into ssh's arguments.
Example: authd ssh build.example.com -- 'git clone https://git.acme.com/x && make'

ssh's options it passes on (the long names are authd's own):
${wrap(Object.entries(SSH_OPTIONS).filter(([l]) => !REFUSED.has(l)).map(([l, [long, value]]) => `-${l}${value ? ' X' : ''} --${long}`))}
and those it refuses (it runs a session, over a connection it shares itself):
${wrap(Object.entries(SSH_OPTIONS).filter(([l]) => REFUSED.has(l)).map(([l, [long]]) => `-${l} --${long}`))}

Using your own ssh or ssh config instead: forward the path \`authd daemon status --restricted-socket\`
prints to a path in a directory only you can use on the host (sshd does not create it), and set
AUTHD_SOCKET there:
  ssh -R /home/you/.authd/fwd.sock:"$(authd daemon status --restricted-socket)" host
  host$ export AUTHD_SOCKET=~/.authd/fwd.sock AUTHD_FORWARDED=ssh   # mkdir -m 700 ~/.authd once
or in ~/.ssh/config:  RemoteForward /home/you/.authd/fwd.sock /run/user/1000/authd/authd.restricted/authd.sock
with StreamLocalBindUnlink yes in the host's sshd_config, so a socket left behind is replaced.
`,
  flags: FLAGS,
  parse(args) {
    const sshArgs: string[] = [];
    const masterArgs: string[] = [];
    let ttyChosen = false;
    /** Options the parser took: where they stood (before HOST or among COMMAND's words) is not known. */
    let anywhere = 0;
    const take = (letter: string, value?: string) => {
      if (REFUSED.has(letter)) {
        throw usage(`ssh's -${letter} does not go with authd ssh: it runs a command or your login shell with AUTHD_SOCKET set, over a connection it shares itself`, 'ssh');
      }
      if (letter === 't' || letter === 'T') ttyChosen = true;
      const words = [`-${letter}`, ...(value === undefined ? [] : [value])];
      sshArgs.push(...words);
      if (!'tTn'.includes(letter)) masterArgs.push(...words);
    };
    for (const [long, v] of Object.entries(args.flags)) {
      if (long === 'help' || v === undefined || v === false) continue;
      const letter = LETTER_OF.get(long)!;
      anywhere++;
      if (Array.isArray(v)) for (const value of v) take(letter, value);
      else take(letter, typeof v === 'string' ? v : undefined);
    }
    // Words the parser left alone: HOST, COMMAND's words, and ssh options written as one word (-vvv, -p2222, -oKey=value).
    let host: string | undefined;
    const words: string[] = [];
    for (const word of args.positionals) {
      if (host === undefined && word.startsWith('-') && word.length > 1) {
        for (const [letter, value] of optionWord(word)) take(letter, value);
      } else if (host === undefined) host = word;
      else words.push(word);
    }
    // `authd ssh [SSH OPTIONS…] -- HOST [COMMAND…]`: a HOST a script passes on, whatever it starts with, is a host.
    let rest = args.rest;
    if (host === undefined && rest.length) {
      [host, ...rest] = rest as [string, ...string[]];
      if (rest[0] === '--') rest = rest.slice(1);
    }
    if (host === undefined) throw usage('authd ssh needs a HOST', 'ssh');
    if (/[\0-\x1f\x7f]/.test(host)) throw usage('HOST has control characters', 'ssh');
    // The parser reads options anywhere: in `authd ssh -p 22 host ls -l /tmp`, -l /tmp would be ssh's login name.
    if (words.length && (anywhere || args.rest.length)) {
      throw usage(`put -- before the remote command (authd ssh [SSH OPTIONS…] ${printable(host.slice(0, 40))} -- ${printable(words.join(' ').slice(0, 40))})`, 'ssh');
    }
    return { sshArgs, masterArgs, host, command: words.length ? words : rest, ttyChosen };
  },
  async run(opts, io, connect) {
    const conn = await connect();
    const ping = await conn.request('ping', {});
    // On a host reached through a forward already, the socket in hand is a restricted one: pass it on.
    const local = ping.restricted ? resolvePaths(io.env).socket : restrictedSocketPath(resolvePaths(io.env));
    if (!local) throw new AuthdError('not_supported', 'authd ssh needs Unix sockets: this system has none to forward');
    if (!existsSync(local)) {
      throw new AuthdError('daemon_unreachable', `the authd daemon has no restricted socket to forward (${local})`,
        'its log in the state directory says why (`authd status` shows where)');
    }
    if (!ping.restricted) {
      const { profiles, configPath } = await conn.request('profiles', {});
      if (!profiles.some((p) => p.forward)) {
        io.stderr.write(`authd: warning: no profile has forward = true, so nothing is served on ${printable(opts.host)}\n`
          + `  to serve one there, add forward = true to its [profiles.NAME] in ${configPath}\n`);
      }
    }
    conn.close();
    return forward(opts, local, io);
  },
};

/** Items for the help, comma-separated, in indented lines under 100 columns. */
function wrap(items: string[]): string {
  const lines: string[][] = [[]];
  for (const item of items) {
    if (`${lines.at(-1)!.join(', ')}, ${item}`.length > 94) lines.push([]);
    lines.at(-1)!.push(item);
  }
  return lines.map((l) => `  ${l.join(', ')}`).join(',\n');
}

/** One word of ssh options (-vvv, -p2222, -oKey=value) as letters and values. */
function optionWord(word: string): [string, string | undefined][] {
  const out: [string, string | undefined][] = [];
  for (let i = 1; i < word.length; i++) {
    const letter = word[i]!;
    const spec = SSH_OPTIONS[letter];
    if (!spec) throw usage(`unknown ssh option -${printable(letter)} in ${printable(word.slice(0, 40))}`, 'ssh');
    if (!spec[1]) {
      out.push([letter, undefined]);
      continue;
    }
    const value = word.slice(i + 1);
    if (!value) throw usage(`-${letter} needs a value: -${letter} VALUE, or -${letter}VALUE in one word`, 'ssh');
    out.push([letter, value]);
    break;
  }
  return out;
}

async function forward(opts: SshOptions, localSocket: string, io: IO): Promise<number> {
  // Loaded only here: no other command needs them.
  const [{ spawn }, { randomBytes }, { isatty }] = await Promise.all([import('node:child_process'), import('node:crypto'), import('node:tty')]);
  const env = userEnv(io.env);
  // The master's control socket, in a private directory of this command's (ssh refuses a long path).
  const base = tmpdir().length > 60 ? '/tmp' : tmpdir();
  const ctlDir = mkdtempSync(join(base, 'authd-ssh.'));
  const shared = ['-o', `ControlPath=${join(ctlDir, 'ctl')}`];
  const name = `${randomBytes(8).toString('hex')}.sock`;
  let master: ChildProcess | undefined;
  let session: ChildProcess | undefined;
  // The terminal's Ctrl-C reaches ssh itself; a SIGTERM or SIGHUP for this command is passed on.
  const signals = { SIGINT: () => undefined, SIGTERM: () => (session ?? master)?.kill('SIGTERM'), SIGHUP: () => (session ?? master)?.kill('SIGHUP') };
  for (const [sig, on] of Object.entries(signals)) process.on(sig, on);
  try {
    // 1. The connection, whose own session makes the directory and holds the socket's removal.
    const prepare = `umask 077; d=${REMOTE_DIR}; d=\${d:-${REMOTE_DIR_ELSE}}; mkdir -p "$d" && chmod 700 "$d" && cd "$d" && p=$(pwd -P) && echo "${DIR_MARK}$p" && cat >/dev/null; rm -f "./$1"`;
    master = spawn('ssh', [
      ...shared, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=no', '-o', 'ExitOnForwardFailure=yes',
      '-o', 'StreamLocalBindUnlink=yes', ...OWN_COMMAND, ...opts.masterArgs, '-T', '--', opts.host,
      `sh -c ${shellQuote(prepare)} authd-ssh ${name}`,
    ], { stdio: ['pipe', 'pipe', 'inherit'], env });
    master.stdin!.on('error', () => undefined); // it may be gone before its stdin is closed
    const dir = await remoteDir(master);
    if (typeof dir === 'number') {
      // ssh has said why (it could not connect or log in), or the shell there has; its exit code is ssh's.
      io.stderr.write(`authd: could not connect to ${printable(opts.host)}, or make a private directory there for the forwarded socket (see above)\n`);
      return dir;
    }
    const remoteSocket = `${dir}/${name}`;
    if (!/^\/[^\0-\x1f\x7f]*$/.test(dir) || Buffer.byteLength(remoteSocket) > MAX_REMOTE_PATH) {
      throw new AuthdError('config_error', `the forwarded socket's directory on ${printable(opts.host)} is not usable: ${printable(dir.slice(0, 200))}`,
        'set XDG_RUNTIME_DIR there to a short absolute path, or forward the socket yourself (see `authd ssh --help`)');
    }
    // 2. The forward, through the master (no config file: the master holds the connection).
    const fwd = await runToEnd(spawn('ssh', ['-F', '/dev/null', ...shared, '-o', 'ExitOnForwardFailure=yes', '-O', 'forward', '-R', `${remoteSocket}:${localSocket}`, '--', opts.host],
      { stdio: ['ignore', 'ignore', 'pipe'], env }));
    if (fwd.code !== 0) {
      throw new AuthdError('internal', `ssh could not forward the authd socket to ${printable(remoteSocket)} on ${printable(opts.host)}: ${printable(fwd.stderr.trim().split('\n').at(-1) ?? '')}`,
        'the host\'s sshd must allow it (AllowStreamLocalForwarding yes, the default)');
    }
    // 3. The session, sharing the master's connection; the user's forwards are the master's already.
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text, expanded on the far side
    const setEnv = 'AUTHD_SOCKET=$1 AUTHD_FORWARDED=ssh; export AUTHD_SOCKET AUTHD_FORWARDED; if [ $# -gt 1 ]; then exec "${SHELL:-/bin/sh}" -c "$2"; fi; exec "${SHELL:-/bin/sh}" -l';
    const remote = [`sh -c ${shellQuote(setEnv)} authd-ssh ${shellQuote(remoteSocket)}`];
    if (opts.command.length) remote.push(shellQuote(opts.command.join(' ')));
    // ssh gives a terminal to a login shell on one; here there is always a command, so say it.
    const tty = !opts.command.length && !opts.ttyChosen && isatty(0) ? ['-t'] : [];
    session = spawn('ssh', [...shared, '-o', 'ControlMaster=no', '-o', 'ClearAllForwardings=yes', ...OWN_COMMAND, ...tty, ...opts.sshArgs, '--', opts.host, remote.join(' ')],
      { stdio: 'inherit', env });
    return (await runToEnd(session)).code;
  } finally {
    // The master's session ends with its stdin: the socket there is removed, then the connection closes.
    if (master && master.exitCode === null && master.signalCode === null) {
      const closed = new Promise((resolve) => master!.once('close', resolve));
      master.stdin?.end();
      await closed;
    }
    for (const [sig, on] of Object.entries(signals)) process.off(sig, on);
    rmSync(ctlDir, { recursive: true, force: true });
  }
}

function noSsh(err: NodeJS.ErrnoException): AuthdError {
  return new AuthdError('not_supported', `cannot run ssh (${err.code ?? err.message})`, 'install OpenSSH\'s client (Debian: apt install openssh-client)');
}

/** The directory the master's session prints (after whatever the shell's rc files print), or its exit code when it ended first. */
function remoteDir(child: ChildProcess): Promise<string | number> {
  return new Promise((resolve, reject) => {
    let partial = '';
    const stdout = child.stdout!;
    stdout.setEncoding('utf8');
    const onData = (s: string) => {
      const lines = (partial + s).split('\n');
      partial = lines.pop()!.slice(-4096);
      const found = lines.find((l) => l.startsWith(DIR_MARK));
      if (found === undefined) return;
      stdout.off('data', onData);
      stdout.resume(); // nothing more is expected; never let it block the master
      resolve(found.slice(DIR_MARK.length));
    };
    stdout.on('data', onData);
    child.once('error', (err: NodeJS.ErrnoException) => reject(noSsh(err)));
    // Ended without saying where: ssh's code, or 255 (ssh's own failure code) if it was 0.
    child.once('close', (code, signal) => resolve(code ? code : signal ? 128 + signalNumber(signal) : 255));
  });
}

function runToEnd(child: ChildProcess): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      if (stderr.length < 8192) stderr += s;
    });
    child.once('error', (err: NodeJS.ErrnoException) => reject(noSsh(err)));
    child.once('close', (code, signal) => resolve({ code: code ?? 128 + signalNumber(signal), stderr }));
  });
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return (signal && constants.signals[signal]) || 1;
}
