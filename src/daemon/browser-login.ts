// The browser login: authorization code + PKCE on a loopback redirect (RFC 8252 §7.3, RFC 7636 S256).
// The daemon listens on a loopback address for the length of the login only, takes exactly one
// redirect back from the provider, and answers the browser with a small plain page. The verifier,
// state, nonce and code never leave the daemon. Joining, waiters and cancelling are the login slot's.
import http from 'node:http';
import { AuthdError, loginHint, printable } from '../protocol/index.js';
import type { Clock } from './clock.js';
import { type LoopbackRedirect, loopbackRedirect, type ProfileConfig } from './config/index.js';
import { webUrl } from './device-login.js';
import type * as idp from './idp.js';
import type { Begin, Begun } from './login-slot.js';
import { ProviderError, providerText } from './provider-answer.js';

/** How long the daemon waits for the browser to come back. */
export const BROWSER_LOGIN_MS = 10 * 60_000;

/** AUTHD_BROWSER_LOGIN_MS (for tests), else BROWSER_LOGIN_MS. */
export function browserLoginMs(env: Record<string, string | undefined>): number {
  const ms = Number(env.AUTHD_BROWSER_LOGIN_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : BROWSER_LOGIN_MS;
}

export interface BrowserLoginDeps {
  provider: idp.BrowserProvider;
  clock: Clock;
  lifetimeMs: number;
}

const DEFAULT_REDIRECT: LoopbackRedirect = { host: '127.0.0.1', listen: '127.0.0.1', path: '/callback' };

/** Listens for the redirect, then builds the authorization URL for it; the login ends with one redirect, or none. */
export function browserLogin(deps: BrowserLoginDeps): Begin {
  return async (prof, abort) => {
    const target = redirectTarget(prof);
    const server = await listen(prof, target);
    try {
      const port = (server.address() as { port: number }).port;
      const hostPort = `${target.host}:${port}`;
      const redirectUri = `http://${hostPort}${target.path}`;
      const request = await deps.provider.authorizationRequest(prof, redirectUri);
      const url = webUrl(request.url.href);
      if (!url) {
        throw new ProviderError('protocol', `the authorization endpoint of profile ${prof.name} is not an http(s) URL`,
          `check the issuer and authorization_endpoint settings of profile ${prof.name}`);
      }
      return awaitRedirect(prof, deps, abort, server, { hostPort, path: target.path, redirectUri, url, request });
    } catch (err) {
      server.close();
      throw err;
    }
  };
}

function redirectTarget(p: ProfileConfig): LoopbackRedirect {
  if (!p.redirect_uri) return DEFAULT_REDIRECT;
  const r = loopbackRedirect(p.redirect_uri);
  // The config was checked when it was read.
  if (typeof r === 'string') throw new AuthdError('config_error', `the redirect_uri of profile ${p.name} is not usable: ${r}`);
  return r;
}

function listen(p: ProfileConfig, target: LoopbackRedirect): Promise<http.Server> {
  // Small limits: only a browser coming back is expected here.
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, maxHeaderSize: 16 * 1024 });
  server.maxConnections = 64;
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(listenError(p, target, err)));
    server.listen({ host: target.listen, port: target.port ?? 0 }, () => resolve(server));
  });
}

function listenError(p: ProfileConfig, target: LoopbackRedirect, err: NodeJS.ErrnoException): AuthdError {
  const where = `${target.host}:${target.port ?? 0}`;
  const elsewhere = `register another loopback redirect with the provider and set it as redirect_uri in profile ${p.name}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return new AuthdError('config_error', `cannot listen for the browser login of profile ${p.name} on ${where}: another program uses that port`,
        `stop the program listening on port ${target.port}, or ${elsewhere}`);
    case 'EACCES':
      return new AuthdError('config_error', `cannot listen for the browser login of profile ${p.name} on ${where}: the port needs privileges`, elsewhere);
    case 'EADDRNOTAVAIL':
      return new AuthdError('config_error', `cannot listen for the browser login of profile ${p.name} on ${where}: this machine has no such address`,
        `use 127.0.0.1 in the redirect_uri of profile ${p.name}`);
    default:
      return new AuthdError('internal', `cannot listen for the browser login of profile ${p.name} on ${where}${err.code ? ` (${err.code})` : ''}`);
  }
}

interface Redirect {
  /** What the browser's Host header says when it comes back. */
  hostPort: string;
  path: string;
  redirectUri: string;
  url: string;
  request: idp.CodeRequest;
}

/**
 * The login, once the URL is known: the first redirect to `path` ends it, whatever it carries; a
 * second one while the first is finishing ends it too (nothing is stored). Anything else gets a 404.
 */
function awaitRedirect(prof: ProfileConfig, deps: BrowserLoginDeps, abort: AbortController, server: http.Server, r: Redirect): Begun {
  let resolve!: (set: idp.TokenSet) => void;
  let reject!: (e: AuthdError) => void;
  const tokens = new Promise<idp.TokenSet>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Asked for by the login slot as soon as the URL is shown; a failure before that is not unhandled.
  tokens.catch(() => undefined);
  /** The browser's requests of the redirect, answered with the page once the login has ended. */
  const held: http.ServerResponse[] = [];
  let received = false;
  let over = false;
  let page: { status: number; body: string } | undefined;
  const fail = (e: AuthdError) => {
    if (over) return;
    over = true;
    reject(e);
  };
  const timer = deps.clock.setTimeout(() => fail(new AuthdError('login_expired',
    `the browser login of profile ${prof.name} was not finished within ${spoken(deps.lifetimeMs)}`,
    `${loginHint(prof.name)}; if the browser showed an error from the provider, try \`authd login -p ${prof.name} --device\``)), deps.lifetimeMs);
  // The slot says why when it cancels; this only stops the wait.
  abort.signal.addEventListener('abort', () => fail(new AuthdError('login_expired', 'the browser login was cancelled')), { once: true });

  server.on('request', (req, res) => {
    const path = new URL(req.url ?? '/', 'http://authd.invalid').pathname;
    if (req.headers.host !== r.hostPort || path !== r.path) return send(res, 404, plainPage('Not found', 'This address is only for the provider to send the browser back to authd.'));
    if (req.method !== 'GET') return send(res, 405, plainPage('Method not allowed', 'The provider sends the browser back here with a GET request.'));
    if (page) return send(res, page.status, page.body);
    held.push(res);
    if (received) {
      fail(new AuthdError('login_denied',
        `the browser login of profile ${prof.name} was stopped: a second redirect came back to authd while the first was being finished`,
        `${loginHint(prof.name)}; only one redirect is expected, so another program may have the code`));
      return;
    }
    received = true;
    deps.clock.clearTimeout(timer);
    const query = new URL(req.url ?? '/', 'http://authd.invalid').searchParams;
    const refused = refusal(prof, query, r.request.state);
    if (refused) return fail(refused);
    deps.provider.exchangeCode(prof, r.request, query).then((set) => {
      if (!over) {
        over = true;
        resolve(set);
      } else if (set.refresh_token) {
        // The login ended meanwhile (a second redirect, a cancel): nobody holds these tokens.
        deps.provider.revoke(prof, set.refresh_token, 'refresh_token').catch(() => undefined);
      }
    }, (err: unknown) => fail(err instanceof AuthdError ? err : new ProviderError('protocol', `the browser login of profile ${prof.name} failed`)));
  });

  return {
    info: { flow: 'browser', browser: { url: r.url, redirect_uri: r.redirectUri } },
    deadline: deps.clock.now() + deps.lifetimeMs,
    tokens: () => tokens,
    ended: (outcome) => {
      over = true;
      deps.clock.clearTimeout(timer);
      page = 'error' in outcome ? { status: 400, body: failurePage(prof, outcome.error) } : { status: 200, body: successPage(prof, outcome.subject) };
      for (const res of held.splice(0)) send(res, page.status, page.body);
      server.close();
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 2000).unref();
    },
  };
}

/** What ends the login before any code is exchanged: a state that is not this login's, or the provider's error. */
function refusal(prof: ProfileConfig, query: URLSearchParams, state: string): AuthdError | undefined {
  const error = query.get('error');
  const got = query.get('state');
  // Some providers leave state out of an error redirect; a state that is there must be this login's.
  if ((got === null && error === null) || (got !== null && got !== state)) {
    return new AuthdError('login_denied',
      `the browser login of profile ${prof.name} was stopped: the redirect back to authd carried a state that is not this login's (an old tab, another login, or a forged request)`,
      loginHint(prof.name));
  }
  if (error === null) return undefined;
  const description = providerText(query.get('error_description'), []);
  const said = description ? ` (${description})` : '';
  if (error === 'access_denied') return new AuthdError('login_denied', `the login was denied at the provider${said}`, loginHint(prof.name));
  return new AuthdError('login_denied', `the provider refused the browser login of profile ${prof.name}: ${printable(error).slice(0, 60)}${said}`,
    `check client_id, scopes and redirect_uri of profile ${prof.name}, or try \`authd login -p ${prof.name} --device\``);
}

function send(res: http.ServerResponse, status: number, body: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    // Nothing to load, nothing to run; the address bar holds the code, so no referrer either.
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    connection: 'close',
  });
  res.end(body);
}

function successPage(prof: ProfileConfig, subject: string | undefined): string {
  return plainPage('Logged in', `Logged in to ${prof.name}${subject ? ` as ${subject}` : ''}. You can close this tab.`);
}

function failurePage(prof: ProfileConfig, e: AuthdError): string {
  return plainPage('Login failed', `The login to ${prof.name} failed: ${e.message}.`, e.hint ? `To try again: ${e.hint}.` : undefined);
}

/** A page without scripts or anything fetched: a heading and a sentence or two. */
function plainPage(title: string, text: string, more?: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>authd: ${html(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}</style></head>
<body><h1>${html(title)}</h1><p>${html(text)}</p>${more ? `<p>${html(more)}</p>` : ''}</body></html>
`;
}

function html(s: string): string {
  return printable(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function spoken(ms: number): string {
  return ms < 120_000 ? `${Math.max(1, Math.round(ms / 1000))} s` : `${Math.round(ms / 60_000)} minutes`;
}
