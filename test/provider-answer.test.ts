// The classification of provider answers (src/daemon/provider-answer.ts), row by row, and the seam
// that reads them off the wire (src/daemon/provider-fetch.ts) against a real local HTTP server.
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientSecretBasic, classify, ProviderError } from '../src/daemon/idp.js';
import type { ProfileConfig } from '../src/daemon/config/index.js';
import {
  type Answer, type Asker, judge, MAX_RETRY_AFTER_MS, type Observation, type ProviderRequest, parseRetryAfter, providerText,
  rowFor, TABLE, transportFailure,
} from '../src/daemon/provider-answer.js';
import { type Exchange, holdOff, observing, providerFetch } from '../src/daemon/provider-fetch.js';

const TOKEN = 'https://login.example.com/oauth/token';
const ci: Asker = { profile: 'ci', clientId: 'build-bot', credential: 'secret', secretEnv: 'BOT_SECRET', timeout: 10 };
const cli: Asker = { profile: 'acme', clientId: 'authd-cli', credential: 'none', timeout: 10 };

function heard(status: number, extra: Partial<Answer> = {}): Observation {
  return { answer: { endpoint: TOKEN, status, contentType: '', tooLarge: false, ...extra } };
}
const says = (status: number, error: string, extra: Partial<Answer> = {}) => heard(status, { contentType: 'application/json', error, ...extra });
const unheard = (failure: Parameters<typeof transportFailure>[1]): Observation => ({ transport: transportFailure(TOKEN, failure) });
const errno = (code: string) => new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });

type Expected = ProviderError['kind'] | 'login_expired' | 'login_denied';

// [what, request, observation, outcome]: every row of the table is met at least once (checked below).
const CASES: [string, ProviderRequest, Observation, Expected][] = [
  ['timeout (AbortSignal.timeout)', 'refresh', unheard(new DOMException('timed out', 'TimeoutError')), 'transient'],
  ['connection refused', 'client credentials', unheard(errno('ECONNREFUSED')), 'transient'],
  ['connection reset', 'refresh', unheard(errno('ECONNRESET')), 'transient'],
  ['socket closed by the other side', 'refresh', unheard(errno('UND_ERR_SOCKET')), 'transient'],
  ['DNS failure', 'discovery', unheard(errno('ENOTFOUND')), 'transient'],
  ['DNS, try again', 'discovery', unheard(errno('EAI_AGAIN')), 'transient'],
  ['network unreachable', 'revocation', unheard(errno('ENETUNREACH')), 'transient'],
  ['TLS: expired certificate', 'refresh', unheard(errno('CERT_HAS_EXPIRED')), 'transient'],
  ['TLS: wrong host name', 'refresh', unheard(errno('ERR_TLS_CERT_ALTNAME_INVALID')), 'transient'],
  ['TLS: not TLS at all', 'refresh', unheard(errno('ERR_SSL_WRONG_VERSION_NUMBER')), 'transient'],
  ['400 server_error on a refresh', 'refresh', says(400, 'server_error'), 'transient'],
  ['400 temporarily_unavailable', 'client credentials', says(400, 'temporarily_unavailable'), 'transient'],
  ['400 invalid_client on a refresh: the client, not the session', 'refresh', says(400, 'invalid_client'), 'client_refused'],
  ['401 invalid_client to client credentials', 'client credentials', says(401, 'invalid_client'), 'client_refused'],
  ['400 unauthorized_client', 'device authorization', says(400, 'unauthorized_client'), 'client_refused'],
  ['GitHub: 200 incorrect_client_credentials', 'client credentials', says(200, 'incorrect_client_credentials'), 'client_refused'],
  ['GitHub: 200 device_flow_disabled', 'device login', says(200, 'device_flow_disabled'), 'client_refused'],
  ['Auth0: 403 authorization_pending', 'device login', says(403, 'authorization_pending'), 'transient'],
  ['Auth0: 429 slow_down', 'device login', says(429, 'slow_down'), 'transient'],
  ['Google: 428 authorization_pending', 'device login', says(428, 'authorization_pending'), 'transient'],
  ['Google: 403 slow_down', 'device login', says(403, 'slow_down'), 'transient'],
  ['Google: 403 access_denied', 'device login', says(403, 'access_denied'), 'login_denied'],
  ['400 expired_token', 'device login', says(400, 'expired_token'), 'login_expired'],
  ['GitHub: 200 token_expired', 'device login', says(200, 'token_expired'), 'login_expired'],
  ['Auth0: invalid_grant after expired_token', 'device login', says(403, 'invalid_grant'), 'login_expired'],
  ['Entra: bad_verification_code', 'device login', says(400, 'bad_verification_code'), 'login_expired'],
  ['400 access_denied', 'device login', says(400, 'access_denied'), 'login_denied'],
  ['Entra: authorization_declined', 'device login', says(400, 'authorization_declined'), 'login_denied'],
  ['400 invalid_grant on a refresh', 'refresh', says(400, 'invalid_grant'), 'session_dead'],
  ['Auth0: 403 invalid_grant on a refresh', 'refresh', says(403, 'invalid_grant'), 'session_dead'],
  ['GitHub: 200 bad_refresh_token', 'refresh', says(200, 'bad_refresh_token'), 'session_dead'],
  ['Entra: 400 interaction_required (MFA, Conditional Access) on a refresh', 'refresh', says(400, 'interaction_required'), 'session_dead'],
  ['consent_required on a refresh, whatever the status', 'refresh', says(403, 'consent_required'), 'session_dead'],
  ['503 text/html from a reverse proxy', 'refresh', heard(503, { contentType: 'text/html' }), 'transient'],
  ['503 JSON', 'client credentials', heard(503, { contentType: 'application/json' }), 'transient'],
  ['502', 'refresh', heard(502), 'transient'],
  ['500 with invalid_grant in the body is still the server failing', 'client credentials', says(500, 'invalid_request'), 'transient'],
  ['429 with Retry-After', 'refresh', heard(429, { retryAfterMs: 2000 }), 'transient'],
  ['408', 'revocation', heard(408), 'transient'],
  ['503 to discovery', 'discovery', heard(503), 'transient'],
  ['400 with no body on a refresh', 'refresh', heard(400), 'session_dead'],
  ['401 with no body on a refresh', 'refresh', heard(401), 'session_dead'],
  ['400 HTML page on a refresh', 'refresh', heard(400, { contentType: 'text/html' }), 'session_dead'],
  ['400 invalid_request on a refresh', 'refresh', says(400, 'invalid_request'), 'session_dead'],
  ['400 invalid_scope on a refresh for a narrower token: that token is refused, the session stands', 'narrowed refresh', says(400, 'invalid_scope'), 'scope_refused'],
  ['400 invalid_target (RFC 8707) on a refresh for a narrower token: oidc-provider used the token up first, so the session is gone', 'narrowed refresh', says(400, 'invalid_target'), 'session_dead'],
  ['400 invalid_grant on a refresh for a narrower token: the session is dead', 'narrowed refresh', says(400, 'invalid_grant'), 'session_dead'],
  ['400 invalid_scope on a plain refresh: as before, the session ends', 'refresh', says(400, 'invalid_scope'), 'session_dead'],
  ['403 with no body on a refresh', 'refresh', heard(403), 'client_refused'],
  ['401 with no body to client credentials', 'client credentials', heard(401), 'client_refused'],
  ['403 with no body to client credentials', 'client credentials', heard(403), 'client_refused'],
  ['401 to revocation (public client)', 'revocation', heard(401), 'client_refused'],
  ['403 to device authorization', 'device authorization', heard(403), 'client_refused'],
  ['401 while polling', 'device login', heard(401), 'client_refused'],
  ['400 with no body to client credentials', 'client credentials', heard(400), 'protocol'],
  ['400 invalid_scope to client credentials', 'client credentials', says(400, 'invalid_scope'), 'protocol'],
  ['400 invalid_grant to client credentials', 'client credentials', says(400, 'invalid_grant'), 'protocol'],
  ['400 unsupported_token_type to revocation', 'revocation', says(400, 'unsupported_token_type'), 'protocol'],
  ['404 to discovery', 'discovery', heard(404, { contentType: 'text/html' }), 'protocol'],
  ['401 to discovery', 'discovery', heard(401), 'protocol'],
  ['404 on the token endpoint', 'refresh', heard(404), 'protocol'],
  ['a redirect', 'refresh', heard(302), 'protocol'],
  ['200 that is not a token response', 'refresh', heard(200, { contentType: 'application/json' }), 'protocol'],
  ['200 text/html (a captive portal)', 'client credentials', heard(200, { contentType: 'text/html' }), 'protocol'],
  ['200 with an unknown error code', 'client credentials', says(200, 'something_odd'), 'protocol'],
  ['a body over 1 MiB', 'refresh', heard(200, { tooLarge: true }), 'protocol'],
  ['nothing sent (a local failure)', 'refresh', { unsent: { code: 'OAUTH_HTTP_REQUEST_FORBIDDEN' } }, 'protocol'],
  ['400 invalid_grant to a token exchange: the subject token is refused', 'token exchange', says(400, 'invalid_grant'), 'subject_refused'],
  ['400 invalid_grant to a JWT bearer request (RFC 7523 §3.1)', 'JWT bearer', says(400, 'invalid_grant'), 'subject_refused'],
  ['400 invalid_request to a token exchange (RFC 8693 §2.2.2)', 'token exchange', says(400, 'invalid_request'), 'subject_refused'],
  ['400 invalid_request to a JWT bearer request: a malformed request', 'JWT bearer', says(400, 'invalid_request'), 'protocol'],
  ['401 invalid_client to a token exchange (Entra: no federated credential matches)', 'token exchange', says(401, 'invalid_client'), 'client_refused'],
  ['401 with no body to a JWT bearer request', 'JWT bearer', heard(401), 'client_refused'],
  ['503 to a token exchange', 'token exchange', heard(503), 'transient'],
];

const CODE_OF = {
  session_dead: 'login_required', client_refused: 'idp_error', transient: 'idp_unreachable', protocol: 'idp_error',
  login_expired: 'login_expired', login_denied: 'login_denied', scope_refused: 'usage', subject_refused: 'idp_error',
} as const;

describe('the classification table', () => {
  for (const [what, request, seen, outcome] of CASES) {
    it(`${request}: ${what} → ${outcome}`, () => {
      const e = judge(request, seen, request === 'client credentials' ? ci : cli);
      expect(e.code).toBe(CODE_OF[outcome]);
      if (outcome === 'login_expired' || outcome === 'login_denied') {
        expect(e).not.toBeInstanceOf(ProviderError);
        return;
      }
      expect(e).toBeInstanceOf(ProviderError);
      const p = e as ProviderError;
      expect(p.kind).toBe(outcome);
      // One sentence naming the request, the endpoint and (when there was one) the HTTP status.
      expect(p.message).toContain(request);
      expect(p.message).not.toMatch(/[\r\n]/);
      if ('answer' in seen) {
        expect(p.message).toContain(`HTTP ${seen.answer.status}`);
        expect(p.message).toContain(TOKEN);
        expect(p.status).toBe(seen.answer.status);
      }
      if ('transport' in seen) expect(p.message).toContain(TOKEN);
    });
  }

  it('every row of the table is met by a case above', () => {
    const met = new Set(CASES.map(([, request, seen]) => TABLE.indexOf(rowFor(request, seen))));
    expect([...met].sort((a, b) => a - b)).toEqual(TABLE.map((_, i) => i));
  });

  it('a transient answer carries the Retry-After, and says how long to wait', () => {
    const e = judge('refresh', heard(429, { retryAfterMs: 2000 }), cli) as ProviderError;
    expect(e.retryAfterMs).toBe(2000);
    expect(e.message).toBe(`the provider is limiting the rate of the refresh request (HTTP 429 from ${TOKEN}; it asks to wait 2 s)`);
  });

  it('a refused client names the profile, the status and the endpoint; the hint says where its secret comes from', () => {
    const e = judge('client credentials', heard(403), ci);
    expect(e.message).toBe(`the provider refused the client credentials of profile ci (HTTP 403 from ${TOKEN})`);
    expect(e.hint).toBe('check client_id and the secret in $BOT_SECRET');
  });

  it('a refused revocation for a public client says why', () => {
    const e = judge('revocation', heard(401), cli);
    expect(e.message).toBe(`the provider refused the revocation request of profile acme from public client authd-cli (HTTP 401 from ${TOKEN}); it does not let public clients revoke`);
  });

  it('a refused subject token names where it came from, and no login is suggested', () => {
    const k8s: Asker = { profile: 'k8s', clientId: 'workload', credential: 'none', subjectSource: 'file /var/run/secrets/tokens/authd' };
    const e = judge('token exchange', says(400, 'invalid_grant', { description: 'subject token has expired' }), k8s);
    expect(e.code).toBe('idp_error');
    expect(e.message).toBe(`the provider refused the subject token of profile k8s, from file /var/run/secrets/tokens/authd, in the token exchange request (RFC 8693) (HTTP 400 invalid_grant from ${TOKEN}: subject token has expired)`);
    expect(e.hint).toMatch(/trusts that token for client workload: its issuer, audience and subject/);
    expect(e.hint).not.toMatch(/authd login/);
  });

  it('a dead session tells the user to log in again', () => {
    const e = judge('refresh', heard(400), cli);
    expect(e.message).toBe(`the session of profile acme has ended: the provider refused the refresh request (HTTP 400 from ${TOKEN})`);
    expect(e.hint).toBe('run `authd login -p acme`');
  });

  it('transport failures name what happened, from stable codes only', () => {
    expect(transportFailure(TOKEN, new DOMException('x', 'TimeoutError')).failure).toBe('timeout');
    expect(transportFailure(TOKEN, new DOMException('x', 'AbortError')).failure).toBe('aborted');
    expect(transportFailure(TOKEN, errno('ECONNREFUSED')).failure).toBe('refused');
    expect(transportFailure(TOKEN, errno('UND_ERR_HEADERS_TIMEOUT')).failure).toBe('timeout');
    expect(transportFailure(TOKEN, errno('EHOSTUNREACH')).failure).toBe('unreachable');
    expect(transportFailure(TOKEN, errno('SELF_SIGNED_CERT_IN_CHAIN')).failure).toBe('tls');
    const happyEyeballs = new TypeError('fetch failed', {
      cause: Object.assign(new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]), {}),
    });
    expect(transportFailure(TOKEN, happyEyeballs).failure).toBe('refused');
    // A message is not a code: nothing from it is shown or matched.
    expect(transportFailure(TOKEN, new TypeError('fetch failed: token abc.def.ghi rejected'))).toEqual({ endpoint: TOKEN, failure: 'other' });
    expect(judge('refresh', unheard(errno('ENOTFOUND')), cli).message)
      .toBe(`cannot reach the provider for the refresh request to ${TOKEN}: the name login.example.com could not be resolved (ENOTFOUND)`);
    expect(judge('refresh', unheard(new DOMException('x', 'TimeoutError')), cli).message)
      .toBe(`the provider did not answer the refresh request to ${TOKEN} within 10 s`);
  });

  it('an unreachable provider: the request, the URL and the cause, and a hint that does not promise a retry', () => {
    const cause = (failure: Parameters<typeof transportFailure>[1]) => judge('client credentials', unheard(failure), ci);
    expect(cause(errno('ECONNREFUSED')).message).toBe(`cannot reach the provider for the client credentials request to ${TOKEN}: connection refused`);
    expect(cause(errno('ECONNREFUSED')).hint).toBe('check that the provider is running at https://login.example.com, and the issuer URL of profile ci');
    expect(cause(errno('CERT_HAS_EXPIRED')).message)
      .toBe(`cannot reach the provider for the client credentials request to ${TOKEN}: TLS certificate error (CERT_HAS_EXPIRED)`);
    expect(cause(errno('ERR_SSL_WRONG_VERSION_NUMBER')).message)
      .toBe(`cannot reach the provider for the client credentials request to ${TOKEN}: TLS error (ERR_SSL_WRONG_VERSION_NUMBER)`);
    expect(cause(errno('EHOSTUNREACH')).message).toBe(`cannot reach the provider for the client credentials request to ${TOKEN}: no route to login.example.com (EHOSTUNREACH)`);
    // fetch refuses some ports before it connects, with no code: said in words, not left blank.
    expect(cause(new TypeError('fetch failed', { cause: new Error('bad port') })).message)
      .toBe(`cannot reach the provider for the client credentials request to ${TOKEN}: fetch does not connect to that port (a "bad port" in the Fetch standard)`);
    for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET', 'CERT_HAS_EXPIRED', 'ETIMEDOUT', 'ENETUNREACH']) {
      expect(cause(errno(code)).hint, code).not.toMatch(/retr/);
    }
    expect(judge('client credentials', says(503, 'temporarily_unavailable'), ci).hint).not.toMatch(/retr/);
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2026-09-01T12:00:00Z');
  it('takes seconds or an HTTP-date, bounded to 10 minutes', () => {
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Tue, 01 Sep 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 01 Sep 2026 11:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('99999999', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('Fri, 01 Jan 2100 00:00:00 GMT', now)).toBe(MAX_RETRY_AFTER_MS);
  });
  it('ignores what is neither', () => {
    for (const v of [null, undefined, '', '-1', '1.5', 'soon', '2 s', 'Tue, 01 Sep 2026 12:00:30 GMT\r\nX: y', '1'.repeat(40)]) {
      expect(parseRetryAfter(v, now)).toBeUndefined();
    }
  });
});

describe('provider text shown to users', () => {
  it('is one line, bounded, without control characters, without what was sent, without anything token-like', () => {
    const sent = ['rt-8f2c1a9b3e'];
    const t = providerText(`bad\r\n token rt-8f2c1a9b3e\u001b[2J\u2028${'Q'.repeat(50)} ${'long '.repeat(100)}`, sent)!;
    expect(t).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    expect(t).not.toContain('rt-8f2c1a9b3e');
    expect(t).not.toContain('Q'.repeat(32));
    expect(t.length).toBeLessThanOrEqual(100);
    expect(t.startsWith('bad token … [2J …')).toBe(true);
    expect(providerText(42, [])).toBeUndefined();
    expect(providerText('\r\n\t', [])).toBeUndefined();
  });
});

describe('classify (errors that come without a record of the wire)', () => {
  const p = { name: 'acme', issuer: 'https://login.example.com', timeout: 10 } as ProfileConfig;
  it('reads stable codes only and never repeats an error message', () => {
    expect((classify(new DOMException('x', 'TimeoutError'), p, 'refresh') as ProviderError).kind).toBe('transient');
    expect((classify(errno('ECONNREFUSED'), p, 'refresh') as ProviderError).kind).toBe('transient');
    const other = classify(new Error('refresh token rt-secret-value rejected'), p, 'refresh') as ProviderError;
    expect(other.kind).toBe('protocol');
    expect(other.message).not.toContain('rt-secret-value');
  });
});

describe('client_secret_basic', () => {
  function header(id: string, secret: string): string {
    const headers = new Headers();
    void clientSecretBasic(secret)({ issuer: 'x' }, { client_id: id }, new URLSearchParams(), headers);
    return Buffer.from(headers.get('authorization')!.slice(6), 'base64').toString('utf8');
  }
  it('form-urlencodes id and secret as URLSearchParams does (RFC 6749 §2.3.1), leaving - . _ * alone', () => {
    expect(header('build-bot', 'bot-secret-123')).toBe('build-bot:bot-secret-123');
    expect(header('a.b_c*d', 'x~y')).toBe('a.b_c*d:x%7Ey');
    expect(header('svc', 'p@ss:w rd+%/ü!')).toBe(`svc:${new URLSearchParams({ s: 'p@ss:w rd+%/ü!' }).toString().slice(2)}`);
    expect(header('svc', 'p@ss:w rd+%/ü!')).toBe('svc:p%40ss%3Aw+rd%2B%25%2F%C3%BC%21');
  });
});

describe('the customFetch seam', () => {
  let server: http.Server;
  let base: string;
  let answers: Map<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>;
  let asked: string[];

  beforeAll(async () => {
    answers = new Map();
    asked = [];
    server = http.createServer((req, res) => {
      asked.push(req.url ?? '');
      req.resume();
      const a = answers.get(new URL(req.url ?? '/', 'http://x').pathname);
      if (a) a(req, res);
      else res.writeHead(404).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  async function post(path: string, body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'rt-0123456789' })) {
    const ex: Exchange = {};
    const res = await observing(ex, () => providerFetch(`${base}${path}?q=secret`, {
      method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' }, redirect: 'manual',
    }));
    return { ex, res };
  }

  it('records status, content-type, Retry-After and the error code, never the query', async () => {
    answers.set('/a', (_q, r) => r.writeHead(429, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '7' })
      .end('{"error":"slow_down","error_description":"easy"}'));
    const { ex, res } = await post('/a');
    expect(ex.seen).toEqual({
      answer: { endpoint: `${base}/a`, status: 429, contentType: 'application/json', tooLarge: false, error: 'slow_down', description: 'easy', retryAfterMs: 7000 },
    });
    expect(res.status).toBe(429);
    expect(await res.json()).toEqual({ error: 'slow_down', error_description: 'easy' });
  });

  it('reads a form-encoded error, and cuts the secrets it sent (not the rest) out of the description', async () => {
    answers.set('/b', (_q, r) => r.writeHead(400, { 'content-type': 'application/x-www-form-urlencoded' })
      .end('error=invalid_grant&error_description=token+rt-0123456789+for+scope+api%3Aread+is+dead'));
    const { ex } = await post('/b', new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'rt-0123456789', scope: 'api:read' }));
    expect(ex.seen).toMatchObject({ answer: { status: 400, error: 'invalid_grant', description: 'token … for scope api:read is dead' } });
  });

  it('cuts the client secret sent in Basic credentials out of what the provider says', async () => {
    answers.set('/b2', (_q, r) => r.writeHead(401, { 'content-type': 'application/json' })
      .end('{"error":"invalid_client","error_description":"secret bot-secret-123 is wrong"}'));
    const ex: Exchange = {};
    await observing(ex, () => providerFetch(`${base}/b2`, {
      method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials' }), redirect: 'manual',
      headers: { authorization: `Basic ${Buffer.from('build-bot:bot-secret-123').toString('base64')}` },
    }));
    expect(ex.seen).toMatchObject({ answer: { status: 401, error: 'invalid_client', description: 'secret … is wrong' } });
  });

  it('hands openid-client an error in a 200 body (GitHub) as a 400, and records the 200', async () => {
    answers.set('/c', (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end('{"error":"authorization_pending"}'));
    const { ex, res } = await post('/c');
    expect(ex.seen).toMatchObject({ answer: { status: 200, error: 'authorization_pending' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'authorization_pending' });
  });

  it('notes each slow_down and the interval GitHub sends with it (form-encoded or JSON)', async () => {
    answers.set('/sd', (_q, r) => r.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded' })
      .end('error=slow_down&error_description=Too+many+requests&interval=10'));
    const poll = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'dc-0123456789' });
    const ex: Exchange = {};
    for (let i = 0; i < 2; i++) {
      await observing(ex, () => providerFetch(`${base}/sd`, { method: 'POST', body: poll, headers: {}, redirect: 'manual' }));
    }
    expect(ex).toMatchObject({ slowDowns: 2, interval: 10 });
    const pending = await post('/c');
    expect(pending.ex.slowDowns).toBeUndefined();
  });

  it('gives a device authorization answer that names the page verification_url (Google) a verification_uri', async () => {
    const google = { device_code: 'dc', user_code: 'GQVQ-JKEC', verification_url: 'https://www.google.com/device', expires_in: 1800, interval: 5 };
    answers.set('/device/code', (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(google)));
    const { res } = await post('/device/code', new URLSearchParams({ client_id: 'tv', scope: 'email' }));
    expect(await res.json()).toEqual({ ...google, verification_uri: 'https://www.google.com/device' });
  });

  it('asks for JSON on every request, also where openid-client sends no Accept (revocation)', async () => {
    let accept: string | undefined;
    answers.set('/revoke', (q, r) => {
      accept = q.headers.accept;
      r.writeHead(200).end();
    });
    await providerFetch(`${base}/revoke`, { method: 'POST', body: new URLSearchParams({ token: 'rt-0123456789' }), headers: {}, redirect: 'manual' });
    expect(accept).toBe('application/json');
  });

  it('leaves a 200 token response alone, and an empty 400 empty', async () => {
    answers.set('/d', (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token":"at","token_type":"Bearer"}'));
    const ok = await post('/d');
    expect(ok.res.status).toBe(200);
    expect(await ok.res.json()).toEqual({ access_token: 'at', token_type: 'Bearer' });
    answers.set('/e', (_q, r) => r.writeHead(400).end());
    const empty = await post('/e');
    expect(empty.ex.seen).toEqual({ answer: { endpoint: `${base}/e`, status: 400, contentType: '', tooLarge: false } });
    expect(await empty.res.text()).toBe('');
  });

  it('stops reading a body over 1 MiB', async () => {
    answers.set('/f', (_q, r) => r.writeHead(200, { 'content-type': 'text/html' }).end('x'.repeat(3 << 20)));
    const { ex, res } = await post('/f');
    expect(ex.seen).toMatchObject({ answer: { status: 200, tooLarge: true } });
    expect(await res.text()).toBe('');
  });

  it('records a transport failure', async () => {
    answers.set('/g', (q) => q.socket.destroy());
    const ex: Exchange = {};
    await expect(observing(ex, () => providerFetch(`${base}/g`, { method: 'GET', headers: {}, redirect: 'manual', body: undefined })))
      .rejects.toThrow();
    expect(ex.seen).toMatchObject({ transport: { endpoint: `${base}/g`, failure: 'reset' } });
  });

  it('sends nothing to an endpoint the provider asked to wait for, and says how long is left', async () => {
    answers.set('/h', (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    const said: Answer = { endpoint: `${base}/h`, status: 503, contentType: 'text/html', tooLarge: false, retryAfterMs: 300 };
    holdOff(said, 300);
    const before = asked.length;
    const ex: Exchange = {};
    await expect(observing(ex, () => providerFetch(`${base}/h`, { method: 'POST', headers: {}, redirect: 'manual', body: undefined })))
      .rejects.toThrow();
    expect(asked.length).toBe(before);
    expect(ex.seen).toMatchObject({ answer: { status: 503 } });
    expect((ex.seen as { answer: Answer }).answer.retryAfterMs).toBeLessThanOrEqual(300);
    await new Promise((r) => setTimeout(r, 320));
    const after = await post('/h');
    expect(after.res.status).toBe(200);
    expect(asked.length).toBe(before + 1);
  });
});
