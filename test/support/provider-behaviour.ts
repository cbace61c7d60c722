// Makes the dev provider's endpoints answer as other real providers (and the proxies in front of
// them) do — shared/research/providers.md — switchable per test at run time, and counts the requests
// each endpoint sees. It sits in front of the real provider (dev-idp's intercept), so the issuer, the
// discovery document and every normal answer stay the provider's own.
import { EventEmitter, once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { onTestFinished } from 'vitest';
import { type Idp, type StartIdpOptions, startIdp } from '../../scripts/dev-idp.mjs';
import { Home, type ProfileSpec } from './harness.js';

export type Endpoint = 'discovery' | 'token' | 'revocation' | 'device authorization';

const PATHS: Record<string, Endpoint> = {
  '/.well-known/openid-configuration': 'discovery',
  '/token': 'token',
  '/token/revocation': 'revocation',
  '/device/auth': 'device authorization',
};

/** Answers a request itself (true; or hands it on later with `pass`), or lets the provider answer it (false). */
export type Behaviour = (req: IncomingMessage, res: ServerResponse, pass: () => void) => boolean;

/** Any answer: a status, headers, a body. */
export function answer(status: number, headers: Record<string, string> = {}, body: string | Buffer = ''): Behaviour {
  return (req, res) => {
    req.resume();
    res.writeHead(status, headers).end(body);
    return true;
  };
}

/** No body and no content-type: how some providers (and gateways) say 400, 401 or 403. */
export const emptyBody = (status: number, headers: Record<string, string> = {}) => answer(status, headers);

/** A reverse proxy's error page in front of a provider that is restarting. */
export const htmlPage = (status: number, headers: Record<string, string> = {}) =>
  answer(status, { 'content-type': 'text/html; charset=utf-8', ...headers },
    `<!DOCTYPE html><html><head><title>${status}</title></head><body><h1>${status} Service Temporarily Unavailable</h1><hr>nginx</body></html>`);

export const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  answer(status, { 'content-type': 'application/json', ...headers }, JSON.stringify(body));

/** Accepts the request and never answers it. */
export const hang: Behaviour = (req) => {
  req.resume();
  return true;
};

/**
 * Holds each request until `release()`, then lets the provider answer it: a request kept in flight
 * while the test does something else. With `after: 'answer'` the provider answers at once (a refresh
 * token is rotated) and only the answer is held on its way back.
 */
export class Hold {
  private readonly held: (() => void)[] = [];
  private readonly events = new EventEmitter();

  constructor(private readonly opts: { after?: 'request' | 'answer' } = {}) {}

  readonly behaviour: Behaviour = (_req, res, pass) => {
    if (this.opts.after !== 'answer') {
      this.hold(pass);
      return true;
    }
    const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
    res.end = ((...args: unknown[]) => {
      this.hold(() => end(...args));
      return res;
    }) as typeof res.end;
    pass();
    return true;
  };

  private hold(go: () => void): void {
    this.held.push(go);
    this.events.emit('held');
  }

  /** Resolves once `n` requests are being held. */
  async arrived(n = 1): Promise<void> {
    while (this.held.length < n) await once(this.events, 'held');
  }

  get count(): number {
    return this.held.length;
  }

  release(): void {
    for (const pass of this.held.splice(0)) pass();
  }
}

/** Drops the connection without a word. */
export const reset: Behaviour = (req) => {
  req.socket.destroy();
  return true;
};

/**
 * Decodes Basic credentials as RFC 6749 §2.3.1 says (application/x-www-form-urlencoded) and refuses,
 * with 403, credentials encoded any other way (`build%2Dbot` for `build-bot`); the rest goes on.
 */
export const strictBasic: Behaviour = (req, res, pass) => {
  const auth = req.headers.authorization;
  if (!auth?.startsWith('Basic ')) return false;
  const pair = Buffer.from(auth.slice(6), 'base64').toString('utf8');
  const i = pair.indexOf(':');
  const canonical = (s: string) => new URLSearchParams({ s: new URLSearchParams(`s=${s}`).get('s') ?? '' }).toString().slice(2) === s;
  if (i > 0 && canonical(pair.slice(0, i)) && canonical(pair.slice(i + 1))) return false;
  return emptyBody(403)(req, res, pass);
};

/** A revocation endpoint that wants client authentication: a public client (no Authorization) gets 401. */
export const refusePublicClients: Behaviour = (req, res, pass) => (req.headers.authorization ? false : emptyBody(401)(req, res, pass));

interface Rule {
  behaviour: Behaviour;
  /** how many more requests it answers; then the provider's own answers come back */
  left: number;
}

export interface SeenRequest {
  endpoint: Endpoint;
  /** Date.now() when it arrived */
  at: number;
  authorization?: string;
}

/** The endpoints of one dev provider, made to behave; `seen` counts what each was asked. */
export class ProviderBehaviour {
  readonly seen: Record<Endpoint, number> = { discovery: 0, token: 0, revocation: 0, 'device authorization': 0 };
  readonly requests: SeenRequest[] = [];
  private readonly rules = new Map<Endpoint, Rule>();

  constructor(idp: Idp) {
    idp.intercept((req, res, pass) => this.handle(req, res, pass));
  }

  /** From now on `endpoint` answers with `behaviour` (for the next `times` requests). */
  set(endpoint: Endpoint, behaviour: Behaviour, times = Number.POSITIVE_INFINITY): void {
    this.rules.set(endpoint, { behaviour, left: times });
  }

  /** The provider answers `endpoint` itself again (every endpoint, without an argument). */
  normal(endpoint?: Endpoint): void {
    if (endpoint) this.rules.delete(endpoint);
    else this.rules.clear();
  }

  private handle(req: IncomingMessage, res: ServerResponse, pass: () => void): boolean {
    const endpoint = PATHS[new URL(req.url ?? '/', 'http://x').pathname];
    if (!endpoint || (endpoint !== 'discovery' && req.method !== 'POST')) return false;
    this.seen[endpoint]++;
    const r: SeenRequest = { endpoint, at: Date.now() };
    if (req.headers.authorization) r.authorization = req.headers.authorization;
    this.requests.push(r);
    const rule = this.rules.get(endpoint);
    if (!rule) return false;
    if (--rule.left <= 0) this.rules.delete(endpoint);
    return rule.behaviour(req, res, pass);
  }
}

export interface ProviderFixture {
  idp: Idp;
  provider: ProviderBehaviour;
  home: Home;
}

/** Registers clean-up for the end of the test: a concurrent test passes its context's own `onTestFinished`. */
export type OnFinished = (fn: () => Promise<void> | void) => void;

/** A real provider whose answers the test can change, and a home configured for it; both gone after the test. */
export async function providerAndHome(
  opts: StartIdpOptions,
  profiles: (idp: Idp) => Record<string, ProfileSpec>,
  top: ProfileSpec = {},
  finished: OnFinished = onTestFinished,
): Promise<ProviderFixture> {
  const idp = await startIdp(opts);
  const provider = new ProviderBehaviour(idp);
  const home = new Home();
  finished(async () => {
    await home.dispose();
    await idp.close();
  });
  home.writeConfig(profiles(idp), top);
  return { idp, provider, home };
}

/** The provider answers, without the ID token in its answer: a provider that issues none (then, or on refresh). */
export const withoutIdToken: Behaviour = (_req, res, pass) => {
  const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    let body = chunk;
    try {
      const json = JSON.parse(String(chunk)) as Record<string, unknown>;
      if (typeof json.id_token === 'string') {
        delete json.id_token;
        body = JSON.stringify(json);
        if (!res.headersSent) res.setHeader('content-length', Buffer.byteLength(body as string));
      }
    } catch {
      // not JSON: as it was
    }
    return end(body, ...rest);
  }) as typeof res.end;
  pass();
  return true;
};
