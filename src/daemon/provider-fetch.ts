// The one seam where authd's requests meet the provider: openid-client's customFetch. It reads each
// answer once, bounded, notes what it says (status, content-type, Retry-After, the body's `error`)
// for provider-answer.ts to classify, holds off an endpoint the provider asked to wait for, and hands
// openid-client an equivalent answer.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { CustomFetchOptions } from 'openid-client';
import {
  type Answer, endpointOf, errorCode, MAX_BODY_BYTES, type Observation, parseRetryAfter, providerText, transportFailure,
} from './provider-answer.js';

/** One operation (a refresh, a revocation, a whole device poll): the last thing seen on the wire. */
export interface Exchange {
  seen?: Observation;
  /** A refresh's ID token is not handed to openid-client (see below); its `sub`, unverified, for display only. */
  subject?: string;
  /** That ID token, set aside for get-token --id-token (id-token.ts decides whether it is kept). */
  idToken?: string;
  /** Our clock minus the provider's (its Date header), in ms, when the provider said. */
  skewMs?: number;
  /** Device-login polls answered `slow_down`, and the `interval` the last one asked for, if it said (GitHub does). */
  slowDowns?: number;
  interval?: number;
}

/**
 * Once a refresh is sent the provider may consume the refresh token: its answer is awaited this long,
 * whatever the profile's timeout (callers stop waiting after that timeout; the refresh goes on).
 */
const REFRESH_PATIENCE_MS = 5 * 60_000;

const exchanges = new AsyncLocalStorage<Exchange>();

/** Runs `send`; every provider request it makes records what came back into `ex`. */
export function observing<T>(ex: Exchange, send: () => Promise<T>): Promise<T> {
  return exchanges.run(ex, send);
}

/** Endpoints the provider asked (Retry-After) not to be asked again before a time. */
const holds = new Map<string, { until: number; answer: Answer }>();

/** The provider said to wait (Retry-After): no request goes to `answer.endpoint` before then. */
export function holdOff(answer: Answer, ms: number): void {
  holds.set(answer.endpoint, { until: Date.now() + ms, answer });
}

/** Thrown instead of sending a request the provider asked to wait for; the exchange says why. */
class HeldOff extends Error {}

type Bytes = Uint8Array<ArrayBuffer>;

/** openid-client's customFetch. */
export async function providerFetch(url: string, options: CustomFetchOptions): Promise<Response> {
  const ex = exchanges.getStore() ?? {};
  const endpoint = endpointOf(url);
  const hold = holds.get(endpoint);
  if (hold) {
    const left = hold.until - Date.now();
    if (left > 0) {
      ex.seen = { answer: { ...hold.answer, retryAfterMs: left } };
      throw new HeldOff(`not asking ${endpoint} again yet`);
    }
    holds.delete(endpoint);
  }
  let res: Response;
  let body: Bytes | undefined;
  const refresh = options.body instanceof URLSearchParams && options.body.get('grant_type') === 'refresh_token';
  // Always JSON: GitHub answers form-encoded unless asked (openid-client asks, but not on revocation).
  const headers = options.headers?.accept ? options.headers : { ...options.headers, accept: 'application/json' };
  try {
    res = await fetch(url, { ...options, headers, ...(refresh ? { signal: AbortSignal.timeout(REFRESH_PATIENCE_MS) } : {}) } as RequestInit);
    body = await readBounded(res);
  } catch (err) {
    ex.seen = { transport: transportFailure(endpoint, err) };
    throw err;
  }
  const date = Date.parse(res.headers.get('date') ?? '');
  if (!Number.isNaN(date)) ex.skewMs = Date.now() - date;
  if (refresh && res.ok && body) body = withoutIdToken(body, ex);
  const grant = options.body instanceof URLSearchParams && options.body.has('grant_type');
  if (options.method === 'POST' && !grant && res.ok && body) body = withVerificationUri(body);
  const fields = body && bodyFields(res.headers.get('content-type'), body);
  const answer = describe(endpoint, res, body === undefined, fields, sentValues(options));
  ex.seen = { answer };
  if (answer.error === 'slow_down') {
    ex.slowDowns = (ex.slowDowns ?? 0) + 1;
    if (typeof fields?.interval === 'number' && fields.interval > 0 && fields.interval <= 3600) ex.interval = fields.interval;
  }
  // GitHub answers a pending device login with HTTP 200 and an error: hand openid-client a 400, so it
  // treats it as the error it is (and keeps polling).
  const errorIn2xx = options.method === 'POST' && res.ok && answer.error !== undefined && fields?.access_token === undefined;
  return handOver(res, errorIn2xx ? undefined : body, answer);
}

/**
 * A refresh's answer without its ID token. The tokens came straight from the token endpoint over the
 * connection authd opened; the ID token adds only claims to check, and a check that fails (a clock
 * ahead of the provider's, an issuer spelled differently) must not throw away the rotated refresh
 * token the same answer carries: the provider has consumed the old one. Its `sub` is kept for display,
 * the token itself in `ex` for the session (served by get-token --id-token, never checked by openid-client).
 */
function withoutIdToken(body: Bytes, ex: Exchange): Bytes {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(Buffer.from(body).toString('utf8')) as Record<string, unknown>;
  } catch {
    return body;
  }
  if (!json || typeof json !== 'object' || typeof json.id_token !== 'string') return body;
  ex.idToken = json.id_token;
  try {
    const claims = JSON.parse(Buffer.from(json.id_token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
    if (typeof claims.sub === 'string') ex.subject = claims.sub;
  } catch {
    // no usable claims: no subject
  }
  delete json.id_token;
  return new Uint8Array(Buffer.from(JSON.stringify(json))) as Bytes;
}

/**
 * A device authorization answer as RFC 8628 names its fields: Google calls the page `verification_url`
 * (https://developers.google.com/identity/protocols/oauth2/limited-input-device, step 2), which
 * openid-client would refuse as having no `verification_uri`.
 */
function withVerificationUri(body: Bytes): Bytes {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(Buffer.from(body).toString('utf8')) as Record<string, unknown>;
  } catch {
    return body;
  }
  if (!json || typeof json !== 'object' || typeof json.device_code !== 'string' || json.verification_uri !== undefined
    || typeof json.verification_url !== 'string') return body;
  json.verification_uri = json.verification_url;
  return new Uint8Array(Buffer.from(JSON.stringify(json))) as Bytes;
}

/** The body, or undefined when it is longer than MAX_BODY_BYTES (then it is not read further). */
export async function readBounded(res: Response): Promise<Bytes | undefined> {
  if (!res.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return body;
}

/** Form fields that carry a secret. */
const SECRET_FIELDS = new Set([
  'refresh_token', 'token', 'device_code', 'code', 'code_verifier', 'client_secret', 'client_assertion', 'assertion',
  'subject_token', 'actor_token', 'password',
]);

/** What the request carried that must never be echoed into a message: secret form fields, Basic credentials. */
function sentValues(options: CustomFetchOptions): string[] {
  const sent: string[] = [];
  if (options.body instanceof URLSearchParams) {
    for (const [k, v] of options.body) if (SECRET_FIELDS.has(k) && v.length >= 4) sent.push(v);
  }
  const auth = options.headers?.authorization;
  if (auth?.startsWith('Basic ')) {
    const pair = Buffer.from(auth.slice(6), 'base64').toString('utf8');
    const secret = pair.slice(pair.indexOf(':') + 1);
    if (secret.length >= 4) sent.push(secret, decodeForm(secret));
  }
  return sent;
}

function decodeForm(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

function mediaType(contentType: string | null): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

interface BodyFields {
  error?: unknown;
  error_description?: unknown;
  access_token?: unknown;
  interval?: unknown;
}

function describe(endpoint: string, res: Response, tooLarge: boolean, fields: BodyFields | undefined, sent: readonly string[]): Answer {
  const answer: Answer = { endpoint, status: res.status, contentType: mediaType(res.headers.get('content-type')), tooLarge };
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), Date.now());
  if (retryAfterMs !== undefined) answer.retryAfterMs = retryAfterMs;
  const error = errorCode(fields?.error, sent);
  if (error) {
    answer.error = error;
    const description = providerText(fields?.error_description, sent);
    if (description) answer.description = description;
  }
  return answer;
}

/** The fields of a JSON or form-encoded body (GitHub answers form-encoded unless asked for JSON). */
function bodyFields(contentType: string | null, body: Bytes): BodyFields | undefined {
  const text = Buffer.from(body).toString('utf8');
  if (mediaType(contentType) === 'application/x-www-form-urlencoded') {
    const form = new URLSearchParams(text);
    const interval = Number(form.get('interval') ?? Number.NaN);
    return { error: form.get('error') ?? undefined, error_description: form.get('error_description') ?? undefined,
      access_token: form.get('access_token') ?? undefined, interval: Number.isFinite(interval) ? interval : undefined };
  }
  if (!text.trimStart().startsWith('{')) return undefined;
  try {
    const json: unknown = JSON.parse(text);
    return json && typeof json === 'object' && !Array.isArray(json) ? json : undefined;
  } catch {
    return undefined;
  }
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/**
 * The answer as openid-client gets it: the body read here, or (`body` undefined) a plain JSON error
 * made of what was read. A status Response cannot carry (a hostile 6xx) throws: the exchange says why.
 */
function handOver(res: Response, body: Bytes | undefined, answer: Answer): Response {
  const headers = new Headers(res.headers);
  headers.delete('content-encoding'); // fetch has decoded it already
  headers.delete('content-length');
  let status = res.status;
  let bytes: Bytes | string | null = body ?? new Uint8Array(0);
  if (body === undefined && answer.error) {
    if (status < 400) status = 400;
    bytes = JSON.stringify({ error: answer.error, error_description: answer.description });
    headers.set('content-type', 'application/json');
  }
  if (NULL_BODY.has(status)) bytes = null;
  return new Response(bytes, { status, headers });
}
