// What may reach a terminal or another program's input from text authd did not write itself
// (a provider's answer, a caller's self-description, a daemon's message).

/** RFC 6750 b64token: all a bearer token (or an API key sent as one) may hold. Anything else is never printed. */
export const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** A compact JWS (RFC 7515): three base64url parts. All an ID token may be to be kept or printed. */
export const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** C0 and C1 controls (ESC, BEL, CR, LF…), DEL, zero-width characters, line and paragraph separators, bidi overrides. */
export const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]+/g;

/** `text` with every run of control characters made one space: it cannot move the cursor, set the clipboard (OSC 52) or add a line. */
export function printable(text: string): string {
  return text.replace(CONTROLS, ' ');
}
