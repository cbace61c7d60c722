// One request and its one answer line over a Unix socket, on Node's own pipe handle (the binding
// node:net is built on) rather than a net.Socket: get-token's Node fast path and git's helper on Node
// (one-request.ts, issue 13). Loading node:net, with the whole streams stack under it, and making a
// net.Socket cost each start ~2.7 ms, more than everything else the fast path does (marks in one
// process; 20.78 ms for `node -e 0` on the machine measured). The handle is reached through process.binding, deprecated in
// documentation only (DEP0111; a warning only under --pending-deprecation, held back here so that
// nothing is added to the output); every piece is checked before use, and where a Node does not
// have them (one that drops process.binding), pipeBinding() answers undefined and the caller uses
// node:net, as before. What is trusted does not change: the caller checks the socket's directory
// before connecting and the peer (by the descriptor) before anything is sent.

/** The parts of Node's pipe_wrap and stream_wrap bindings used here, as Node 20, 22 and 24 have them. */
interface PipeHandle {
  fd: number;
  /** Must always be a function: Node aborts the process on anything else. */
  onread: (arrayBuffer: ArrayBuffer | undefined) => void;
  connect(req: object, path: string): number;
  readStart(): number;
  writeUtf8String(req: object, text: string): number;
  close(): void;
}

export interface PipeBinding {
  Pipe: new (type: number) => PipeHandle;
  PipeConnectWrap: new () => { oncomplete?: (status: number) => void };
  WriteWrap: new () => { handle?: PipeHandle; oncomplete?: (status: number) => void; async?: boolean };
  socketType: number;
  state: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
}

type Bindings = Record<string, unknown>;

/**
 * The Node majors whose handles are known to have this shape (Node's own net.js drives them so in
 * 20, 22 and 24; misused, Node aborts rather than throws). Any other uses node:net until it is checked.
 */
const KNOWN_NODE = /^(20|22|24)\./;

/** Node's pipe binding, where this Node has it in the shape used here; else undefined (use node:net). */
export function pipeBinding(): PipeBinding | undefined {
  const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
  if (process.platform === 'win32' || typeof binding !== 'function' || !KNOWN_NODE.test(process.versions.node)) return undefined;
  let pipe: Bindings;
  let stream: Bindings;
  const quiet = process.noDeprecation;
  try {
    process.noDeprecation = true;
    pipe = binding.call(process, 'pipe_wrap') as Bindings;
    stream = binding.call(process, 'stream_wrap') as Bindings;
  } catch {
    return undefined;
  } finally {
    process.noDeprecation = quiet;
  }
  const { Pipe, PipeConnectWrap, constants } = pipe;
  const { WriteWrap, streamBaseState, kReadBytesOrError, kArrayBufferOffset } = stream;
  const socketType = (constants as { SOCKET?: unknown } | undefined)?.SOCKET;
  if (typeof Pipe !== 'function' || typeof PipeConnectWrap !== 'function' || typeof WriteWrap !== 'function'
    || !(streamBaseState instanceof Int32Array) || typeof socketType !== 'number'
    || !Number.isInteger(kReadBytesOrError) || !Number.isInteger(kArrayBufferOffset)) return undefined;
  const proto = Pipe.prototype as Partial<Record<keyof PipeHandle, unknown>>;
  if (!['connect', 'readStart', 'writeUtf8String', 'close'].every((m) => typeof proto[m as keyof PipeHandle] === 'function')) return undefined;
  return {
    Pipe: Pipe as PipeBinding['Pipe'],
    PipeConnectWrap: PipeConnectWrap as PipeBinding['PipeConnectWrap'],
    WriteWrap: WriteWrap as PipeBinding['WriteWrap'],
    socketType,
    state: streamBaseState,
    kReadBytesOrError: kReadBytesOrError as number,
    kArrayBufferOffset: kArrayBufferOffset as number,
  };
}

/**
 * Reads the first line of what arrives, chunk by chunk: the line (without its newline) once it is
 * whole, false once more than `maxBytes` came without one, undefined while it is neither. (The
 * protocol's LineDecoder reads every line; one is all these exchanges want.)
 */
export function firstLine(maxBytes: number): (chunk: Buffer) => string | false | undefined {
  const chunks: Buffer[] = [];
  let size = 0;
  return (chunk) => {
    const nl = chunk.indexOf(10);
    chunks.push(nl === -1 ? chunk : chunk.subarray(0, nl));
    size += nl === -1 ? chunk.length : nl;
    if (size > maxBytes) return false;
    return nl === -1 ? undefined : Buffer.concat(chunks).toString('utf8');
  };
}

export interface ExchangeOptions {
  /** Called once connected, before anything is sent, with the socket's descriptor; what it throws ends the exchange with that error. */
  connected(fd: number | undefined): void;
  /** No answer this long after connecting began (the connect, the peer check and the answer): no answer. */
  timeoutMs: number;
  /** An answer line longer than this: no answer. */
  maxBytes: number;
}

/**
 * Connects to `path`, sends `request`, and resolves with the first line answered (without its newline);
 * undefined where there is none: nothing listens, the connection failed or was lost, silence for
 * `timeoutMs`, a line over `maxBytes`, or a read this code does not understand. Rejects only with what
 * `connected` throws. The handle is closed once the exchange ends.
 */
export function pipeExchange(b: PipeBinding, path: string, request: string, opts: ExchangeOptions): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const handle = new b.Pipe(b.socketType);
    const read = firstLine(opts.maxBytes);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let over = false;
    const end = (line: string | undefined, err?: unknown) => {
      if (over) return;
      over = true;
      if (timer) clearTimeout(timer);
      handle.onread = () => undefined;
      handle.close();
      if (err !== undefined) reject(err);
      else resolve(line);
    };
    const connect = new b.PipeConnectWrap();
    connect.oncomplete = (status) => {
      if (over) return;
      if (status !== 0) return end(undefined);
      try {
        opts.connected(handle.fd >= 0 ? handle.fd : undefined);
      } catch (err) {
        return end(undefined, err);
      }
      handle.onread = (arrayBuffer) => {
        const n = b.state[b.kReadBytesOrError]!;
        if (n === 0) return;
        const offset = b.state[b.kArrayBufferOffset]!;
        // EOF or an error (negative), or a read not in the shape expected: no answer.
        if (n < 0 || !(arrayBuffer instanceof ArrayBuffer) || offset < 0 || offset + n > arrayBuffer.byteLength) return end(undefined);
        const line = read(Buffer.from(arrayBuffer, offset, n));
        if (line !== undefined) end(line === false ? undefined : line);
      };
      const write = new b.WriteWrap();
      write.handle = handle;
      write.async = false;
      write.oncomplete = (st) => {
        if (st !== 0) end(undefined);
      };
      // (A binding that throws where Node's returns an error code: no answer, not an uncaught exception.)
      try {
        if (handle.readStart() !== 0 || handle.writeUtf8String(write, request) !== 0) end(undefined);
      } catch {
        end(undefined);
      }
    };
    // From the start, connecting included: the whole exchange gets the time (setTimeout's own limit: 2^31 - 1 ms).
    timer = setTimeout(() => end(undefined), Math.min(opts.timeoutMs, 2 ** 31 - 1));
    try {
      if (handle.connect(connect, path) !== 0) end(undefined);
    } catch {
      end(undefined);
    }
  });
}
