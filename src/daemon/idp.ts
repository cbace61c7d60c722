// The IdP adapter: every request to the identity provider goes through here (openid-client v6).
import { createHash, createPrivateKey } from 'node:crypto';
import * as oidc from 'openid-client';
import { AuthdError, loginHint } from '../protocol/index.js';
import type { ProfileConfig } from './config.js';
import { isLoopbackUrl } from './config.js';

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
}

export interface DeviceAuthorization {
  response: oidc.DeviceAuthorizationResponse;
}

/** How a confidential client proves itself: a shared secret, or a private key (private_key_jwt). */
export type ClientCredential = { secret: string } | { privateKey: CryptoKey; id: string };

const configurations = new Map<string, Promise<oidc.Configuration>>();

function configKey(p: ProfileConfig, cred: ClientCredential | undefined): string {
  // The credential is part of the client's identity here; only a hash of a secret is kept in the key.
  const credId = cred === undefined ? null
    : 'secret' in cred ? createHash('sha256').update(cred.secret).digest('base64') : cred.id;
  return JSON.stringify([p.issuer, p.device_authorization_endpoint, p.token_endpoint, p.revocation_endpoint,
    p.client_id, p.client_auth, p.timeout, credId]);
}

/** Discovery (or explicit endpoints), cached per profile shape; a failed discovery is not cached. */
export function configurationFor(p: ProfileConfig, cred?: ClientCredential): Promise<oidc.Configuration> {
  const key = configKey(p, cred);
  let cfg = configurations.get(key);
  if (!cfg) {
    cfg = buildConfiguration(p, cred);
    configurations.set(key, cfg);
    cfg.catch(() => configurations.delete(key));
  }
  return cfg;
}

function clientAuth(p: ProfileConfig, cred: ClientCredential | undefined): oidc.ClientAuth {
  if (cred === undefined) return oidc.None();
  if ('privateKey' in cred) return oidc.PrivateKeyJwt(cred.privateKey);
  return p.client_auth === 'client_secret_post' ? oidc.ClientSecretPost(cred.secret) : oidc.ClientSecretBasic(cred.secret);
}

async function buildConfiguration(p: ProfileConfig, cred: ClientCredential | undefined): Promise<oidc.Configuration> {
  const auth = clientAuth(p, cred);
  const base = p.issuer ?? p.token_endpoint;
  if (!base) throw new AuthdError('config_error', `profile ${p.name} has no issuer or token_endpoint`);
  const insecure = new URL(base).protocol === 'http:' && isLoopbackUrl(new URL(base));
  let cfg: oidc.Configuration;
  if (p.issuer && !p.token_endpoint) {
    try {
      cfg = await oidc.discovery(new URL(p.issuer), p.client_id, undefined, auth, {
        execute: insecure ? [oidc.allowInsecureRequests] : [],
        timeout: p.timeout,
      });
    } catch (err) {
      throw classify(err, p, 'discovery');
    }
  } else {
    const metadata: oidc.ServerMetadata = {
      issuer: p.issuer ?? new URL(base).origin,
      token_endpoint: p.token_endpoint,
      device_authorization_endpoint: p.device_authorization_endpoint,
      revocation_endpoint: p.revocation_endpoint,
    };
    cfg = new oidc.Configuration(metadata, p.client_id, undefined, auth);
    if (insecure) oidc.allowInsecureRequests(cfg);
  }
  cfg.timeout = p.timeout;
  return cfg;
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

/**
 * `sentAt`: the provider counts expires_in from when it got the request, not from when the answer
 * arrived, and usually from the start of that second (exp is in whole seconds): allow for both.
 */
function toTokenSet(res: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, sentAt: number): TokenSet {
  // As stated: expiresIn() counts down from when the answer was parsed, rounded down a second.
  const lifetime = typeof res.expires_in === 'number' && res.expires_in > 0 ? res.expires_in : undefined;
  let subject: string | undefined;
  try {
    subject = res.claims()?.sub;
  } catch {
    subject = undefined;
  }
  return {
    access_token: res.access_token,
    token_type: res.token_type ?? 'Bearer',
    refresh_token: res.refresh_token,
    expires_at: lifetime === undefined ? undefined : sentAt + lifetime * 1000 - Math.min(1000, lifetime * 250),
    lifetime,
    subject,
    scope: res.scope,
  };
}

export async function startDeviceAuthorization(p: ProfileConfig): Promise<oidc.DeviceAuthorizationResponse> {
  const cfg = await configurationFor(p);
  if (!cfg.serverMetadata().device_authorization_endpoint) {
    throw new AuthdError('config_error', `the provider of profile ${p.name} offers no device authorization endpoint`,
      'set device_authorization_endpoint in the profile, or use a provider that supports the device flow');
  }
  try {
    return await oidc.initiateDeviceAuthorization(cfg, tokenParams(p));
  } catch (err) {
    throw classify(err, p, 'device authorization');
  }
}

export async function pollDevice(p: ProfileConfig, da: oidc.DeviceAuthorizationResponse, signal: AbortSignal): Promise<TokenSet> {
  const cfg = await configurationFor(p);
  // oidc-provider (and others) omit `interval`; RFC 8628 says 5 s then, the profile may say otherwise.
  const response = { ...da, interval: da.interval ?? p.device_poll_interval ?? 5 };
  try {
    const res = await oidc.pollDeviceAuthorizationGrant(cfg, response, undefined, { signal });
    return toTokenSet(res, Date.now());
  } catch (err) {
    if (err instanceof oidc.ResponseBodyError && err.error === 'expired_token') {
      throw new AuthdError('login_expired', 'the login code expired before it was approved', loginHint(p.name));
    }
    if (err instanceof oidc.ResponseBodyError && err.error === 'access_denied') {
      throw new AuthdError('login_denied', 'the login was denied at the provider', loginHint(p.name));
    }
    if (err instanceof oidc.ClientError && err.code === 'OAUTH_TIMEOUT') {
      throw new AuthdError('login_expired', 'the login code expired before it was approved', loginHint(p.name));
    }
    throw classify(err, p, 'device login');
  }
}

export async function refresh(p: ProfileConfig, refreshToken: string): Promise<TokenSet> {
  const cfg = await configurationFor(p);
  const sentAt = Date.now();
  try {
    return toTokenSet(await oidc.refreshTokenGrant(cfg, refreshToken, p.audience ? { audience: p.audience } : undefined), sentAt);
  } catch (err) {
    throw classify(err, p, 'refresh');
  }
}

export async function clientCredentials(p: ProfileConfig, cred: ClientCredential): Promise<TokenSet> {
  const cfg = await configurationFor(p, cred);
  const sentAt = Date.now();
  try {
    return toTokenSet(await oidc.clientCredentialsGrant(cfg, tokenParams(p)), sentAt);
  } catch (err) {
    throw classify(err, p, 'client credentials');
  }
}

/** RFC 7009. Resolves false when the provider has no revocation endpoint. */
export async function revoke(p: ProfileConfig, token: string, hint: 'refresh_token' | 'access_token', cred?: ClientCredential): Promise<boolean> {
  const cfg = await configurationFor(p, cred);
  if (!cfg.serverMetadata().revocation_endpoint) return false;
  try {
    await oidc.tokenRevocation(cfg, token, { token_type_hint: hint });
    return true;
  } catch (err) {
    throw classify(err, p, 'revocation');
  }
}

/** Turns anything openid-client or fetch throws into an AuthdError that never carries a token. */
export function classify(err: unknown, p: ProfileConfig, what: string): AuthdError {
  if (err instanceof AuthdError) return err;
  // A provider answering 5xx is down for now, whatever the shape of its answer.
  if ((err instanceof oidc.ResponseBodyError || err instanceof oidc.WWWAuthenticateChallengeError) && err.status >= 500) {
    return new AuthdError('idp_unreachable', `the provider failed the ${what} request (HTTP ${err.status})`,
      'try again shortly; authd retries by itself');
  }
  if (err instanceof oidc.ResponseBodyError) {
    if (err.error === 'invalid_grant') {
      return new AuthdError('login_required', `the provider no longer accepts the session of profile ${p.name} (invalid_grant)`,
        loginHint(p.name));
    }
    return new AuthdError('idp_error', `the provider refused the ${what} request: ${safeText(err.error)}${
      err.error_description ? ` (${safeText(err.error_description)})` : ''}`,
      'check client_id, scopes and the client secret for this profile');
  }
  if (err instanceof oidc.WWWAuthenticateChallengeError) {
    const code = err.cause[0]?.parameters.error;
    if (err.status === 401 || code === 'invalid_client') {
      return new AuthdError('idp_error', `the provider rejected the client id or secret of profile ${p.name}${code ? ` (${safeText(code)})` : ''}`,
        p.client_secret_env ? `check client_id and the secret in $${p.client_secret_env}` : 'check client_id and the client secret for this profile');
    }
    return new AuthdError('idp_error', `the provider refused the ${what} request (HTTP ${err.status}${code ? `, ${safeText(code)}` : ''})`);
  }
  if (err instanceof oidc.ClientError && err.code === 'OAUTH_TIMEOUT') {
    return new AuthdError('idp_unreachable', `the provider did not answer the ${what} request within ${p.timeout}s`,
      'check your network; authd retries by itself');
  }
  const cause = (err as { cause?: { code?: string } } | undefined)?.cause;
  if (err instanceof TypeError || cause?.code) {
    const why = cause?.code ? ` (${cause.code})` : '';
    return new AuthdError('idp_unreachable', `cannot reach the provider for the ${what} request${why}`,
      'check your network or the issuer URL; authd retries by itself');
  }
  if (err instanceof Error) {
    return new AuthdError('idp_error', `the ${what} request failed: ${safeText(err.message)}`);
  }
  return new AuthdError('idp_error', `the ${what} request failed`);
}

/** Provider-supplied text is shown to users; keep it short and single-line. */
function safeText(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ').slice(0, 200);
}
