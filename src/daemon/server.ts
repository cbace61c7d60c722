// The socket server: frames in, one validated request at a time to a handler, frames out.
import type net from 'node:net';
import { AuthdError, encodeFrame, LineDecoder, type MethodName, PROTOCOL_VERSION, type Response } from '../protocol/index.js';
import type { Logger } from './log.js';
import { type Handlers, isMethod, PARAMS, type Result } from './methods.js';

/** A partial frame that does not complete within this time is a slow or dead writer: drop it. */
export const PARTIAL_FRAME_TIMEOUT_MS = 10_000;
/** A client that stops reading its answers is dropped rather than buffered for. */
const MAX_UNREAD_BYTES = 1024 * 1024;
export const MAX_CONNECTIONS = 4096;

/** Told when a request arrives on a connection and when it is answered (connections.ts: idle and busy). */
export interface ConnectionActivity {
  begin(): void;
  end(): void;
}

/** The connection a request came on, for a handler that must know when its client goes away. */
export class ClientConnection {
  private readonly listeners: (() => void)[] = [];
  private closed = false;

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.listeners.push(fn);
  }

  close(): void {
    this.closed = true;
    for (const fn of this.listeners.splice(0)) fn();
  }
}

export function serveConnection(
  socket: net.Socket, handlers: Handlers, log: Logger, activity?: ConnectionActivity, partialFrameMs = PARTIAL_FRAME_TIMEOUT_MS,
): void {
  const decoder = new LineDecoder();
  const conn = new ClientConnection();
  let partialTimer: NodeJS.Timeout | undefined;
  socket.on('error', () => socket.destroy());

  const send = (res: Response) => {
    activity?.end();
    if (socket.destroyed) return;
    socket.write(encodeFrame(res));
    if (socket.writableLength > MAX_UNREAD_BYTES) socket.destroy();
  };

  socket.on('data', (chunk: Buffer) => {
    const events = decoder.push(chunk);
    // The timer measures how long the current unfinished frame has been waiting: a frame that
    // completes restarts it, so a busy client whose chunks end mid-frame is never dropped.
    if (events.length > 0 && partialTimer) {
      clearTimeout(partialTimer);
      partialTimer = undefined;
    }
    for (const ev of events) {
      if ('tooLarge' in ev) {
        log.warn('dropped a connection that sent a frame over 64 KiB');
        send({ id: null, error: new AuthdError('frame_too_large', 'request frame exceeds 64 KiB').toWire() });
        socket.end();
        socket.destroySoon();
        socket.pause();
        return;
      }
      if (ev.frame.length > 0) {
        activity?.begin(); // every frame gets exactly one answer
        handleFrame(ev.frame, handlers, send, log, conn);
      }
    }
    if (decoder.pending > 0 && !partialTimer) {
      partialTimer = setTimeout(() => {
        log.warn('dropped a connection that left a frame unfinished');
        socket.destroy();
      }, partialFrameMs);
      partialTimer.unref();
    } else if (decoder.pending === 0 && partialTimer) {
      clearTimeout(partialTimer);
      partialTimer = undefined;
    }
  });
  socket.on('close', () => {
    clearTimeout(partialTimer);
    conn.close();
  });
}

function handleFrame(frame: string, handlers: Handlers, send: (r: Response) => void, log: Logger, conn: ClientConnection): undefined {
  let msg: unknown;
  try {
    msg = JSON.parse(frame);
  } catch {
    send({ id: null, error: new AuthdError('bad_request', 'request is not valid JSON').toWire() });
    return;
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
    send({ id: null, error: new AuthdError('bad_request', 'request must be a JSON object').toWire() });
    return;
  }
  const req = msg as Record<string, unknown>;
  const id = typeof req.id === 'number' || (typeof req.id === 'string' && req.id.length <= 128) ? req.id : null;
  const fail = (e: AuthdError): undefined => {
    send({ id, error: e.toWire() });
  };
  if (id === null) return fail(new AuthdError('bad_request', 'request needs an "id" (a number or a short string)'));
  if (req.v !== PROTOCOL_VERSION) {
    return fail(new AuthdError('bad_request', `unsupported protocol version ${shown(req.v)}; this daemon speaks v${PROTOCOL_VERSION}`,
      'restart the daemon after an upgrade: authd daemon stop'));
  }
  const method = req.method;
  if (!isMethod(method)) return fail(new AuthdError('unknown_method', `unknown method ${shown(method)}`));
  const params = req.params ?? {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    return fail(new AuthdError('bad_request', '"params" must be a JSON object'));
  }
  let out: unknown;
  try {
    out = call(method, params as Record<string, unknown>, handlers, conn);
  } catch (err) {
    return fail(asAuthdError(err, log));
  }
  if (out instanceof Promise) {
    out.then((result) => send({ id, result }), (err: unknown) => fail(asAuthdError(err, log)));
  } else {
    send({ id, result: out });
  }
}

/** The method's params checked and typed (or a bad_request naming the field), then its handler. */
function call<M extends MethodName>(method: M, params: Record<string, unknown>, handlers: Handlers, conn: ClientConnection): Promise<Result<M>> | Result<M> {
  return handlers[method](PARAMS[method](params), conn);
}

/**
 * A value from a request, for an error message. Never whole: JSON.stringify of an array nested
 * 30,000 deep overflows the stack, and String() of {"toString":1} throws.
 */
function shown(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.slice(0, 64));
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return v === undefined ? '(none)' : `of type ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`;
}

function asAuthdError(err: unknown, log: Logger): AuthdError {
  if (err instanceof AuthdError) return err;
  // Unexpected: log the error's type and where it came from, never its message (it might quote a value).
  const where = err instanceof Error ? err.stack?.split('\n').slice(1, 5).join('\n') : undefined;
  log.error({ errType: err instanceof Error ? err.name : typeof err, where }, 'internal error');
  return new AuthdError('internal', 'the daemon hit an internal error', 'see the daemon log (authd doctor shows where)');
}
