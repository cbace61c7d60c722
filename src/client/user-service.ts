// `authd daemon install|uninstall`: the daemon as a user service. On Linux a systemd --user socket
// unit (systemd listens at the path clients resolve, and starts the daemon at the first connection:
// socket activation, daemon/socket-activation.ts) and its service; on macOS a launchd agent started
// at login. The files' text is built from plain data here; writing them and asking the service
// manager to load them are the only effects, and uninstall removes exactly what install wrote.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { AuthdError, checkSocketPath, resolvePaths, restrictedSocketPath } from '../protocol/index.js';
import { daemonArgs } from './connection.js';
import { type IO, userEnv } from './io.js';

export const SOCKET_UNIT = 'authd.socket';
export const SERVICE_UNIT = 'authd.service';
export const LAUNCHD_LABEL = 'authd';

/** The first line of every file install writes: what uninstall looks for before it removes one. */
const MARKER = 'Written by `authd daemon install`; `authd daemon uninstall` removes it.';

/**
 * The variables that decide where the daemon's config, state and socket are, as the installing shell
 * had them: the service manager's environment need not have them, and a daemon that resolved other
 * paths would serve another home. NODE_EXTRA_CA_CERTS: a provider's private CA. Nothing secret
 * (a proxy URL can hold a password: the service takes proxies from the manager's environment).
 */
const PINNED = ['AUTHD_HOME', 'AUTHD_SOCKET', 'AUTHD_CONFIG', 'XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'NODE_EXTRA_CA_CERTS'] as const;

export interface ServiceSpec {
  /** The daemon's command line: this installation's node and daemon, absolute. */
  program: string[];
  socket: string;
  /** The restricted socket (forwards), handed to the daemon second; none where there is none. */
  restrictedSocket?: string;
  env: [string, string][];
}

/** The service for this installation, with the paths the given environment resolves. */
export function serviceSpec(env: Record<string, string | undefined>): ServiceSpec {
  const paths = resolvePaths(env);
  checkSocketPath(paths);
  const real = userEnv(env);
  const pinned: [string, string][] = [];
  for (const name of PINNED) {
    const value = real[name];
    // Relative paths resolved now: the service does not start where this shell stands.
    if (value) pinned.push([name, name === 'AUTHD_SOCKET' ? paths.socket : resolve(value)]);
  }
  const restricted = restrictedSocketPath(paths);
  const spec: ServiceSpec = { program: [process.execPath, ...daemonArgs(false)], socket: resolve(paths.socket), env: pinned };
  if (restricted) spec.restrictedSocket = resolve(restricted);
  return spec;
}

/** A value that reaches a unit file or a plist: one line, nothing that could end or extend it. */
function plain(value: string, what: string): string {
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new AuthdError('config_error', `${what} holds a control character; not writing it into a service file`);
  return value;
}

/** An ExecStart= word: quoted, with systemd's specifiers (%) and variable expansion ($) escaped. */
function execWord(s: string): string {
  const escaped = plain(s, 'the daemon\'s command line').replaceAll('%', '%%').replaceAll('$', '$$$$');
  return /^[\w@+=:,./-]+$/.test(escaped) ? escaped : `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** An Environment= assignment, quoted. */
function environmentLine(name: string, value: string): string {
  const v = plain(value, name).replaceAll('%', '%%').replaceAll('\\', '\\\\').replaceAll('"', '\\"');
  return `Environment="${name}=${v}"`;
}

/** The socket unit and the service it activates. */
export function systemdUnits(spec: ServiceSpec): { socket: string; service: string } {
  const socket = [
    `# ${MARKER}`,
    '[Unit]',
    'Description=authd credential agent socket',
    '',
    '[Socket]',
    `ListenStream=${plain(spec.socket, 'the socket path').replaceAll('%', '%%')}`,
    // Second, so the daemon gets it as fd 4: the restricted socket, there whenever the full one is.
    ...(spec.restrictedSocket ? [`ListenStream=${plain(spec.restrictedSocket, 'the restricted socket path').replaceAll('%', '%%')}`] : []),
    // The daemon refuses a socket others could connect to, in a directory others can enter.
    'SocketMode=0600',
    'DirectoryMode=0700',
    // Once stopped, clients find no socket and start a daemon of their own, as without the service.
    'RemoveOnStop=yes',
    '',
    '[Install]',
    'WantedBy=sockets.target',
    '',
  ].join('\n');
  const service = [
    `# ${MARKER}`,
    '[Unit]',
    'Description=authd credential agent',
    `Requires=${SOCKET_UNIT}`,
    `After=${SOCKET_UNIT}`,
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${spec.program.map(execWord).join(' ')}`,
    ...spec.env.map(([name, value]) => environmentLine(name, value)),
    // `authd daemon stop` ends it with 0: the socket starts it again at the next connection.
    'Restart=on-failure',
    '',
  ].join('\n');
  return { socket, service };
}

function xml(s: string): string {
  return plain(s, 'a launchd agent value').replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

/** The launchd agent: started at login, started again only after a crash (not after `authd daemon stop`). */
export function launchdPlist(spec: ServiceSpec): string {
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    `<!-- ${MARKER} -->`,
    '<plist version="1.0">',
    '<dict>',
    `  <key>Label</key><string>${LAUNCHD_LABEL}</string>`,
    '  <key>ProgramArguments</key>',
    '  <array>',
    ...spec.program.map((a) => `    <string>${xml(a)}</string>`),
    '  </array>',
  ];
  if (spec.env.length) {
    lines.push('  <key>EnvironmentVariables</key>', '  <dict>');
    for (const [name, value] of spec.env) lines.push(`    <key>${name}</key><string>${xml(value)}</string>`);
    lines.push('  </dict>');
  }
  lines.push(
    '  <key>RunAtLoad</key><true/>',
    '  <key>KeepAlive</key>',
    '  <dict><key>SuccessfulExit</key><false/></dict>',
    '</dict>',
    '</plist>',
    '',
  );
  return lines.join('\n');
}

/** Where systemd looks for the user's own units: $XDG_CONFIG_HOME/systemd/user. */
export function systemdUnitDir(env: Record<string, string | undefined>): string {
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'systemd', 'user');
}

export function launchAgentFile(env: Record<string, string | undefined>): string {
  return join(env.HOME || homedir(), 'Library', 'LaunchAgents', `${LAUNCHD_LABEL}.plist`);
}

export interface ServiceOptions {
  /** Write the files only; say what would enable them. */
  noEnable: boolean;
  /** For tests of the macOS text on Linux; the platform's own otherwise. */
  platform?: NodeJS.Platform;
}

/** A tool of the service manager's, run to completion; undefined when it is not on PATH. */
type Tool = (args: string[]) => { code: number; output: string } | undefined;

function tool(name: string, env: Record<string, string | undefined>): Tool {
  const file = onPath(name, env.PATH ?? '');
  return (args) => {
    if (!file) return undefined;
    const r = spawnSync(file, args, { env: userEnv(env), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    const output = `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n')[0] ?? '';
    return { code: r.status ?? 1, output: r.error ? r.error.message : output };
  };
}

function onPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** True if `file` exists and was written by install; throws if it exists and was not (it is not ours to replace or remove). */
function ours(file: string): boolean {
  let text: string;
  try {
    if (!lstatSync(file).isFile()) throw new Error('not a file');
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    text = '';
  }
  if (text.split('\n', 3).some((line) => line.includes(MARKER))) return true;
  throw new AuthdError('config_error', `${file} was not written by \`authd daemon install\`; leaving it alone`,
    'move it away if authd should manage the service, then run the command again');
}

/** Written whole or not at all; 0644, as the service manager reads it. */
function writeFile(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, text, { mode: 0o644 });
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw new AuthdError('internal', `cannot write ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** What the installed service is, for the daemon command's stop-the-old-daemon step. */
export interface Installed {
  files: string[];
  /** The service manager took it (the daemon will be socket-activated or started at login). */
  enabled: boolean;
}

/**
 * Writes the service files and, unless told not to, has the service manager enable them. Without a
 * service manager to ask (no systemctl, no user session), the files stay written and the note says
 * what to run; that is no failure. `beforeEnable` runs just before the socket is enabled (the command
 * stops a daemon the client had started, whose socket file systemd is about to replace).
 */
export async function install(opts: ServiceOptions, io: IO, beforeEnable: () => Promise<void>): Promise<Installed> {
  const platform = opts.platform ?? process.platform;
  const spec = serviceSpec(io.env);
  const say = (s: string) => io.stderr.write(`${s}\n`);
  if (platform === 'darwin') {
    const file = launchAgentFile(io.env);
    ours(file);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFile(file, launchdPlist(spec));
    say(`wrote ${file}`);
    const domain = `gui/${process.getuid?.() ?? 0}`;
    const load = [['bootout', `${domain}/${LAUNCHD_LABEL}`], ['bootstrap', domain, file]];
    const launchctl = tool('launchctl', io.env);
    if (!opts.noEnable) {
      await beforeEnable();
      launchctl(load[0]!); // not loaded yet: fails, which is fine
      const r = launchctl(load[1]!);
      if (r?.code === 0) {
        say(`loaded it: launchd starts the daemon at login (socket ${spec.socket})`);
        return { files: [file], enabled: true };
      }
      say(`not loaded: ${r ? `launchctl ${load[1]!.join(' ')}: ${r.output}` : 'launchctl is not on PATH'}`);
    }
    say(`to load it, run:\n  launchctl ${load[1]!.join(' ')}`);
    return { files: [file], enabled: false };
  }
  if (platform === 'win32') {
    throw new AuthdError('usage', 'authd daemon install writes a systemd user service (Linux) or a launchd agent (macOS); there is none for Windows yet',
      'commands start the daemon themselves');
  }
  const dir = systemdUnitDir(io.env);
  const files = [join(dir, SOCKET_UNIT), join(dir, SERVICE_UNIT)];
  for (const f of files) ours(f);
  const units = systemdUnits(spec);
  mkdirSync(dir, { recursive: true });
  writeFile(files[1]!, units.service);
  writeFile(files[0]!, units.socket);
  for (const f of files) say(`wrote ${f}`);
  if (spec.env.length) say(`the service keeps this shell's ${spec.env.map(([n]) => n).join(', ')}`);
  const steps = [['--user', 'daemon-reload'], ['--user', 'enable', '--now', SOCKET_UNIT]];
  let why = '--no-enable';
  if (!opts.noEnable) {
    const systemctl = tool('systemctl', io.env);
    const reload = systemctl(steps[0]!);
    if (!reload) why = 'systemctl is not on PATH';
    else if (reload.code !== 0) why = `no systemd user manager to ask (systemctl --user daemon-reload: ${reload.output || `exit ${reload.code}`})`;
    else {
      await beforeEnable();
      const enable = systemctl(steps[1]!)!;
      if (enable.code !== 0) {
        throw new AuthdError('internal', `systemctl --user enable --now ${SOCKET_UNIT} failed: ${enable.output || `exit ${enable.code}`}`,
          `see \`systemctl --user status ${SOCKET_UNIT}\`; \`authd daemon uninstall\` removes the files`);
      }
      say(`enabled and started ${SOCKET_UNIT}: systemd listens on ${spec.socket} and starts the daemon at the first connection`);
      return { files, enabled: true };
    }
  }
  say(`not enabled: ${why}. In a session with a systemd user manager, run:`);
  for (const s of steps) say(`  systemctl ${s.join(' ')}`);
  say('Until then, commands start the daemon themselves, as before.');
  return { files, enabled: false };
}

/** Stops and removes what install wrote; files it did not write are left, and said so. Idempotent. */
export function uninstall(opts: Pick<ServiceOptions, 'platform'>, io: IO): void {
  const platform = opts.platform ?? process.platform;
  const say = (s: string) => io.stderr.write(`${s}\n`);
  if (platform === 'darwin') {
    const file = launchAgentFile(io.env);
    if (!ours(file)) {
      say(`nothing to remove: no ${file}`);
      return;
    }
    const target = `gui/${process.getuid?.() ?? 0}/${LAUNCHD_LABEL}`;
    const r = tool('launchctl', io.env)(['bootout', target]);
    if (r?.code === 0) say(`unloaded ${target}`);
    rmSync(file, { force: true });
    say(`removed ${file}`);
    return;
  }
  const dir = systemdUnitDir(io.env);
  const files = [join(dir, SOCKET_UNIT), join(dir, SERVICE_UNIT)].filter((f) => ours(f));
  if (files.length === 0) {
    say(`nothing to remove: no authd units in ${dir}`);
    return;
  }
  const systemctl = tool('systemctl', io.env);
  const disable = systemctl(['--user', 'disable', '--now', SOCKET_UNIT, SERVICE_UNIT]);
  if (disable?.code === 0) say(`stopped and disabled ${SOCKET_UNIT} and ${SERVICE_UNIT}`);
  else {
    // No manager to ask: the link `enable` made, if one was made, goes with the unit it names.
    const wants = join(dir, 'sockets.target.wants', SOCKET_UNIT);
    if (linksTo(wants, join(dir, SOCKET_UNIT))) {
      rmSync(wants);
      say(`removed ${wants}`);
    }
  }
  for (const f of files) {
    rmSync(f, { force: true });
    say(`removed ${f}`);
  }
  if (disable?.code === 0) systemctl(['--user', 'daemon-reload']);
}

function linksTo(link: string, target: string): boolean {
  try {
    return lstatSync(link).isSymbolicLink() && resolve(join(link, '..'), readlinkSync(link)) === target;
  } catch {
    return false;
  }
}
