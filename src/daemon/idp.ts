// The IdP adapter: every request to the identity provider goes through here (openid-client v6).
import { createHash, createPrivateKey } from 'node:crypto';
import * as oidc from 'openid-client';
import { AuthdError, loginHint, type Narrowing } from '../protocol/index.js';
import { UntilRejected } from '../protocol/until-rejected.js';
import type { ProfileConfig } from './config/index.js';
import { isLoopbackUrl } from './config/index.js';
import { type IdToken, idTokenOf } from './id-token.js';
import {
  type Asker, endpointOf, judge, type Observation, ProviderError, type ProviderRequest, stableCode, transportFailure,
} from './provider-answer.js';
import { type Exchange, holdOff, observing, providerFetch } from './provider-fetch.js';

export { ProviderError, type ProviderErrorKind } from './provider-answer.js';

export interface TokenSet {
  access_token: string;
  token_type: string;
  refresh_token?: string;
  /** Unix ms; undefined when the provider gave no expires_in. */
  expires_at?: number;
  /** Seconds the provider said the token lives. */
  lifetime?: number;
  subject?: string;
  scope?: string;
  /** The OpenID Connect ID token, when the provider issued one to a user's login or refresh. */
  idToken?: IdToken;
  /** Set when this machine's clock is far from the provider's, e.g. "your clock is 120 s ahead of the provider". */
  clockSkew?: string;
}

export interface DeviceAuthorization {
  response: oidc.DeviceAuthorizationResponse;
}

/** How a confidential client proves itself: a shared secret, or a private key (private_key_jwt). */
export type ClientCredential = { secret: string } | { privateKey: CryptoKey; id: string };

const configurations = new Map<string, UntilRejected<oidc.Configuration>>();

function configKey(p: ProfileConfig, cred: ClientCredential | undefined): string {
  // The credential is part of the client's identity here; only a hash of a secret is kept in the key.
  const credId = cred === undefined ? null
    : 'secret' in cred ? createHash('sha256').update(cred.secret).digest('base64') : cred.id;
  return JSON.stringify([p.issuer, p.device_authorization_endpoint, p.authorization_endpoint, p.token_endpoint,
    p.revocation_endpoint, p.client_id, p.client_auth, p.client_secret_public, p.timeout, credId]);
}

/** Discovery (or explicit endpoints), cached per profile shape; a failed discovery is not cached. */
export function configurationFor(p: ProfileConfig, cred?: ClientCredential): Promise<oidc.Configuration> {
  const key = configKey(p, cred);
  const cfg = configurations.get(key) ?? new UntilRejected<oidc.Configuration>();
  configurations.set(key, cfg);
  return cfg.get(() => buildConfiguration(p, cred));
}

/** What `doctor` heard from a profile's provider: its discovery document, or its token endpoint's answer to a HEAD. */
export type Reached = { issuer: string } | { endpoint: string; status: number };

/**
 * `doctor`: is the provider there? Discovery asks it already; a profile with explicit endpoints has
 * nothing to discover, so its token endpoint gets a HEAD, and any HTTP answer (a 404, a 405) means
 * reachable. A network error fails as discovery's would.
 */
export async function reach(p: ProfileConfig): Promise<Reached> {
  const cfg = await configurationFor(p);
  if (!p.token_endpoint) return { issuer: cfg.serverMetadata().issuer };
  const url = p.token_endpoint;
  const ex: Exchange = {};
  try {
    const res = await observing(ex, () => providerFetch(url, {
      method: 'HEAD', headers: {}, body: undefined, redirect: 'manual', signal: AbortSignal.timeout(p.timeout * 1000),
    }));
    return { endpoint: endpointOf(url), status: res.status };
  } catch (err) {
    // Held off by an earlier Retry-After, or a status Response cannot carry: the provider answered all the same.
    if (ex.seen && 'answer' in ex.seen) return { endpoint: ex.seen.answer.endpoint, status: ex.seen.answer.status };
    throw judge('reachability check', ex.seen ?? { unsent: withCode(stableCode(err)) }, asker(p, undefined));
  }
}

function clientAuth(p: ProfileConfig, cred: ClientCredential | undefined): oidc.ClientAuth {
  // An installed app's documented non-secret goes in the body, as Google's token requests show it.
  if (cred === undefined) return p.client_secret_public ? oidc.ClientSecretPost(p.client_secret_public) : oidc.None();
  if ('privateKey' in cred) return oidc.PrivateKeyJwt(cred.privateKey);
  return p.client_auth === 'client_secret_post' ? oidc.ClientSecretPost(cred.secret) : clientSecretBasic(cred.secret);
}

/**
 * client_secret_basic as RFC 6749 §2.3.1 says: id and secret form-urlencoded (as URLSearchParams
 * does, which leaves `-` `.` `_` `*` alone), then Basic. openid-client also encodes `-` `.` `_` `*`
 * (`build%2Dbot`), which a provider that decodes as the RFC says does not take for `build-bot`.
 */
export function clientSecretBasic(secret: string): oidc.ClientAuth {
  return (_as, client, _body, headers) => {
    const credentials = `${formEncode(client.client_id)}:${formEncode(secret)}`;
    headers.set('authorization', `Basic ${Buffer.from(credentials).toString('base64')}`);
  };
}

function formEncode(s: string): string {
  return new URLSearchParams({ s }).toString().slice(2);
}

async function buildConfiguration(p: ProfileConfig, cred: ClientCredential | undefined): Promise<oidc.Configuration> {
  const auth = clientAuth(p, cred);
  const base = p.issuer ?? p.token_endpoint;
  if (!base) throw new AuthdError('config_error', `profile ${p.name} has no issuer or token_endpoint`);
  const insecure = isInsecure(base);
  let cfg: oidc.Configuration;
  if (p.issuer && !p.token_endpoint) {
    const issuer = new URL(p.issuer);
    cfg = await ask(p, 'discovery', cred, () => oidc.discovery(issuer, p.client_id, undefined, auth, {
      execute: insecure ? [oidc.allowInsecureRequests] : [],
      timeout: p.timeout,
      [oidc.customFetch]: providerFetch,
    }));
  } else {
    const metadata: oidc.ServerMetadata = {
      issuer: p.issuer ?? new URL(base).origin,
      token_endpoint: p.token_endpoint,
      device_authorization_endpoint: p.device_authorization_endpoint,
      authorization_endpoint: p.authorization_endpoint,
      revocation_endpoint: p.revocation_endpoint,
    };
    cfg = new oidc.Configuration(metadata, p.client_id, undefined, auth);
    cfg[oidc.customFetch] = providerFetch;
    if (insecure) oidc.allowInsecureRequests(cfg);
  }
  cfg.timeout = p.timeout;
  return cfg;
}

/** Plain http is allowed to a loopback provider only (tests, a local IdP). */
function isInsecure(base: string): boolean {
  return new URL(base).protocol === 'http:' && isLoopbackUrl(new URL(base));
}

/**
 * Reads a PKCS#8 PEM private key (RSA → RS256, EC P-256 → ES256) for private_key_jwt.
 * Errors never quote the key.
 */
export async function importPrivateKey(pem: string, what: string): Promise<ClientCredential> {
  let jwk: JsonWebKey;
  let algorithm: RsaHashedImportParams | EcKeyImportParams;
  try {
    const key = createPrivateKey(pem);
    jwk = key.export({ format: 'jwk' });
    if (key.asymmetricKeyType === 'rsa') algorithm = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    else if (key.asymmetricKeyType === 'ec' && jwk.crv === 'P-256') algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
    else throw new Error('unsupported');
  } catch {
    throw new AuthdError('config_error', `${what} is not a usable private key`, 'use a PKCS#8 PEM RSA or EC P-256 private key');
  }
  const privateKey = await crypto.subtle.importKey('jwk', jwk, algorithm, false, ['sign']);
  const id = createHash('sha256').update(JSON.stringify([jwk.n ?? jwk.x, jwk.e ?? jwk.y])).digest('base64');
  return { privateKey, id };
}

function tokenParams(p: ProfileConfig): Record<string, string> {
  const params: Record<string, string> = {};
  if (p.scopes.length) params.scope = p.scopes.join(' ');
  if (p.audience) params.audience = p.audience;
  return params;
}

/** A login's request: tokenParams and one `resource` per entry of the profile's resources (RFC 8707 §2). */
function loginParams(p: ProfileConfig, more: Record<string, string> = {}): URLSearchParams {
  const params = new URLSearchParams({ ...tokenParams(p), ...more });
  for (const r of p.resources ?? []) params.append('resource', r);
  return params;
}

/**
 * `sentAt`: the provider counts expires_in from when it got the request, not from when the answer
 * arrived, and usually from the start of that second (exp is in whole seconds): allow for both.
 * `clientId`: a user's login, whose ID token (if any) is kept for get-token --id-token.
 */
function toTokenSet(res: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, sentAt: number, clientId?: string): TokenSet {
  // As stated: expiresIn() counts down from when the answer was parsed, rounded down a second.
  const lifetime = typeof res.expires_in === 'number' && res.expires_in > 0 ? res.expires_in : undefined;
  let subject: string | undefined;
  try {
    subject = res.claims()?.sub;
  } catch {
    subject = undefined;
  }
  const set: TokenSet = {
    access_token: res.access_token,
    token_type: res.token_type ?? 'Bearer',
    refresh_token: res.refresh_token,
    expires_at: lifetime === undefined ? undefined : sentAt + lifetime * 1000 - Math.min(1000, lifetime * 250),
    lifetime,
    subject,
    scope: res.scope,
  };
  const idToken = clientId === undefined ? undefined : idTokenOf(res.id_token, sentAt, clientId);
  if (idToken) set.idToken = idToken;
  return set;
}

export async function startDeviceAuthorization(p: ProfileConfig): Promise<oidc.DeviceAuthorizationResponse> {
  try {
    const cfg = await configurationFor(p);
    if (!cfg.serverMetadata().device_authorization_endpoint) {
      throw new AuthdError('config_error', `the provider of profile ${p.name} offers no device authorization endpoint`,
        'set device_authorization_endpoint in the profile, or use a provider that supports the device flow');
    }
    return await ask(p, 'device authorization', undefined, () => oidc.initiateDeviceAuthorization(cfg, loginParams(p)));
  } catch (err) {
    throw loginAgain(err, p);
  }
}

/**
 * A login that failed because the provider could not be reached or could not serve it: nothing
 * retries a login, so the hint ends with running it again.
 */
export function loginAgain(err: unknown, p: ProfileConfig, message?: string): unknown {
  if (!(err instanceof ProviderError) || err.kind !== 'transient') return err;
  const again = `run \`authd login -p ${p.name}\` again`;
  return new ProviderError('transient', message ?? err.message, err.hint ? `${err.hint}; then ${again}` : again, err.status, err.retryAfterMs);
}

/**
 * Polls until the user approves, denies, or `signal` fires (the code expired, or the login was
 * abandoned). A provider that fails for a while (5xx, 429, no answer) is polled again, as it asked.
 */
export async function pollDevice(p: ProfileConfig, da: oidc.DeviceAuthorizationResponse, signal: AbortSignal): Promise<TokenSet> {
  const cfg = await configurationFor(p);
  // oidc-provider (and others) omit `interval`; RFC 8628 says 5 s then, the profile may say otherwise.
  const response = { ...da, interval: da.interval ?? p.device_poll_interval ?? 5 };
  let failing: ProviderError | undefined;
  for (;;) {
    let polled: Exchange = {};
    try {
      return await ask(p, 'device login', undefined, async (ex) => {
        polled = ex;
        return toTokenSet(await oidc.pollDeviceAuthorizationGrant(cfg, response, undefined, { signal }), Date.now(), p.client_id);
      });
    } catch (err) {
      // openid-client added 5 s per slow_down; polling again after a failure keeps them, "for this and all
      // subsequent requests" (RFC 8628 §3.5), or the interval GitHub sent with the last one if that is longer.
      response.interval = Math.max(response.interval + 5 * (polled.slowDowns ?? 0), polled.interval ?? 0);
      if (signal.aborted) {
        if (failing) throw loginAgain(failing, p, `the login code expired while the provider failed: ${failing.message}`);
        throw new AuthdError('login_expired', 'the login code expired before it was approved', loginHint(p.name));
      }
      if (!(err instanceof ProviderError && err.kind === 'transient')) throw err;
      failing = err;
      // openid-client waits `interval` before it polls again; wait longer if the provider asked to.
      await delay((err.retryAfterMs ?? 0) - response.interval * 1000, signal);
    }
  }
}

/** Which interactive logins the provider offers this profile (discovery, or the endpoints in the config). */
export async function loginEndpoints(p: ProfileConfig): Promise<{ browser: boolean; device: boolean }> {
  const m = (await configurationFor(p)).serverMetadata();
  return { browser: Boolean(p.authorization_endpoint ?? m.authorization_endpoint), device: Boolean(m.device_authorization_endpoint) };
}

/**
 * A browser login's authorization request (RFC 6749 §4.1 + PKCE S256, RFC 7636): the URL to open,
 * and what checks the redirect back. The verifier, state and nonce stay in the daemon.
 */
export interface CodeRequest {
  url: URL;
  redirectUri: string;
  state: string;
  /** Sent when the scopes ask for an ID token (openid); its `nonce` claim must match. */
  nonce?: string;
  verifier: string;
  cfg: oidc.Configuration;
}

export async function authorizationRequest(p: ProfileConfig, redirectUri: string): Promise<CodeRequest> {
  const cfg = await codeConfiguration(p);
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const params: Record<string, string> = {
    redirect_uri: redirectUri,
    state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  };
  const req: CodeRequest = { url: new URL('about:blank'), redirectUri, state, verifier, cfg };
  if (p.scopes.includes('openid')) req.nonce = params.nonce = oidc.randomNonce();
  // OpenID Connect Core §11: a refresh token for offline_access needs the user's consent.
  if (p.scopes.includes('offline_access')) params.prompt = 'consent';
  req.url = oidc.buildAuthorizationUrl(cfg, loginParams(p, params));
  return req;
}

/** What a failed ID token claim check means, by the claim openid-client names, and what to do. */
const CLAIMS = new Map<string, { says: string; hint: (p: ProfileConfig) => string }>([
  ['nonce', { says: "is not this login's", hint: () => 'log in again; if it happens again, something between you and the provider mixes up logins' }],
  ['aud', { says: 'names another client', hint: (p) => `check the issuer and client_id of profile ${p.name}` }],
  ['azp', { says: 'names another client', hint: (p) => `check the issuer and client_id of profile ${p.name}` }],
  ['iss', { says: 'names another issuer', hint: (p) => `check the issuer of profile ${p.name}` }],
  ...['exp', 'iat', 'nbf', 'auth_time'].map((c) => [c, { says: 'is outside the time it allows', hint: () => "check this machine's clock (NTP), then log in again" }] as const),
]);

/** The claim a failed claim check names (oauth4webapi puts it in the error's cause), if it is a plain name. */
function claimOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const claim = (e as { claim?: unknown }).claim;
    if (typeof claim === 'string' && /^[a-z_]{1,20}$/.test(claim)) return claim;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * Trades the code in the redirect (`callback`: its query as the browser sent it) for tokens, with the
 * PKCE verifier; openid-client checks state, iss, and the ID token (issuer, audience, nonce, and its
 * signature against the provider's keys).
 */
export async function exchangeCode(p: ProfileConfig, req: CodeRequest, callback: URLSearchParams): Promise<TokenSet> {
  // The redirect_uri sent again must be the one of the authorization request, byte for byte.
  const current = new URL(req.redirectUri);
  current.search = callback.toString();
  return ask(p, 'code exchange', undefined, async (ex) => {
    const sentAt = Date.now();
    try {
      const checks: oidc.AuthorizationCodeGrantChecks = { pkceCodeVerifier: req.verifier, expectedState: req.state };
      if (req.nonce) checks.expectedNonce = req.nonce;
      return toTokenSet(await oidc.authorizationCodeGrant(req.cfg, current, checks, p.audience ? { audience: p.audience } : undefined), sentAt, p.client_id);
    } catch (err) {
      // Checks of what came back rather than failures of a request: said as such, by their stable code.
      const code = stableCode(err);
      if (err instanceof oidc.ClientError && (!ex.seen || ('answer' in ex.seen && ex.seen.answer.status < 300))) {
        const claim = claimOf(err);
        const known = claim === undefined ? undefined : CLAIMS.get(claim);
        const which = claim ? `: the ID token's "${claim}" claim ${known?.says ?? 'is not what authd expected'}` : '';
        throw new ProviderError('protocol', `the provider's answer to the browser login of profile ${p.name} failed authd's checks${which}${code ? ` (${code})` : ''}`,
          known?.hint(p) ?? `check the issuer and client_id of profile ${p.name}`);
      }
      throw err;
    }
  });
}

/**
 * The browser login's configuration: the profile's (discovered or explicit), its own
 * authorization_endpoint if the config gives one, and ID token signatures checked against the
 * provider's keys where it publishes them (jwks_uri).
 */
async function codeConfiguration(p: ProfileConfig): Promise<oidc.Configuration> {
  const discovered = (await configurationFor(p)).serverMetadata();
  const { supportsPKCE: _helper, ...plain } = discovered;
  const metadata: oidc.ServerMetadata = { ...plain, authorization_endpoint: p.authorization_endpoint ?? discovered.authorization_endpoint };
  if (!metadata.authorization_endpoint) {
    throw new AuthdError('config_error', `the provider of profile ${p.name} offers no authorization endpoint, so it cannot log in in a browser`,
      'set authorization_endpoint in the profile, or log in with `authd login --device`');
  }
  const cfg = new oidc.Configuration(metadata, p.client_id, undefined, oidc.None());
  cfg[oidc.customFetch] = providerFetch;
  if (isInsecure(p.issuer ?? p.token_endpoint ?? metadata.issuer)) oidc.allowInsecureRequests(cfg);
  cfg.timeout = p.timeout;
  if (metadata.jwks_uri) oidc.enableNonRepudiationChecks(cfg);
  return cfg;
}

/** A refresh; with `narrowing`, for a token of other scopes (the session's refresh token rotates all the same). */
export async function refresh(p: ProfileConfig, refreshToken: string, narrowing?: Narrowing): Promise<TokenSet> {
  const cfg = await configurationFor(p);
  return ask(p, narrowing ? 'narrowed refresh' : 'refresh', undefined, async (ex) => {
    const sentAt = Date.now();
    const set = toTokenSet(await oidc.refreshTokenGrant(cfg, refreshToken, narrowing ? narrowedParams(p, narrowing) : refreshParams(p)), sentAt);
    set.subject ??= ex.subject;
    // Set aside by provider-fetch.ts before openid-client saw the answer; a narrower token's is not the session's.
    const idToken = narrowing ? undefined : idTokenOf(ex.idToken, sentAt, p.client_id);
    if (idToken) set.idToken = idToken;
    const skew = skewText(ex);
    if (skew) set.clockSkew = skew;
    return set;
  });
}

/** The audience again, and the scopes where the profile says to send them (refresh_with_scopes). */
function refreshParams(p: ProfileConfig): Record<string, string> | undefined {
  const { scope, ...params } = tokenParams(p);
  if (p.refresh_with_scopes && scope) params.scope = scope;
  return Object.keys(params).length ? params : undefined;
}

/** A narrowed refresh: its own scopes (else the profile's, where it sends them), its resource (one the login asked for), the profile's audience. */
function narrowedParams(p: ProfileConfig, n: Narrowing): Record<string, string> | undefined {
  const params = refreshParams(p) ?? {};
  if (n.scopes) params.scope = n.scopes.join(' ');
  if (n.resource) params.resource = n.resource;
  if (n.audience) params.audience = n.audience;
  return Object.keys(params).length ? params : undefined;
}

/** "your clock is N s ahead of the provider", when it is off by 30 s or more (its Date header says). */
function skewText(ex: Exchange): string | undefined {
  if (ex.skewMs === undefined || Math.abs(ex.skewMs) < 30_000) return undefined;
  const s = Math.round(Math.abs(ex.skewMs) / 1000);
  return `your clock is ${s} s ${ex.skewMs > 0 ? 'ahead of' : 'behind'} the provider`;
}

export async function clientCredentials(p: ProfileConfig, cred: ClientCredential): Promise<TokenSet> {
  const cfg = await configurationFor(p, cred);
  return ask(p, 'client credentials', cred, async () => {
    const sentAt = Date.now();
    return toTokenSet(await oidc.clientCredentialsGrant(cfg, tokenParams(p)), sentAt);
  });
}

const WORKLOAD_GRANTS = {
  token_exchange: 'urn:ietf:params:oauth:grant-type:token-exchange',
  jwt_bearer: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
} as const;
/** RFC 8693 §3: the subject token type sent when the profile names none. */
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/**
 * A workload's subject token for an access token: RFC 8693 token exchange (subject_token) or RFC
 * 7523 §2.1 JWT bearer (assertion), as client_id with no client secret. `source` names where the
 * token came from, for the error if the provider refuses it.
 */
export async function workloadToken(p: ProfileConfig, subjectToken: string, source: string): Promise<TokenSet> {
  if (p.flow !== 'token_exchange' && p.flow !== 'jwt_bearer') throw new AuthdError('internal', `profile ${p.name} does not use a subject token`);
  const params: Record<string, string> = p.flow === 'jwt_bearer'
    ? { assertion: subjectToken }
    : { subject_token: subjectToken, subject_token_type: p.subject_token_type ?? JWT_TOKEN_TYPE };
  Object.assign(params, tokenParams(p));
  if (p.resource) params.resource = p.resource;
  const grant = WORKLOAD_GRANTS[p.flow];
  const cfg = await configurationFor(p);
  return ask(p, p.flow === 'jwt_bearer' ? 'JWT bearer' : 'token exchange', undefined, async () => {
    const sentAt = Date.now();
    return toTokenSet(await oidc.genericGrantRequest(cfg, grant, params), sentAt);
  }, source);
}

/** RFC 7009. Resolves false when the provider has no revocation endpoint. */
export async function revoke(p: ProfileConfig, token: string, hint: 'refresh_token' | 'access_token', cred?: ClientCredential): Promise<boolean> {
  const cfg = await configurationFor(p, cred);
  if (!cfg.serverMetadata().revocation_endpoint) return false;
  await ask(p, 'revocation', cred, () => oidc.tokenRevocation(cfg, token, { token_type_hint: hint }));
  return true;
}

/**
 * Runs one provider operation and, if it fails, throws what the last answer on the wire means
 * (provider-answer.ts): an AuthdError, a ProviderError for everything the provider said or did not say.
 */
async function ask<T>(
  p: ProfileConfig, request: ProviderRequest, cred: ClientCredential | undefined, send: (ex: Exchange) => Promise<T>, subjectSource?: string,
): Promise<T> {
  const ex: Exchange = {};
  try {
    return await observing(ex, () => send(ex));
  } catch (err) {
    if (err instanceof AuthdError) throw err;
    const skew = skewText(ex);
    if (err instanceof oidc.ClientError && err.code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED' && skew) {
      throw new ProviderError('protocol', `the provider's ID token looked expired or not yet valid to profile ${p.name}: ${skew}`,
        'set the clock right (enable NTP, or restart the time service after a sleep)');
    }
    const seen: Observation = ex.seen ?? { unsent: withCode(stableCode(err)) };
    const e = judge(request, seen, asker(p, cred, subjectSource));
    // The provider said when to ask again: nobody asks that endpoint before then.
    if (e instanceof ProviderError && e.kind === 'transient' && e.retryAfterMs && 'answer' in seen) holdOff(seen.answer, e.retryAfterMs);
    throw e;
  }
}

function asker(p: ProfileConfig, cred: ClientCredential | undefined, subjectSource?: string): Asker {
  const who: Asker = {
    profile: p.name,
    clientId: p.client_id,
    credential: cred === undefined ? 'none' : 'privateKey' in cred ? 'private key' : 'secret',
    timeout: p.timeout,
  };
  if (p.client_secret_env) who.secretEnv = p.client_secret_env;
  if (subjectSource) who.subjectSource = subjectSource;
  if (p.token_endpoint) who.explicitEndpoints = true;
  return who;
}

function withCode(code: string | undefined): { code?: string } {
  return code ? { code } : {};
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Turns anything else thrown around a provider request into an AuthdError that never carries a
 * token. The requests in this module classify their own failures from what they saw on the wire;
 * this is for errors that come without that record, and it reads only stable codes.
 */
export function classify(err: unknown, p: ProfileConfig, what: string): AuthdError {
  if (err instanceof AuthdError) return err;
  const code = stableCode(err);
  const name = (err as { name?: unknown } | null)?.name;
  const endpoint = endpointOf(p.token_endpoint ?? p.issuer ?? '');
  if (code === 'OAUTH_TIMEOUT' || name === 'TimeoutError') {
    return new ProviderError('transient', `the provider did not answer the ${what} request to ${endpoint} within ${p.timeout} s`,
      `check your network; if the provider is only slow, raise \`timeout\` in profile ${p.name}`);
  }
  const t = transportFailure(endpoint, err);
  if (t.failure !== 'other' || (err instanceof TypeError && code)) {
    return new ProviderError('transient', `cannot reach the provider for the ${what} request to ${endpoint}${code ? ` (${code})` : ''}`,
      `check your network, and the ${p.token_endpoint ? 'endpoint URLs' : 'issuer URL'} of profile ${p.name}`);
  }
  return new ProviderError('protocol', `the ${what} request of profile ${p.name} failed${code ? ` (${code})` : ''}`);
}

/** What a browser login needs of a provider. */
export interface BrowserProvider {
  loginEndpoints: typeof loginEndpoints;
  authorizationRequest: typeof authorizationRequest;
  exchangeCode: typeof exchangeCode;
  revoke: typeof revoke;
}

/** What the session code needs of a provider: this module in the daemon, a scripted fake in tests. */
export interface Provider {
  refresh: typeof refresh;
  clientCredentials: typeof clientCredentials;
  workloadToken: typeof workloadToken;
  revoke: typeof revoke;
  startDeviceAuthorization: typeof startDeviceAuthorization;
  pollDevice: typeof pollDevice;
}
