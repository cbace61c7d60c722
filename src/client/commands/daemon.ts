import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { AuthdError, type AuthdPaths, EXIT_CODES, pidFilePath, resolvePaths, restrictedSocketPath } from '../../protocol/index.js';
import { notAnsweringMs } from '../answer-watchdog.js';
import { connectOnce } from '../connect-once.js';
import { Connection, connect, daemonArgs, isNotRunning, notAnswering, type Watch } from '../connection.js';
import { usage } from '../args.js';
import { type Command, HELP_FLAG, JSON_FLAG, writeJson } from '../command.js';
import { daemonEnv } from '../daemon-env.js';
import type { IO } from '../io.js';
import { isRunning } from '../../protocol/process.js';

export type DaemonAction = 'run' | 'start' | 'stop' | 'status' | 'install' | 'uninstall';
const ACTIONS: readonly DaemonAction[] = ['run', 'start', 'stop', 'status', 'install', 'uninstall'];

interface DaemonOptions {
  action: DaemonAction;
  force: boolean;
  json: boolean;
  /** `status --restricted-socket`: print only that path (for a container's -v). */
  restrictedSocket: boolean;
  noEnable: boolean;
}

export const command: Command<DaemonOptions> = {
  name: 'daemon',
  synopsis: 'daemon run|start|stop|status|install|uninstall',
  summary: 'daemon lifecycle; run it as a user service',
  help: `Usage: authd daemon run|start|stop [--force]|status [--json]|install [--no-enable]|uninstall

  run     run in the foreground (for systemd --user or launchd)
  start   start in the background if not running (also at an AUTHD_SOCKET path)
  stop    stop the running daemon; --force: also one that does not answer (it is killed)
  status  say whether it runs, its socket and its restricted socket (exit 5 when it does not);
          --json: {"running":…,"answering":…,"pid":…,"version":…,"socket":…,"restricted_socket":…,
          "socket_activated":…}
          --restricted-socket: print only the restricted socket's path: the one to forward to an
          SSH host or mount into a container (it serves get-token and git's get for profiles with
          forward = true, nothing else)
  install    run it as a user service: writes a systemd --user socket and service
             ($XDG_CONFIG_HOME/systemd/user/authd.socket, authd.service; socket activation) or, on
             macOS, a launchd agent (~/Library/LaunchAgents/authd.plist), and enables it where a
             service manager answers; --no-enable: write the files and say what to run
  uninstall  stop, disable and remove what install wrote
Any command that needs the daemon starts it, unless AUTHD_NO_AUTOSTART=1 or AUTHD_SOCKET names
the socket (a forwarded agent that stopped answering is reported, not replaced).
`,
  flags: { force: {}, 'restricted-socket': {}, 'no-enable': {}, ...JSON_FLAG, ...HELP_FLAG },
  subcommands: ACTIONS,
  parse(args) {
    const action = args.positionals[0] as DaemonAction;
    if (!ACTIONS.includes(action) || args.positionals.length !== 1) throw usage(`daemon needs one of ${ACTIONS.join(', ')}`, 'daemon');
    if (args.flags.force && action !== 'stop') throw usage('--force goes with `authd daemon stop`', 'daemon');
    if (args.flags.json && action !== 'status') throw usage('--json goes with `authd daemon status`', 'daemon');
    if (args.flags['restricted-socket'] && (action !== 'status' || args.flags.json)) throw usage('--restricted-socket goes with `authd daemon status`, without --json', 'daemon');
    if (args.flags['no-enable'] && action !== 'install') throw usage('--no-enable goes with `authd daemon install`', 'daemon');
    return {
      action,
      force: args.flags.force === true,
      json: args.flags.json === true,
      restrictedSocket: args.flags['restricted-socket'] === true,
      noEnable: args.flags['no-enable'] === true,
    };
  },
  // It manages the daemon's connection itself: a status or stop must not start one.
  run: (opts, io) => run(opts, io),
};

/** How long `stop --force` lets a daemon take to answer before it kills it. */
const FORCE_PATIENCE_MS = 2000;

async function run(opts: DaemonOptions, io: IO): Promise<number> {
  const paths = resolvePaths(io.env);
  switch (opts.action) {
    case 'run': {
      // Foreground, for systemd --user / launchd: become the daemon process's parent and wait.
      const child = handsOnSocket(io.env)
        ? spawnActivated(io.env)
        : spawn(process.execPath, daemonArgs(false), { stdio: 'inherit', env: daemonEnv(io.env) });
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => child.kill(sig));
      return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 0)));
    }
    case 'start': {
      // An explicit request: start it even at an explicit AUTHD_SOCKET or with AUTHD_NO_AUTOSTART=1.
      const conn = await connect({ env: io.env, paths, start: 'requested' });
      const r = await conn.request('ping', {});
      conn.close();
      io.stderr.write(r.restricted ? `authd daemon running elsewhere, forwarded to ${paths.socket}\n` : `authd daemon running, pid ${r.pid}, socket ${r.socket}\n`);
      return 0;
    }
    case 'stop':
      return opts.force ? forceStop(paths, io) : stop(paths, io);
    case 'status': {
      let conn: Connection | undefined;
      try {
        conn = new Connection(await connectOnce(paths.socket, paths.socketExplicit), watch(paths, io.env));
        const r = await conn.request('ping', {});
        // Through a forward (AUTHD_SOCKET names a restricted socket), that socket is the restricted one.
        const restricted = r.restricted ? paths.socket : restrictedSocketPath(paths);
        const activated = r.socketActivated === true;
        if (opts.restrictedSocket) io.stdout.write(`${restricted}\n`);
        else if (opts.json) {
          // A forward does not say the pid of a daemon on another machine.
          writeJson(io, { running: true, answering: true, pid: r.restricted ? null : r.pid, version: r.version, socket: paths.socket, restricted_socket: restricted ?? null,
            socket_activated: activated, forwarded: r.restricted === true });
        } else {
          const how = r.restricted ? ' (forwarded: get-token and git only)' : activated ? ' (socket activation: the service manager listens)' : '';
          io.stdout.write(`running${r.restricted ? '' : ` pid ${r.pid}`} version ${r.version}\nsocket ${paths.socket}${how}\n`);
          if (!r.restricted && restricted) io.stdout.write(`restricted socket ${restricted} (to forward: get-token and git, profiles with forward = true)\n`);
        }
        return 0;
      } catch (err) {
        if (err instanceof AuthdError && !isNotAnswering(err)) throw err; // not ours: refused, not "not running"
        const silent = isNotAnswering(err) || (err as NodeJS.ErrnoException).code === 'EAGAIN';
        if (opts.restrictedSocket) throw new AuthdError('daemon_unreachable', `the authd daemon is not ${silent ? 'answering' : 'running'} (socket ${paths.socket})`, 'start it with `authd daemon start`');
        if (opts.json) writeJson(io, { running: silent, answering: false, pid: null, version: null, socket: paths.socket, restricted_socket: restrictedSocketPath(paths) ?? null, socket_activated: null });
        else io.stdout.write(`${silent ? 'not answering (stop it with `authd daemon stop --force`)' : 'not running'}\nsocket ${paths.socket}\n`);
        return EXIT_CODES.daemon_unreachable;
      } finally {
        conn?.close();
      }
    }
    case 'install': {
      // Loaded only here: no other command needs it.
      const service = await import('../user-service.js');
      await service.install({ noEnable: opts.noEnable }, io, () => stopOwnDaemon(paths, io));
      return 0;
    }
    case 'uninstall': {
      const service = await import('../user-service.js');
      service.uninstall({}, io);
      return 0;
    }
    default:
      throw new AuthdError('usage', `unknown daemon action ${String(opts.action)}`, `authd daemon ${ACTIONS.join('|')}`);
  }
}

async function waitGone(socket: string): Promise<void> {
  // A stopping daemon first answers and stores refreshes in flight: up to 30 s (daemon.ts).
  const deadline = Date.now() + 35_000;
  while (Date.now() < deadline) {
    try {
      (await connectOnce(socket)).destroy();
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function watch(paths: AuthdPaths, env: IO['env'], patienceMs = notAnsweringMs(env)): Watch {
  return { socketPath: paths.socket, patienceMs };
}

function isNotAnswering(err: unknown): boolean {
  return err instanceof AuthdError && err.data?.reason === 'not_answering';
}

/** Asks the daemon to stop; a daemon that does not answer is reported, with how to stop it anyway. */
async function stop(paths: AuthdPaths, io: IO): Promise<number> {
  let conn: Connection;
  try {
    conn = new Connection(await connectOnce(paths.socket, paths.socketExplicit), watch(paths, io.env));
  } catch (err) {
    if (err instanceof AuthdError && !isNotAnswering(err)) throw err; // not ours: refused, not "not answering"
    if (!isNotRunning(err)) throw notAnswering(paths.socket);
    io.stderr.write(`authd daemon is not running (socket ${paths.socket})\n`);
    return 0;
  }
  return shutdown(conn, paths, io);
}

/**
 * Asks a daemon that answers to stop, and waits until it has (it first stores any refresh in flight).
 * A socket-activated daemon's socket is its service manager's, and stays: then the process is waited for.
 */
async function shutdown(conn: Connection, paths: AuthdPaths, io: IO): Promise<number> {
  try {
    const r = await conn.request('shutdown', {});
    if (r.socketActivated) {
      await waitExited(r.pid);
      io.stderr.write(`authd daemon stopped (pid ${r.pid}); its socket is the service manager's, which starts it again at the next `
        + 'connection (`systemctl --user stop authd.socket` stops that too)\n');
      return 0;
    }
    await waitGone(paths.socket);
    io.stderr.write(`authd daemon stopped (pid ${r.pid})\n`);
    return 0;
  } finally {
    conn.close();
  }
}

async function waitExited(pid: number): Promise<void> {
  const deadline = Date.now() + 35_000;
  while (Date.now() < deadline && !hasExited(pid)) await new Promise((r) => setTimeout(r, 20));
}

/**
 * Before a service manager takes the socket path: a daemon that a command started (not a
 * socket-activated one) is stopped, or it would serve on, unreachable, once systemd replaced its
 * socket file, and remove systemd's file when it exits.
 */
async function stopOwnDaemon(paths: AuthdPaths, io: IO): Promise<void> {
  let conn: Connection;
  try {
    conn = new Connection(await connectOnce(paths.socket, paths.socketExplicit), watch(paths, io.env));
  } catch {
    return; // none, or one that does not answer: `authd daemon stop --force` is the user's to run
  }
  let activated = false;
  try {
    activated = (await conn.request('ping', {})).socketActivated === true;
  } catch {
    conn.close();
    return;
  }
  if (activated) conn.close();
  else await shutdown(conn, paths, io);
}

/** `authd daemon run` as a socket unit's service: systemd handed this process the socket (socket-activation.ts). */
function handsOnSocket(env: IO['env']): boolean {
  return env.LISTEN_PID === String(process.pid) && env.LISTEN_FDS !== undefined;
}

/**
 * The daemon is this process's child, so the sockets are handed on as systemd hands them: on fd 3 (and
 * the restricted one on fd 4), with LISTEN_PID the daemon's own pid (set by the shell that becomes it).
 */
function spawnActivated(env: IO['env']): ReturnType<typeof spawn> {
  return spawn('/bin/sh', ['-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"', process.execPath, ...daemonArgs(false)], {
    stdio: env.LISTEN_FDS === '2' ? ['inherit', 'inherit', 'inherit', 3, 4] : ['inherit', 'inherit', 'inherit', 3],
    env: { ...daemonEnv(env), LISTEN_FDS: env.LISTEN_FDS ?? '' },
  });
}

/**
 * `stop --force`: a daemon that answers is stopped as by `stop`; one that does not (stopped with
 * SIGSTOP, wedged) is killed — the process its pid file names, once that is shown to be an authd
 * daemon — and its socket removed, so the next command starts a new one. Nothing is lost that a
 * crash would not lose: the store is written before any token is served.
 */
async function forceStop(paths: AuthdPaths, io: IO): Promise<number> {
  try {
    return await shutdown(new Connection(await connectOnce(paths.socket, paths.socketExplicit), watch(paths, io.env, FORCE_PATIENCE_MS)), paths, io);
  } catch (err) {
    if (isNotRunning(err)) {
      removeIfNamed(pidFilePath(paths), undefined);
      io.stderr.write(`authd daemon is not running (socket ${paths.socket})\n`);
      return 0;
    }
    if (!isNotAnswering(err) && (err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
  }
  const pidFile = pidFilePath(paths);
  const pid = readPid(pidFile);
  if (pid === undefined) {
    throw new AuthdError('daemon_unreachable', `the daemon at ${paths.socket} is not answering, and no pid file (${pidFile}) says which process it is`,
      `find the process that listens there (\`fuser ${paths.socket}\` or \`ss -xlp\`) and end it, then remove the socket`);
  }
  const what = commandOf(pid);
  if (!what || !/daemon\.mjs run\b/.test(what)) {
    throw new AuthdError('daemon_unreachable', `the daemon at ${paths.socket} is not answering, and pid ${pid} (named in ${pidFile}) is not an authd daemon; not killing it`,
      'find the process that listens there and end it, then remove the socket');
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') {
      throw new AuthdError('daemon_unreachable', `cannot kill the daemon (pid ${pid}): ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const deadline = Date.now() + 5000;
  while (!hasExited(pid)) {
    if (Date.now() > deadline) throw new AuthdError('daemon_unreachable', `the daemon (pid ${pid}) did not die within 5 s of SIGKILL`);
    await new Promise((r) => setTimeout(r, 10));
  }
  // Its socket goes, unless a new daemon has already taken the path.
  if (process.platform !== 'win32') {
    try {
      (await connectOnce(paths.socket)).destroy();
    } catch (err) {
      if (isNotRunning(err)) rmSync(paths.socket, { force: true });
    }
  }
  removeIfNamed(pidFile, pid);
  io.stderr.write(`authd daemon killed (pid ${pid}): it was not answering; the next command starts a new one\n`);
  return 0;
}

/**
 * Gone with all its files closed. A killed Node process turns zombie when its main thread ends, but
 * its listening socket stays open until its last thread has (Linux shows those in /proc/PID/task).
 */
function hasExited(pid: number): boolean {
  if (!existsSync('/proc/self/task')) return !isRunning(pid);
  try {
    return !isRunning(pid) && readdirSync(`/proc/${pid}/task`).length <= 1;
  } catch {
    return true;
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the pid file if it names `pid` (any dead process, when undefined). */
function removeIfNamed(file: string, pid: number | undefined): void {
  const named = readPid(file);
  if (named !== undefined && (pid === undefined ? !isRunning(named) : named === pid)) rmSync(file, { force: true });
}

/** The command line of a process of this user, or undefined. */
function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    // no /proc (macOS): ask ps
  }
  try {
    return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}
