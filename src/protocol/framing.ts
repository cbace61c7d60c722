// Newline-delimited JSON. The one framing function for both sides.

export const MAX_FRAME_BYTES = 64 * 1024;

/** The longest secret `authd secret set` takes: fits a 4096-bit RSA PEM key, and stays under keychain item limits. */
export const MAX_SECRET = 3500;

export function encodeFrame(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}

export type FrameEvent = { frame: string } | { tooLarge: true };

/**
 * Splits a byte stream into lines. A line longer than `limit` bytes is reported once as
 * `tooLarge` (the caller drops the connection: there is no way to resynchronise safely).
 */
export class LineDecoder {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;

  constructor(private readonly limit = MAX_FRAME_BYTES) {}

  /** Bytes of a frame received but not yet terminated (a slow or half-open writer). */
  get pending(): number {
    return this.bufferedBytes;
  }

  push(chunk: Buffer): FrameEvent[] {
    const out: FrameEvent[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      const piece = chunk.subarray(start, nl);
      if (this.bufferedBytes + piece.length > this.limit) {
        out.push({ tooLarge: true });
        return out;
      }
      if (this.bufferedBytes === 0) {
        out.push({ frame: piece.toString('utf8') });
      } else {
        this.buffered.push(piece);
        out.push({ frame: Buffer.concat(this.buffered).toString('utf8') });
        this.buffered = [];
        this.bufferedBytes = 0;
      }
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.bufferedBytes + rest.length > this.limit) {
        out.push({ tooLarge: true });
        return out;
      }
      // Copy: the socket may reuse the chunk's memory.
      this.buffered.push(Buffer.from(rest));
      this.bufferedBytes += rest.length;
    }
    return out;
  }
}
