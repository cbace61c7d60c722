// The one table of error codes: what travels on the wire and which exit code each becomes.

export const EXIT_CODES = {
  usage: 2,
  config_error: 2,
  unknown_profile: 2,
  secret_required: 2,
  restricted: 2,
  login_required: 3,
  login_expired: 3,
  login_denied: 3,
  idp_unreachable: 4,
  daemon_unreachable: 5,
  idp_error: 1,
  bad_request: 1,
  unknown_method: 1,
  frame_too_large: 1,
  insecure_permissions: 1,
  store_error: 1,
  not_supported: 1,
  internal: 1,
} as const;

export type ErrorCode = keyof typeof EXIT_CODES;

export interface WireError {
  code: ErrorCode;
  message: string;
  hint?: string;
  /** Machine-readable extras, e.g. the env var name for `secret_required`. Never a secret. */
  data?: Record<string, string>;
}

/** The one error type: a stable code to switch on, a sentence for a human, and what to do. */
export class AuthdError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly data: Record<string, string> | undefined;

  constructor(code: ErrorCode, message: string, hint?: string, data?: Record<string, string>) {
    super(message);
    this.name = 'AuthdError';
    this.code = code;
    this.hint = hint;
    this.data = data;
  }

  get exitCode(): number {
    return exitCodeFor(this.code);
  }

  toWire(): WireError {
    const wire: WireError = { code: this.code, message: this.message };
    if (this.hint) wire.hint = this.hint;
    if (this.data) wire.data = this.data;
    return wire;
  }

  static fromWire(w: WireError): AuthdError {
    const code = isErrorCode(w.code) ? w.code : 'internal';
    return new AuthdError(code, String(w.message ?? 'unknown error'), w.hint, w.data);
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(EXIT_CODES, code);
}

export function exitCodeFor(code: ErrorCode): number {
  return EXIT_CODES[code];
}

export function loginHint(profile: string): string {
  return `run \`authd login -p ${profile}\``;
}
