// Talks to the daemon: connect (starting it when it is not running), send requests, match answers.
import { mkdirSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  AuthdError, type AuthdPaths, checkSocketPath, encodeFrame, LineDecoder, type MethodName, type Methods, PROTOCOL_VERSION,
  resolvePaths, type Response, SPAWN_MARKER,
} from '../protocol/index.js';
import { AnswerWatchdog, notAnsweringMs } from './answer-watchdog.js';
import { connectOnce } from './connect-once.js';
import { daemonEnv } from './daemon-env.js';
import { claimMarker, markerState } from './start-marker.js';

const START_TIMEOUT_MS = 10_000;
/**
 * The daemon's young generation kept small: its garbage is a few short-lived objects per request, and
 * the default (16 MB semi-spaces) let RSS grow by ~7 MB under load for nothing (measured: +2 MB with 1).
 */
const DAEMON_NODE_FLAGS = ['--max-semi-space-size=1'];

/** The fd on which an autostarted daemon reports why it failed to start (its stdio is /dev/null). */
const REPORT_FD = 3;

/** The daemon's argv for this Node (`--autostarted`: detached, no foreground messages, start-up failures on REPORT_FD). */
export function daemonArgs(autostarted: boolean): string[] {
  return [...DAEMON_NODE_FLAGS, join(__dirname, 'daemon.mjs'), 'run', ...(autostarted ? ['--autostarted', `--report-fd=${REPORT_FD}`] : [])];
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/** How a connection tells a daemon that stopped answering (answer-watchdog.ts). */
export interface Watch {
  socketPath: string;
  patienceMs: number;
  /** The socket is an `authd ssh` forward (AUTHD_FORWARDED=ssh): its failures are the connection's. */
  forwarded?: boolean;
}

/** The daemon accepts (the kernel does that for it) but says nothing: stopped, or wedged. */
export function notAnswering(socketPath: string, forwarded = false): AuthdError {
  if (forwarded) return forwardGone(socketPath);
  return new AuthdError('daemon_unreachable', `the daemon at ${socketPath} is not answering`,
    'stop it with `authd daemon stop --force`; the next command starts a new one', { reason: 'not_answering' });
}

export class Connection {
  private readonly decoder = new LineDecoder(16 * 1024 * 1024);
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedError: AuthdError | undefined;
  /** The daemon went away while a request was waiting for its answer (it was stopped or killed). */
  lostMidRequest = false;
  /** When set, an idle connection does not keep the process alive (the SDK's persistent connection). */
  private unrefWhenIdle = false;
  private readonly watchdog: AnswerWatchdog | undefined;
  /** The watchdog gave up on the daemon: it is there, but silent. */
  private hung = false;

  constructor(private readonly socket: Socket, watch?: Watch) {
    this.watchdog = watch && new AnswerWatchdog(watch.patienceMs,
      () => socket.write(encodeFrame({ v: PROTOCOL_VERSION, id: this.nextId++, method: 'ping', params: {} })),
      () => {
        this.hung = true;
        this.closedError = notAnswering(watch.socketPath, watch.forwarded);
        socket.destroy();
      });
    socket.on('data', (chunk: Buffer) => {
      this.watchdog?.heard();
      for (const ev of this.decoder.push(chunk)) {
        if ('frame' in ev) this.onFrame(ev.frame);
      }
    });
    const fail = () => {
      // Through an ssh forward, sshd accepts and then closes when ssh cannot reach the daemon it forwards to.
      this.closedError ??= watch?.forwarded
        ? new AuthdError('daemon_unreachable', `the forwarded authd agent at ${watch.socketPath} closed the connection — is authd running on the machine you came from?`,
          'run `authd daemon status` there; the forward serves only while its daemon runs')
        : new AuthdError('daemon_unreachable', 'the daemon closed the connection',
          'see `authd doctor`; the daemon log is in the state directory');
      this.watchdog?.idle();
      if (this.pending.size > 0 && !this.hung) this.lostMidRequest = true;
      for (const p of this.pending.values()) p.reject(this.closedError);
      this.pending.clear();
    };
    socket.on('error', fail);
    socket.on('close', fail);
  }

  private onFrame(frame: string): void {
    let res: Response;
    try {
      res = JSON.parse(frame) as Response;
    } catch {
      return;
    }
    const p = typeof res.id === 'number' ? this.pending.get(res.id) : undefined;
    if (!p) return;
    this.pending.delete(res.id as number);
    if (this.pending.size === 0) {
      this.watchdog?.idle();
      if (this.unrefWhenIdle) this.socket.unref();
    }
    if (res.error) p.reject(AuthdError.fromWire(res.error));
    else p.resolve(res.result);
  }

  request<M extends MethodName>(method: M, params: Methods[M]['params']): Promise<Methods[M]['result']> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (this.pending.size === 1) this.socket.ref();
      this.watchdog?.waiting();
      this.socket.write(encodeFrame({ v: PROTOCOL_VERSION, id, method, params }));
    });
  }

  /** Lets the process exit while no request is waiting (the SDK keeps its connection open). */
  unref(): void {
    this.unrefWhenIdle = true;
    if (this.pending.size === 0) this.socket.unref();
  }

  /** Closes at once: every request was answered, or is abandoned (the daemon sees the end either way). */
  close(): void {
    this.socket.destroy();
  }
}

export interface ConnectOptions {
  env: Record<string, string | undefined>;
  /**
   * `auto` (default): start the user's own daemon when it is not running, unless AUTHD_NO_AUTOSTART=1
   * or the socket was named explicitly (AUTHD_SOCKET: a forwarded agent is not ours to replace).
   * `never`: do not start one. `requested`: the user asked for a daemon (`authd daemon start`): start it there.
   */
  start?: 'auto' | 'never' | 'requested';
  paths?: AuthdPaths;
}

/** Connects to the daemon, starting it (detached, exactly one even when many clients race) if needed. */
export async function connect(opts: ConnectOptions): Promise<Connection> {
  const paths = opts.paths ?? resolvePaths(opts.env);
  const start = opts.start ?? 'auto';
  checkSocketPath(paths);
  const forwarded = paths.socketExplicit && opts.env.AUTHD_FORWARDED === 'ssh';
  const watch: Watch = { socketPath: paths.socket, patienceMs: notAnsweringMs(opts.env), forwarded };
  try {
    return new Connection(await connectOnce(paths.socket, paths.socketExplicit), watch);
  } catch (err) {
    if (!isNotRunning(err)) throw unreachable(paths, err, forwarded);
  }
  // Set by `authd ssh` on the far side: the agent is on the machine the user came from, and nothing
  // here (not even `authd daemon start`) may take the forward's place.
  if (forwarded) throw forwardGone(paths.socket);
  if (start === 'auto' && paths.socketExplicit) {
    // Starting an empty daemon here would answer "login required" in place of the agent the user
    // pointed at (an ssh-forwarded socket whose session ended, a container's mount).
    throw new AuthdError('daemon_unreachable', `the authd agent at ${paths.socket} is not answering`,
      'if it was forwarded (ssh, a container), that connection may have ended; unset AUTHD_SOCKET to use '
      + 'your local daemon, or start one at that path with `authd daemon start`');
  }
  if (start === 'never' || (start === 'auto' && opts.env.AUTHD_NO_AUTOSTART === '1')) {
    throw new AuthdError('daemon_unreachable', `the authd daemon is not running (socket ${paths.socket})`,
      'start it with `authd daemon start`, or unset AUTHD_NO_AUTOSTART');
  }
  let started = await startDaemon(paths, opts.env);
  let markerGone = false;
  const deadline = Date.now() + START_TIMEOUT_MS;
  let delay = 5;
  for (;;) {
    try {
      const socket = await connectOnce(paths.socket, paths.socketExplicit);
      started?.detach();
      return new Connection(socket, watch);
    } catch (err) {
      if (!isNotRunning(err)) throw unreachable(paths, err);
    }
    const failure = started?.failure();
    if (failure) throw failure;
    // Killed before it listened (no reason of its own to report): start another.
    if (started?.killed()) started = await startDaemon(paths, opts.env);
    // Another client was starting the daemon and has given up (its daemon failed): try ourselves,
    // so that this client, too, can say why. The marker must stay gone across two polls: a daemon
    // that just started removes it too, and the next connect finds that one. A marker whose starter
    // has died (killed with its daemon) is taken over at once.
    const marker = started ? 'held' : markerState(join(paths.socketDir, SPAWN_MARKER));
    if (marker !== 'held') {
      if (markerGone || marker === 'abandoned') started = await startDaemon(paths, opts.env);
      markerGone = true;
    } else {
      markerGone = false;
    }
    if (Date.now() > deadline) {
      started?.detach();
      throw new AuthdError('daemon_unreachable', `the authd daemon did not start within ${START_TIMEOUT_MS / 1000}s (socket ${paths.socket})`,
        'run `authd daemon run` to see why it fails');
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

/** An `authd ssh` forward that nobody serves any more: its SSH connection has ended. */
function forwardGone(socketPath: string): AuthdError {
  return new AuthdError('daemon_unreachable', `the forwarded authd agent at ${socketPath} is not answering — is the SSH connection still open?`,
    'reconnect with `authd ssh HOST`; to use a daemon on this host instead, unset AUTHD_SOCKET and AUTHD_FORWARDED', { reason: 'not_answering' });
}

/** No socket, nobody listening, or a daemon that died as we connected (its backlog is reset). */
export function isNotRunning(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ECONNRESET';
}

function unreachable(paths: AuthdPaths, err: unknown, forwarded = false): AuthdError {
  if (err instanceof AuthdError) return err; // a refusal (see trust.ts) says itself what is wrong
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  // Its backlog is full: it has not accepted anything for a while.
  if (code === 'EAGAIN') return notAnswering(paths.socket, forwarded);
  return new AuthdError('daemon_unreachable', `cannot connect to the authd daemon at ${paths.socket} (${code})`,
    code === 'EACCES' ? 'the socket belongs to another user; check AUTHD_SOCKET' : 'run `authd doctor`');
}

interface Started {
  /** The daemon's start-up failure (it exited before listening), with what it said. */
  failure(): AuthdError | undefined;
  /** The daemon died of a signal (SIGKILL, the OOM killer) before it listened. */
  killed(): boolean;
  /** Stop listening to the daemon: it runs on, fully detached. The marker goes too: a daemon serves. */
  detach(): void;
}

/**
 * Spawns `daemon run --autostarted`, unless another live client is already doing so (its start-up
 * marker says so: start-marker.ts).
 */
async function startDaemon(paths: AuthdPaths, env: Record<string, string | undefined>): Promise<Started | undefined> {
  const marker = join(paths.socketDir, SPAWN_MARKER);
  try {
    mkdirSync(paths.socketDir, { recursive: true, mode: 0o700 });
  } catch {
    return undefined;
  }
  if (!claimMarker(marker)) return undefined;
  // Loaded only here: a client talking to a running daemon never needs child_process.
  const { spawn } = await import('node:child_process');
  // Its stdio is /dev/null: a daemon that wrote to our pipes after we exited would die of EPIPE.
  const child = spawn(process.execPath, daemonArgs(true), {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: daemonEnv(env),
  });
  const report = child.stdio[REPORT_FD] as Readable;
  let stderr = '';
  let exit: AuthdError | undefined;
  let killed = false;
  report.setEncoding('utf8');
  report.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  report.on('error', () => undefined);
  child.on('error', (err) => {
    exit = new AuthdError('daemon_unreachable', `could not start the authd daemon (${err.message})`);
  });
  // 'close', not 'exit': by then everything the daemon wrote to REPORT_FD has been read.
  child.on('close', (code, signal) => {
    rmSync(marker, { recursive: true, force: true });
    if (signal) killed = true;
    else if (code !== 0) {
      const said = stderr.trim().replace(/^authd: /, '');
      exit = new AuthdError('daemon_unreachable', `the authd daemon failed to start: ${said || `exit code ${code}`}`);
    }
  });
  child.unref();
  return {
    failure: () => exit,
    killed: () => killed,
    detach: () => {
      // Our daemon may have lost to one that was already starting, and it removes the marker only
      // if it lives that long: a crash then would leave the marker to hold up the next start 10 s.
      rmSync(marker, { recursive: true, force: true });
      report.destroy();
      child.removeAllListeners();
    },
  };
}
