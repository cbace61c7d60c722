// One request, its one answer, on a connection of its own: how get-token's Node fast path and git's
// helper on Node ask the daemon (issue 13), on Node's own pipe handle where this Node lends one
// (pipe-exchange.ts: node:net and its streams are not loaded), else on node:net. The checks are the
// full client's: the socket's directory before connecting, the peer before anything is sent. Where
// no answer comes — no daemon, a lost connection, silence for half the patience, an answer it cannot
// read — the caller asks the full client's connection (connection.ts), which starts a daemon, pings a
// silent one and says what went wrong; a refresh still in flight is joined there, not repeated. A
// request the daemon got and did not answer within half the patience is so asked twice: harmless for
// what is asked this way (a token; git's get, and store and erase, which the daemon applies once
// each, in order, and which leave the same state when applied again).
import type { Socket } from 'node:net';
import {
  AuthdError, type AuthdPaths, checkSocketPath, encodeFrame, MAX_FRAME_BYTES, type MethodName, type Methods, PROTOCOL_VERSION,
  resolvePaths, type WireError,
} from '../protocol/index.js';
import { notAnsweringMs } from './answer-watchdog.js';
import type { Requester } from './command.js';
import { connectOnce } from './connect-once.js';
import { firstLine, pipeBinding, pipeExchange } from './pipe-exchange.js';
import { checkDaemonPeer, checkSocketDir } from './trust.js';

/** The daemon's answer to one request, or undefined where there is none to use. */
type Answer = { result: unknown } | { error: Record<string, unknown> } | undefined;

/**
 * Connects (the socket directory, then the peer, checked before anything is sent, as connect-once.ts
 * does), sends the request, and reads its one answer line; undefined where there is no answer (see
 * the file's head). A refusal by the checks is thrown, as the full client throws it.
 */
async function askOnce<M extends MethodName>(paths: AuthdPaths, method: M, params: Methods[M]['params'], patienceMs: number): Promise<Answer> {
  const request = encodeFrame({ v: PROTOCOL_VERSION, id: 1, method, params });
  const pipe = pipeBinding();
  if (!pipe) return netExchange(paths.socket, paths.socketExplicit, request, patienceMs);
  checkSocketDir(paths.socket, paths.socketExplicit);
  const line = await pipeExchange(pipe, paths.socket, request, {
    connected: (fd) => checkDaemonPeer(fd, paths.socket),
    timeoutMs: patienceMs / 2,
    maxBytes: MAX_FRAME_BYTES,
  });
  return line === undefined ? undefined : envelope(line);
}

/** The answer's result, or its error thrown as the full client's connection throws it. */
function answered(answer: NonNullable<Answer>): unknown {
  if ('error' in answer) throw AuthdError.fromWire(answer.error as unknown as WireError);
  return answer.result;
}

/**
 * A Requester that asks each request on a connection of its own (askOnce) and, where that gets no
 * answer, asks `full()` (the full client's connection, opened once) instead.
 */
export function oneRequestEach(env: Record<string, string | undefined>, full: () => Promise<Requester>): Requester {
  const paths = resolvePaths(env);
  checkSocketPath(paths);
  const patienceMs = notAnsweringMs(env);
  let fallback: Requester | undefined;
  return {
    async request(method, params) {
      if (!fallback) {
        const answer = await askOnce(paths, method, params, patienceMs);
        if (answer) return answered(answer) as never;
        closeAll();
        fallback = await full();
      }
      return fallback.request(method, params);
    },
    get lostMidRequest() {
      return fallback?.lostMidRequest ?? false;
    },
    close() {
      closeAll();
      fallback?.close();
    },
  };
}

/** askOnce() on a net.Socket (connect-once.ts), where Node has no pipe handle to lend. */
async function netExchange(socketPath: string, explicit: boolean, request: string, patienceMs: number): Promise<Answer> {
  let socket: Socket;
  try {
    socket = await connectOnce(socketPath, explicit);
  } catch (err) {
    if (err instanceof AuthdError) throw err;
    return undefined;
  }
  connections.push(socket);
  return new Promise((resolve) => {
    // Answered, the socket is left for the process's exit to close (closeAll where it does not exit at once).
    const done = (answer: Answer) => {
      if (!answer) socket.destroy();
      resolve(answer);
    };
    const read = firstLine(MAX_FRAME_BYTES);
    socket.on('data', (chunk: Buffer) => {
      // (Its idle timeout may fire later, when the answer was read: done then does nothing.)
      const line = read(chunk);
      if (line !== undefined) done(line === false ? undefined : envelope(line));
    });
    // Silence for half the patience: the socket's own idle timeout (cheaper than a timer of our own).
    socket.setTimeout(patienceMs / 2, () => done(undefined));
    socket.on('error', () => done(undefined));
    socket.on('close', () => done(undefined));
    socket.write(request);
  });
}

/** Every net connection askOnce opened (one per request). */
const connections: Socket[] = [];

/** Closes what askOnce left open on node:net (an answered socket is left for the process's exit to close). */
export function closeAll(): void {
  for (const socket of connections) socket.destroy();
}

function envelope(frame: string): Answer {
  let res: unknown;
  try {
    res = JSON.parse(frame);
  } catch {
    return undefined;
  }
  if (typeof res !== 'object' || res === null || (res as { id?: unknown }).id !== 1) return undefined;
  const { result, error } = res as { result?: unknown; error?: unknown };
  if (error !== undefined) return typeof error === 'object' && error !== null && !Array.isArray(error) ? { error: error as Record<string, unknown> } : undefined;
  return result === undefined ? undefined : { result };
}

