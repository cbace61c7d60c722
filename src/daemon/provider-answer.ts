// What a provider's answer means, in one table: (request, HTTP status, the body's `error` code) or
// a transport failure → session_dead, client_refused, transient or protocol. Pure: the answers are
// read off the wire by provider-fetch.ts, which hands them here already bounded and sanitised.
import { AuthdError, CONTROLS, type ErrorCode, loginHint } from '../protocol/index.js';

/** The requests authd makes. One answer means different things to different requests. */
export type ProviderRequest =
  | 'discovery' | 'device authorization' | 'device login' | 'code exchange' | 'refresh' | 'narrowed refresh' | 'client credentials' | 'revocation'
  | 'token exchange' | 'JWT bearer' | 'reachability check';

/** An HTTP answer as far as authd reads it: its status and headers, and its body's error code only. */
export interface Answer {
  /** origin + path of the URL asked, never its query */
  endpoint: string;
  status: number;
  /** media type, lower case, without parameters; '' when the provider sent none */
  contentType: string;
  /** the body was longer than authd reads (MAX_BODY_BYTES) */
  tooLarge: boolean;
  /** the body's `error` code (JSON or form-encoded), if it is shaped like one */
  error?: string;
  /** the body's `error_description`: single-line, bounded, with anything token-like cut out */
  description?: string;
  /** from Retry-After: ms to wait, from when the answer arrived, at most MAX_RETRY_AFTER_MS */
  retryAfterMs?: number;
}

export type TransportFailureKind = 'timeout' | 'refused' | 'reset' | 'dns' | 'unreachable' | 'tls' | 'aborted' | 'other';

/** The provider was not heard: no HTTP status. */
export interface TransportFailure {
  endpoint: string;
  failure: TransportFailureKind;
  /** a stable code (errno, TLS or undici code), when there is one */
  code?: string;
  /** what fetch said when it gives no code, from a fixed list (never its free text) */
  reason?: string;
}

/** What happened on the wire for one request: an answer, a transport failure, or nothing was sent. */
export type Observation = { answer: Answer } | { transport: TransportFailure } | { unsent: { code?: string } };

/**
 * scope_refused: a narrower token (a scope, a resource) the session's grant does not cover; the session stands.
 * subject_refused: the provider does not take a workload's subject token (token exchange, JWT bearer).
 */
export type ProviderErrorKind = 'session_dead' | 'client_refused' | 'transient' | 'protocol' | 'scope_refused' | 'subject_refused';
type Outcome = ProviderErrorKind | 'login_expired' | 'login_denied';

export const MAX_BODY_BYTES = 1 << 20;
export const MAX_RETRY_AFTER_MS = 10 * 60_000;

const CODE: Record<ProviderErrorKind, ErrorCode> = {
  session_dead: 'login_required',
  client_refused: 'idp_error',
  transient: 'idp_unreachable',
  protocol: 'idp_error',
  scope_refused: 'usage',
  subject_refused: 'idp_error',
};

/** A failure at the provider, classified: `kind` says what to do about it, `code` how the client exits. */
export class ProviderError extends AuthdError {
  readonly kind: ProviderErrorKind;
  readonly status?: number;
  readonly retryAfterMs?: number;

  constructor(kind: ProviderErrorKind, message: string, hint?: string, status?: number, retryAfterMs?: number) {
    super(CODE[kind], message, hint);
    this.name = 'ProviderError';
    this.kind = kind;
    if (status !== undefined) this.status = status;
    if (retryAfterMs !== undefined) this.retryAfterMs = retryAfterMs;
  }
}

type StatusClass = '2xx' | '3xx' | '4xx' | '5xx';

interface Row {
  /** the requests the row is about; every request when absent */
  requests?: readonly ProviderRequest[];
  /** HTTP statuses; any status when absent */
  status?: readonly (number | StatusClass)[];
  /** the body's `error` codes; any body (none included) when absent */
  errors?: readonly string[];
  /** transport failures; a row with `transport` matches only those */
  transport?: true;
  outcome: Outcome;
  why: string;
}

/** A refresh answered with these needs the user at the provider's login page (Entra sends them from its token endpoint). */
const INTERACTIVE = ['interaction_required', 'consent_required', 'login_required'];

/** First match wins. Error codes come first: GitHub answers errors with HTTP 200, Auth0 with 403 and 429. */
export const TABLE: readonly Row[] = [
  { transport: true, outcome: 'transient', why: 'the provider was not heard: nothing is known about the session or the client' },
  { errors: ['temporarily_unavailable', 'server_error'], outcome: 'transient', why: 'the provider says the fault is its own' },
  {
    errors: ['invalid_client', 'unauthorized_client', 'incorrect_client_credentials', 'device_flow_disabled'],
    outcome: 'client_refused',
    why: 'the client is refused, not the session: a new login would not help, and the refresh token is kept',
  },
  { requests: ['device login'], errors: ['authorization_pending', 'slow_down'], outcome: 'transient', why: 'not approved yet: poll again' },
  {
    requests: ['device login'],
    errors: ['expired_token', 'token_expired', 'invalid_grant', 'incorrect_device_code', 'bad_verification_code'],
    outcome: 'login_expired',
    why: 'the device code is no longer usable (Auth0 says invalid_grant after expired_token)',
  },
  { requests: ['device login'], errors: ['access_denied', 'authorization_declined'], outcome: 'login_denied', why: 'the user said no' },
  {
    requests: ['narrowed refresh'],
    errors: ['invalid_scope'],
    outcome: 'scope_refused',
    // Not invalid_target: oidc-provider 9 uses up the refresh token before it refuses a resource.
    why: "a scope outside the session's grant (RFC 6749 §6): that token is refused, the refresh token was not used up (providers check scopes first)",
  },
  { requests: ['refresh', 'narrowed refresh'], errors: ['invalid_grant', 'bad_refresh_token'], outcome: 'session_dead', why: 'the refresh token is dead, whatever the status' },
  {
    requests: ['refresh', 'narrowed refresh'],
    errors: INTERACTIVE,
    outcome: 'session_dead',
    why: 'the provider wants the user at a login page (Entra: MFA or Conditional Access): no refresh will do, so none is sent again',
  },
  {
    requests: ['token exchange', 'JWT bearer'],
    errors: ['invalid_grant'],
    outcome: 'subject_refused',
    why: 'the subject token is not taken (its signature, issuer, audience, subject or expiry; RFC 7523 §3.1): the same token will not do',
  },
  {
    requests: ['token exchange'],
    errors: ['invalid_request'],
    outcome: 'subject_refused',
    why: 'RFC 8693 §2.2.2 answers a subject token that is invalid or not acceptable with invalid_request',
  },
  { status: [408, 429, '5xx'], outcome: 'transient', why: 'overloaded, rate-limited or down for now (a proxy in front of a restarting provider)' },
  {
    requests: ['refresh', 'narrowed refresh'],
    status: [400, 401],
    outcome: 'session_dead',
    why: 'the provider refused the refresh token; some answer a revoked session with no body at all',
  },
  {
    requests: ['refresh', 'narrowed refresh', 'client credentials', 'device authorization', 'device login', 'code exchange', 'revocation',
      'token exchange', 'JWT bearer'],
    status: [401, 403],
    outcome: 'client_refused',
    why: 'the client is not let in (often with an empty body); for revocation: public clients may not revoke',
  },
  { outcome: 'protocol', why: 'an answer authd cannot use: a redirect, another 4xx, a 2xx that is not a valid response, an oversized body' },
];

function statusMatches(status: number, wanted: readonly (number | StatusClass)[]): boolean {
  return wanted.some((w) => (typeof w === 'number' ? w === status : Math.floor(status / 100) === Number(w[0])));
}

/** The table's row for an observation. */
export function rowFor(request: ProviderRequest, seen: Observation): Row {
  for (const row of TABLE) {
    if (row.requests && !row.requests.includes(request)) continue;
    if ('transport' in seen || 'unsent' in seen) {
      if (row.transport && 'transport' in seen) return row;
      if (row.transport || row.status || row.errors) continue;
      return row;
    }
    if (row.transport) continue;
    const a = seen.answer;
    if (row.status && !statusMatches(a.status, row.status)) continue;
    if (row.errors && (a.error === undefined || !row.errors.includes(a.error))) continue;
    return row;
  }
  throw new Error('unreachable: the last row matches everything');
}

/** Who asked, for the message and the hint. */
export interface Asker {
  profile: string;
  clientId: string;
  credential: 'none' | 'secret' | 'private key';
  /** the env var a secret comes from (client_secret_env) */
  secretEnv?: string;
  /** seconds a request may take (the profile's timeout) */
  timeout?: number;
  /** where a workload's subject token came from (token exchange, JWT bearer), e.g. "file /var/run/…" */
  subjectSource?: string;
  /** The profile names its provider's endpoints itself (no discovery): a hint points at those, not at an issuer. */
  explicitEndpoints?: boolean;
}

const PHRASE: Record<ProviderRequest, string> = {
  discovery: 'discovery request',
  'device authorization': 'device authorization request',
  'device login': 'device login request',
  'code exchange': 'code exchange request',
  refresh: 'refresh request',
  'narrowed refresh': 'narrowed refresh request (a token for other scopes or a resource)',
  'client credentials': 'client credentials request',
  revocation: 'revocation request',
  'token exchange': 'token exchange request (RFC 8693)',
  'JWT bearer': 'JWT bearer request (RFC 7523)',
  'reachability check': 'reachability check (a HEAD request)',
};

/** What a failed request means to the user: one sentence naming the request, the endpoint and the status. */
export function judge(request: ProviderRequest, seen: Observation, who: Asker): AuthdError {
  const outcome = rowFor(request, seen).outcome;
  const req = PHRASE[request];
  if (outcome === 'login_expired') return new AuthdError('login_expired', 'the login code expired before it was approved', loginHint(who.profile));
  if (outcome === 'login_denied') return new AuthdError('login_denied', 'the login was denied at the provider', loginHint(who.profile));
  if ('unsent' in seen) {
    const code = seen.unsent.code ? ` (${seen.unsent.code})` : '';
    return new ProviderError('protocol', `the ${req} of profile ${who.profile} could not be sent to the provider${code}`,
      `check the issuer and endpoint settings of profile ${who.profile}`);
  }
  if ('transport' in seen) return unheard(req, seen.transport, who);
  const a = seen.answer;
  const heard = `HTTP ${a.status}${a.error ? ` ${a.error}` : ''} from ${a.endpoint}${a.description ? `: ${a.description}` : ''}`;
  switch (outcome) {
    case 'session_dead':
      if (a.error && INTERACTIVE.includes(a.error)) {
        return new ProviderError('session_dead',
          `profile ${who.profile} needs a new login: the provider refused the ${req} until you sign in interactively, e.g. for multi-factor authentication (${heard})`,
          loginHint(who.profile), a.status);
      }
      return new ProviderError('session_dead', `the session of profile ${who.profile} has ended: the provider refused the ${req} (${heard})`,
        loginHint(who.profile), a.status);
    case 'client_refused':
      return refused(request, heard, a.status, who);
    case 'subject_refused':
      return new ProviderError('subject_refused',
        `the provider refused the subject token of profile ${who.profile}${who.subjectSource ? `, from ${who.subjectSource},` : ''} in the ${req} (${heard})`,
        `check that the provider trusts that token for client ${who.clientId}: its issuer, audience and subject, and that it has not expired`, a.status);
    case 'scope_refused':
      return new ProviderError('scope_refused', `the provider refused the ${req} of profile ${who.profile}: its login was not granted that (${heard})`,
        `ask only for what the login was granted (scopes of profile ${who.profile}), or add it to those scopes and log in again`, a.status);
    case 'transient': {
      const wait = a.retryAfterMs ? Math.ceil(a.retryAfterMs / 1000) : 0;
      const what = a.status === 429 ? `the provider is limiting the rate of the ${req}` : `the provider could not serve the ${req}`;
      return new ProviderError('transient', `${what} (${heard}${wait ? `; it asks to wait ${wait} s` : ''})`,
        wait ? `try again in ${wait} s: authd does not ask that endpoint again before then` : 'the fault is at the provider: try again shortly',
        a.status, a.retryAfterMs);
    }
    case 'protocol':
      if (a.error && a.status >= 400 && a.status < 500) {
        return new ProviderError('protocol', `the provider refused the ${req} (${heard})`,
          `check client_id, scopes and audience of profile ${who.profile}`, a.status);
      }
      return new ProviderError('protocol', `the provider gave an unusable answer to the ${req} (${heard}${unusable(a)})`,
        `check the issuer and endpoint settings of profile ${who.profile}, and any proxy in front of the provider`, a.status);
  }
}

function refused(request: ProviderRequest, heard: string, status: number, who: Asker): ProviderError {
  // "the client credentials of profile ci" names the client credentials request already.
  const during = request === 'client credentials' ? '' : ` for the ${PHRASE[request]}`;
  if (who.credential === 'none') {
    if (request === 'revocation') {
      return new ProviderError('client_refused',
        `the provider refused the revocation request of profile ${who.profile} from public client ${who.clientId} (${heard}); it does not let public clients revoke`,
        undefined, status);
    }
    return new ProviderError('client_refused', `the provider refused client ${who.clientId} of profile ${who.profile}${during} (${heard})`,
      who.subjectSource
        ? `check client_id in profile ${who.profile}, and that the provider trusts the subject token from ${who.subjectSource} for that client`
        : `check client_id in profile ${who.profile}; the provider may have disabled or removed this client`, status);
  }
  const hint = who.credential === 'private key'
    ? `check client_id and that the provider holds the public half of the private key of profile ${who.profile}`
    : who.secretEnv ? `check client_id and the secret in $${who.secretEnv}`
    : `check client_id and the client secret of profile ${who.profile} (\`authd secret set ${who.profile}\`)`;
  return new ProviderError('client_refused', `the provider refused the client credentials of profile ${who.profile}${during} (${heard})`, hint, status);
}

function unusable(a: Answer): string {
  if (a.tooLarge) return `; more than ${MAX_BODY_BYTES >> 20} MiB`;
  if (a.status >= 300 && a.status < 400) return '; a redirect, which authd does not follow';
  if (a.status >= 200 && a.status < 300 && a.contentType !== 'application/json') return `; ${a.contentType || 'no content-type'} instead of JSON`;
  if (a.status >= 200 && a.status < 300 && !a.error) return '; not a valid response';
  return '';
}

/**
 * The provider was not heard: the request, the URL asked (origin + path) and what went wrong. The hint
 * says what to check; whoever reports the error says what comes next (a login is run again, a caller
 * asks again).
 */
function unheard(req: string, t: TransportFailure, who: Asker): ProviderError {
  const code = t.code ? ` (${t.code})` : '';
  const cannot = `cannot reach the provider for the ${req} to ${t.endpoint}`;
  const host = hostOf(t.endpoint);
  let message: string;
  const where = who.explicitEndpoints ? 'endpoint URLs' : 'issuer URL';
  let hint = `check your network, and the ${where} of profile ${who.profile}`;
  switch (t.failure) {
    case 'timeout':
      message = `the provider did not answer the ${req} to ${t.endpoint}${who.timeout ? ` within ${who.timeout} s` : ' in time'}`;
      hint = `check your network; if the provider is only slow, raise \`timeout\` in profile ${who.profile}`;
      break;
    case 'refused':
      message = `${cannot}: connection refused`;
      hint = `check that the provider is running at ${originOf(t.endpoint)}, and the ${where} of profile ${who.profile}`;
      break;
    case 'reset':
      message = `the connection to the provider broke during the ${req} to ${t.endpoint}${code}`;
      hint = 'check your network and any proxy between you and the provider';
      break;
    case 'dns':
      message = `${cannot}: the name ${host} could not be resolved${code}`;
      hint = `check that ${host} is spelled right in profile ${who.profile}, and your network and DNS`;
      break;
    case 'unreachable':
      message = `${cannot}: no route to ${host}${code}`;
      break;
    case 'tls':
      message = `${cannot}: ${/^(ERR_TLS_CERT|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|INVALID_CA|CRL_)/.test(t.code ?? '') ? 'TLS certificate error' : 'TLS error'}${code}`;
      hint = 'check the system clock, and any proxy between you and the provider (a private CA goes in NODE_EXTRA_CA_CERTS)';
      break;
    case 'aborted':
      message = `the ${req} to ${t.endpoint} was cancelled`;
      break;
    default:
      message = `${cannot}${t.reason ? `: ${t.reason}` : code || ': no reason given'}`;
  }
  return new ProviderError('transient', message, hint);
}

function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).hostname;
  } catch {
    return 'the provider';
  }
}

function originOf(endpoint: string): string {
  try {
    return new URL(endpoint).origin;
  } catch {
    return 'the issuer URL';
  }
}

const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const UNREACHABLE_CODES = new Set(['ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN', 'EHOSTDOWN']);
const TLS_CODE = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_MISMATCH|INVALID_CA|CRL_|ERROR_IN_)/;

/** What fetch's rejection says, from stable codes only (DOMException names, errno, undici and TLS codes). */
export function transportFailure(endpoint: string, err: unknown): TransportFailure {
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError') return { endpoint, failure: 'timeout' };
  if (name === 'AbortError') return { endpoint, failure: 'aborted' };
  const code = stableCode(err);
  const t: TransportFailure = { endpoint, failure: 'other' };
  if (code) t.code = code;
  if (!code) {
    // fetch refuses some ports outright (the Fetch standard's "bad ports": 1, 9, 25, 6000…), before connecting.
    if (causeMessage(err) === 'bad port') t.reason = 'fetch does not connect to that port (a "bad port" in the Fetch standard)';
    return t;
  }
  if (TIMEOUT_CODES.has(code)) t.failure = 'timeout';
  else if (code === 'ECONNREFUSED') t.failure = 'refused';
  else if (RESET_CODES.has(code)) t.failure = 'reset';
  else if (DNS_CODES.has(code)) t.failure = 'dns';
  else if (UNREACHABLE_CODES.has(code)) t.failure = 'unreachable';
  else if (TLS_CODE.test(code)) t.failure = 'tls';
  return t;
}

/** The message of the error that caused a fetch failure (compared against fixed strings only). */
function causeMessage(err: unknown): string | undefined {
  const cause = (err as { cause?: unknown } | null)?.cause;
  const message = (cause as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : undefined;
}

/** The first stable code on an error or its causes (fetch puts the socket's error in `cause`). */
export function stableCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const { code, errors, cause } = e as { code?: unknown; errors?: unknown; cause?: unknown };
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code)) return code;
    // Happy eyeballs: an AggregateError of one failure per address.
    e = Array.isArray(errors) && errors.length ? errors[0] : cause;
  }
  return undefined;
}

/** Retry-After in seconds or as an HTTP-date → ms from `now`, at most MAX_RETRY_AFTER_MS; undefined if unusable. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value == null) return undefined;
  const v = value.trim();
  let ms: number;
  if (/^\d{1,10}$/.test(v)) ms = Number(v) * 1000;
  else if (/^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(v)) ms = Date.parse(v) - now;
  else return undefined;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/** An `error` code is shown and matched only if it looks like one (RFC 6749 codes are lower-case words). */
export function errorCode(v: unknown, sent: readonly string[]): string | undefined {
  if (typeof v !== 'string' || !/^[a-z][a-z0-9_.-]{0,47}$/.test(v)) return undefined;
  return sent.some((s) => v.includes(s)) ? undefined : v;
}

const TOKENISH = /[A-Za-z0-9._~+/=-]{32,}/g;

/**
 * Provider-supplied text shown to users: one line, at most `max` characters, with what authd sent
 * (tokens, secrets) and anything else token-like cut out — a provider may echo what it was given.
 */
export function providerText(v: unknown, sent: readonly string[], max = 100): string | undefined {
  if (typeof v !== 'string') return undefined;
  let s = v.slice(0, 4 * max);
  for (const secret of sent) s = s.split(secret).join('…');
  s = s.replace(CONTROLS, ' ').replace(TOKENISH, '…').replace(/\s+/g, ' ').trim();
  if (s.length > max) s = `${s.slice(0, max - 1)}…`;
  return s || undefined;
}

/** origin + path: what a message may say about a URL (a query could carry anything). */
export function endpointOf(url: string | URL): string {
  try {
    const u = new URL(url);
    const s = `${u.origin}${u.pathname}`;
    return s.length > 200 ? `${s.slice(0, 199)}…` : s;
  } catch {
    return 'the provider';
  }
}

/** How the session handles a failure: as the table classified the provider's answer; other errors by their code. */
export function failureKind(e: AuthdError): ProviderErrorKind | 'other' {
  if (e instanceof ProviderError) return e.kind;
  return e.code === 'idp_unreachable' ? 'transient' : 'other';
}
