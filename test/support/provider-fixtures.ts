// A local HTTP server that answers as one real provider's documentation shows: its endpoints and
// paths, its device-flow answers (GitHub's HTTP 200 errors, Google's `verification_url` and 428,
// Auth0's 403 and 429, Entra's AADSTS bodies), its token answers and lifetimes, and what it does
// with a refresh token once used (rotation, reuse, none). Each documented answer carries the URL of
// the page it comes from. See shared/research/providers.md for the survey these follow.
//
// A test scripts what the user does (the answers to the next device-login polls, an approval) and
// what happens elsewhere (another copy of the session redeeming a refresh token); the server keeps
// the rest of the state as the provider would: it answers a poll that comes sooner than the
// interval with `slow_down`, a spent or revoked refresh token with the provider's own error.
import { createSign, generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Home, ProfileSpec } from './harness.js';

export type ProviderName = 'github' | 'entra' | 'google' | 'okta' | 'auth0' | 'keycloak' | 'gitlab';

/** One answer as a provider documents it, with the page that shows it. */
export interface Reply {
  status: number;
  body: Record<string, unknown>;
  /** where the provider documents this answer (or, where it does not, who reports it) */
  doc: string;
}

/** What the next poll of a device login is answered with: an approval, one of the provider's errors, or any HTTP answer. */
export type PollStep = 'approve' | string | { status: number; contentType: string; body: string };

/** What a refresh token does once used. */
type Rotation =
  /** a new refresh token each time; the used one dies (GitHub App, GitLab) */
  | 'single-use'
  /** a new one each time; presenting a used one revokes every token of the login (Auth0 with rotation) */
  | 'family'
  /** a new one each time; the used one stays valid (Entra; Keycloak with "Revoke Refresh Token" off, its default) */
  | 'kept'
  /** the same refresh token comes back (Okta native apps by default) */
  | 'persistent'
  /** no refresh token in the answer: keep the one you have (Google) */
  | 'none';

interface Dialect {
  /** paths on the fixture's origin, as the provider names them */
  paths: { device: string; token: string; revocation?: string };
  /** the issuer's path (OIDC discovery); GitHub has no discovery */
  issuerPath?: string;
  /** expires_in of an access token, as documented */
  lifetime: number;
  /** the device authorization answer, minus interval */
  device(origin: string, deviceCode: string, userCode: string): Record<string, unknown>;
  /** an error answer: the provider's status and body for `code` */
  error(code: string, detail?: ErrorDetail): Reply;
  /** the token answer (access and, where given, refresh token) */
  token(t: Issued): Record<string, unknown>;
  rotation: Rotation;
  /** the error a refresh token the provider no longer honours gets */
  deadRefresh: string;
  /** the answer to an RFC 7009 revocation */
  revoked?: Reply;
  /**
   * The error a refresh gets for the scopes it asks for (`scope`, undefined when not sent), given
   * those its login asked for (undefined for a refresh token the provider does not know); none: fine.
   */
  refreshScope?(scope: string | undefined, login: readonly string[] | undefined): { code: string; detail: ErrorDetail } | undefined;
}

export interface ErrorDetail {
  /** Entra: the AADSTS number */
  aadsts?: number;
  /** the error_description, where the provider uses several for one code */
  description?: string;
}

interface Issued {
  accessToken: string;
  refreshToken?: string;
  /** seconds */
  expiresIn: number;
  idToken?: string;
  /** a refresh answer (not the login's) */
  refresh: boolean;
}

const GITHUB_DEVICE = 'https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps#device-flow';
const ENTRA_ERRORS = 'https://learn.microsoft.com/entra/identity-platform/reference-error-codes';
const GOOGLE_DEVICE = 'https://developers.google.com/identity/protocols/oauth2/limited-input-device';
const AUTH0_DEVICE = 'https://auth0.com/docs/get-started/authentication-and-authorization-flow/device-authorization-flow/call-your-api-using-the-device-authorization-flow';
const OKTA_DEVICE = 'https://developer.okta.com/docs/guides/device-authorization-grant/main/';
const KEYCLOAK_ENDPOINTS = 'https://www.keycloak.org/securing-apps/oidc-layers';
const GITLAB_OAUTH = 'https://docs.gitlab.com/api/oauth2/';

const json = (status: number, body: Record<string, unknown>, doc: string): Reply => ({ status, body, doc });

/** The providers, each as its own pages show it. */
const DIALECTS: Record<ProviderName, Dialect> = {
  github: {
    // No discovery; the device and token endpoints of github.com (GHES: the same paths on its host).
    paths: { device: '/login/device/code', token: '/login/oauth/access_token' },
    lifetime: 28800,
    device: (origin, deviceCode, userCode) => ({
      device_code: deviceCode, user_code: userCode, verification_uri: `${origin}/login/device`, expires_in: 900,
    }),
    // "Until the user enters the code, GitHub will respond with a 200 status and an `error`" (https://docs.github.com/en/apps/
    // creating-github-apps/authenticating-with-a-github-app/generating-a-user-access-token-for-a-github-app#using-the-device-flow-to-generate-a-user-access-token),
    // for every error of the device flow; a spent refresh token too (bad_refresh_token, HTTP 200:
    // https://github.com/interlink-hq/interLink/pull/262 logs GitHub's answer; GitHub documents no refresh errors).
    error: (code) => json(200, {
      error: code,
      error_description: GITHUB_ERRORS[code] ?? code,
      error_uri: 'https://docs.github.com/developers/apps/authorizing-oauth-apps#error-codes-for-the-device-flow',
    }, GITHUB_DEVICE),
    // GitHub App user tokens: expires_in "always 28800", refresh_token_expires_in 15897600, scope ""
    // (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens,
    // data/reusables/apps/user-access-token-response-parameters.md); token_type "bearer" (GITHUB_DEVICE).
    token: (t) => ({
      access_token: t.accessToken, expires_in: t.expiresIn, refresh_token: t.refreshToken, refresh_token_expires_in: 15897600,
      token_type: 'bearer', scope: '',
    }),
    // "Once you use a refresh token, that refresh token and the old user access token will no longer work." (the page above)
    rotation: 'single-use',
    deadRefresh: 'bad_refresh_token',
  },
  entra: {
    paths: { device: '/TENANT/oauth2/v2.0/devicecode', token: '/TENANT/oauth2/v2.0/token' },
    issuerPath: '/TENANT/v2.0',
    lifetime: 3599,
    // No verification_uri_complete ("not included or supported at this time"), and a `message`:
    // https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code#device-authorization-response
    device: (origin, deviceCode, userCode) => ({
      user_code: userCode, device_code: deviceCode, verification_uri: `${origin}/devicelogin`, expires_in: 900,
      message: `To sign in, use a web browser to open the page ${origin}/devicelogin and enter the code ${userCode} to authenticate.`,
    }),
    // The error shape of https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#error-response-1
    // and ENTRA_ERRORS: HTTP 400 (401 for invalid_client), AADSTS code, trace and correlation ids in the description.
    error: (code, detail) => {
      const aadsts = detail?.aadsts ?? ENTRA_AADSTS[code]?.[0];
      const text = detail?.description ?? ENTRA_AADSTS[code]?.[1] ?? code;
      const trace = '0000aaaa-11bb-cccc-dd22-eeeeee333333';
      const correlation = 'aaaa0000-bb11-2222-33cc-444444dddddd';
      const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
      const body: Record<string, unknown> = {
        error: code,
        error_description: `${aadsts ? `AADSTS${aadsts}: ` : ''}${text}\r\nTrace ID: ${trace}\r\nCorrelation ID: ${correlation}\r\nTimestamp: ${timestamp}`,
        error_codes: aadsts ? [aadsts] : [],
        timestamp, trace_id: trace, correlation_id: correlation,
      };
      if (aadsts) body.error_uri = `https://login.microsoftonline.com/error?code=${aadsts}`;
      return json(code === 'invalid_client' ? 401 : 400, body, ENTRA_ERRORS);
    },
    token: (t) => ({
      token_type: 'Bearer', scope: 'User.Read profile openid email', expires_in: t.expiresIn, access_token: t.accessToken,
      refresh_token: t.refreshToken, id_token: t.idToken,
    }),
    // "Refresh tokens aren't revoked when used to acquire new access tokens." https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token
    rotation: 'kept',
    deadRefresh: 'invalid_grant',
    // Microsoft's refresh request carries `scope`: "The scopes requested in this leg must be equivalent to or a
    // subset of the scopes requested in the original authorization_code request leg" (the page above). Older copies
    // of the page mark it required, the current one optional, without saying which token a refresh without it
    // gets; Entra refuses some ("the scope parameter is not specified", AADSTS90023, as a user reports at
    // https://learn.microsoft.com/en-us/answers/questions/1822191/how-to-fix-aadsts90023-the-request-is-not-valid-th).
    // The fixture keeps the stricter rule. Answers: a missing parameter's AADSTS900144 (ENTRA_ERRORS); a scope
    // beyond the login's, the refresh error the page shows (invalid_scope, AADSTS70011).
    refreshScope: (scope, login) => {
      if (!scope) return { code: 'invalid_request', detail: { aadsts: 900144, description: "The request body must contain the following parameter: 'scope'." } };
      const beyond = scope.split(' ').filter((s) => s && login && !login.includes(s));
      if (beyond.length === 0) return undefined;
      return { code: 'invalid_scope', detail: { aadsts: 70011, description: `The provided value for the input parameter 'scope' is not valid. The scope ${beyond.join(' ')} is not valid.` } };
    },
    // No revocation endpoint (https://learn.microsoft.com/graph/api/user-revokesigninsessions is all there is).
  },
  google: {
    paths: { device: '/device/code', token: '/token', revocation: '/revoke' },
    issuerPath: '',
    lifetime: 3599,
    // `verification_url`, not `verification_uri`; no verification_uri_complete (GOOGLE_DEVICE, step 2).
    // Google's polls also carry the client's (not secret) client_secret (step 4): not checked here;
    // test/preset-logins.test.ts checks that the google preset's client_secret_public is sent.
    device: (origin, deviceCode, userCode) => ({
      device_code: deviceCode, user_code: userCode, verification_url: `${origin}/device`, expires_in: 1800,
    }),
    // GOOGLE_DEVICE, step 6: 428 authorization_pending, 403 slow_down and access_denied; 400/401 for the rest.
    // expired_token is not in Google's table: 400, as RFC 8628 §3.5 says (and as client fakes have it).
    // invalid_grant on a refresh: "Token has been expired or revoked."
    // (https://developers.google.com/google-ads/api/docs/get-started/common-errors).
    error: (code, detail) => {
      const [status, description] = GOOGLE_ERRORS[code] ?? [400, 'Bad Request'];
      return json(status, { error: code, error_description: detail?.description ?? description }, GOOGLE_DEVICE);
    },
    token: (t) => {
      const body: Record<string, unknown> = {
        access_token: t.accessToken, expires_in: t.expiresIn, token_type: 'Bearer',
        scope: 'openid https://www.googleapis.com/auth/userinfo.email',
      };
      // "refresh tokens are always returned for devices"; a refresh answer carries only a new access token (GOOGLE_DEVICE).
      if (!t.refresh) Object.assign(body, { refresh_token: t.refreshToken, id_token: t.idToken });
      return body;
    },
    rotation: 'none',
    deadRefresh: 'invalid_grant',
    // "If the revocation is successfully processed, then the HTTP status code of the response is 200." (GOOGLE_DEVICE)
    revoked: json(200, {}, `${GOOGLE_DEVICE}#tokenrevoke`),
  },
  okta: {
    paths: { device: '/oauth2/default/v1/device/authorize', token: '/oauth2/default/v1/token', revocation: '/oauth2/default/v1/revoke' },
    issuerPath: '/oauth2/default',
    lifetime: 3600,
    device: (origin, deviceCode, userCode) => ({
      device_code: deviceCode, user_code: userCode, verification_uri: `${origin}/activate`,
      verification_uri_complete: `${origin}/activate?user_code=${userCode}`, expires_in: 600,
    }),
    error: (code, detail) => json(code === 'invalid_client' ? 401 : 400,
      { error: code, error_description: detail?.description ?? OKTA_ERRORS[code] ?? code }, OKTA_DEVICE),
    token: (t) => ({
      token_type: 'Bearer', expires_in: t.expiresIn, access_token: t.accessToken, scope: 'openid offline_access',
      refresh_token: t.refreshToken, id_token: t.idToken,
    }),
    // Native apps keep one refresh token unless "Rotate token after every use" is on:
    // https://developer.okta.com/docs/guides/refresh-tokens/main/#refresh-token-rotation
    rotation: 'persistent',
    deadRefresh: 'invalid_grant',
    // An invalid or expired token still gets 200: https://developer.okta.com/docs/guides/revoke-tokens/main/
    revoked: json(200, {}, 'https://developer.okta.com/docs/guides/revoke-tokens/main/'),
  },
  auth0: {
    paths: { device: '/oauth/device/code', token: '/oauth/token', revocation: '/oauth/revoke' },
    issuerPath: '/',
    lifetime: 86400,
    device: (origin, deviceCode, userCode) => ({
      device_code: deviceCode, user_code: userCode, verification_uri: `${origin}/activate`,
      verification_uri_complete: `${origin}/activate?user_code=${userCode}`, expires_in: 900,
    }),
    // AUTH0_DEVICE: 403 authorization_pending, 429 slow_down, 403 access_denied and expired_token ("returned exactly
    // once; after that, invalid_grant"). A refresh token Auth0 no longer honours: 403 invalid_grant "Unknown or invalid
    // refresh token." (https://support.auth0.com/center/s/article/troubleshoot-refresh-token-unknown-or-invalid-before-expiry-403-unknown-or-invalid-refresh-token)
    error: (code, detail) => {
      const [status, description] = AUTH0_ERRORS[code] ?? [403, code];
      return json(status, { error: code, error_description: detail?.description ?? description }, AUTH0_DEVICE);
    },
    token: (t) => ({
      access_token: t.accessToken, refresh_token: t.refreshToken, id_token: t.idToken, scope: 'openid offline_access',
      expires_in: t.expiresIn, token_type: 'Bearer',
    }),
    // With "Allow Refresh Token Rotation": reuse "immediately invalidates the refresh token family"
    // (https://auth0.com/docs/secure/tokens/refresh-tokens/refresh-token-rotation); leeway off by default.
    rotation: 'family',
    deadRefresh: 'invalid_grant',
    revoked: json(200, {}, 'https://auth0.com/docs/api/authentication/revoke-refresh-token/revoke-refresh-token'),
  },
  keycloak: {
    paths: {
      device: '/realms/acme/protocol/openid-connect/auth/device', token: '/realms/acme/protocol/openid-connect/token',
      revocation: '/realms/acme/protocol/openid-connect/revoke',
    },
    issuerPath: '/realms/acme',
    lifetime: 300,
    device: (origin, deviceCode, userCode) => ({
      device_code: deviceCode, user_code: userCode, verification_uri: `${origin}/realms/acme/device`,
      verification_uri_complete: `${origin}/realms/acme/device?user_code=${userCode}`, expires_in: 600,
    }),
    // invalid_grant "Token is not active" (the refresh token expired) or "Session not active" (the SSO session ended),
    // HTTP 400: keycloak/keycloak services/.../protocol/oidc/TokenManager.java.
    error: (code, detail) => json(code === 'invalid_client' ? 401 : 400,
      { error: code, error_description: detail?.description ?? KEYCLOAK_ERRORS[code] ?? code }, KEYCLOAK_ENDPOINTS),
    token: (t) => ({
      access_token: t.accessToken, expires_in: t.expiresIn, refresh_expires_in: 1800, refresh_token: t.refreshToken,
      token_type: 'Bearer', id_token: t.idToken, 'not-before-policy': 0, session_state: 'f7d8c1a2', scope: 'openid profile email',
    }),
    // "Revoke Refresh Token" is off by default: https://www.keycloak.org/docs/latest/server_admin/#_timeouts
    rotation: 'kept',
    deadRefresh: 'invalid_grant',
    revoked: json(200, {}, KEYCLOAK_ENDPOINTS),
  },
  gitlab: {
    paths: { device: '/oauth/authorize_device', token: '/oauth/token', revocation: '/oauth/revoke' },
    issuerPath: '',
    lifetime: 7200,
    device: (origin, deviceCode, userCode) => ({
      device_code: deviceCode, user_code: userCode, verification_uri: `${origin}/oauth/device`,
      verification_uri_complete: `${origin}/oauth/device?user_code=${userCode}`, expires_in: 300,
    }),
    // Doorkeeper's errors: 400 (401 invalid_client).
    error: (code, detail) => json(code === 'invalid_client' ? 401 : 400,
      { error: code, error_description: detail?.description ?? GITLAB_ERRORS[code] ?? code }, GITLAB_OAUTH),
    // GITLAB_OAUTH: expires_in 7200 and created_at. (Its device-flow example shows no refresh_token: unverified.)
    token: (t) => ({
      access_token: t.accessToken, token_type: 'Bearer', expires_in: t.expiresIn, refresh_token: t.refreshToken,
      scope: 'openid read_repository', created_at: Math.floor(Date.now() / 1000), id_token: t.idToken,
    }),
    // Refreshing "invalidates the existing access_token and refresh_token" (GITLAB_OAUTH).
    rotation: 'single-use',
    deadRefresh: 'invalid_grant',
    // "POST /oauth/revoke … returns 200 and {}" (GITLAB_OAUTH, "Revoke a token").
    revoked: json(200, {}, GITLAB_OAUTH),
  },
};

// The texts GITHUB_DEVICE gives each error code.
const GITHUB_ERRORS: Record<string, string> = {
  authorization_pending: 'The authorization request is still pending.',
  slow_down: 'Too many requests have been made in the same timeframe.',
  expired_token: 'The `device_code` has expired.',
  token_expired: 'The `device_code` has expired.',
  incorrect_client_credentials: 'The client_id and/or client_secret passed are incorrect.',
  incorrect_device_code: 'The device_code provided is not valid.',
  access_denied: 'The authorization request was denied.',
  device_flow_disabled: 'Device Flow must be explicitly enabled for this App',
  bad_refresh_token: 'The refresh token passed is incorrect or expired.',
};

// [AADSTS, text] from ENTRA_ERRORS.
const ENTRA_AADSTS: Record<string, [number | undefined, string]> = {
  authorization_pending: [70016, 'OAuth 2.0 device flow error. Authorization is pending. Continue polling.'],
  expired_token: [70019, 'Verification code expired.'],
  bad_verification_code: [70018, 'Invalid verification code due to User typing in wrong user code for device code flow.'],
  // v2-oauth2-device-code lists the code with no AADSTS number.
  authorization_declined: [undefined, 'The end user denied the authorization request.'],
  invalid_grant: [700082, 'The refresh token has expired due to inactivity. The token was issued on 2026-05-01T09:12:44.000Z and was inactive for 90.00:00:00.'],
  interaction_required: [50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000003-0000-0000-c000-000000000000'."],
  invalid_client: [7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."],
  unauthorized_client: [700016, "Application with identifier '11112222-bbbb-3333-cccc-4444dddd5555' was not found in the directory 'Contoso'."],
};

// [status, text] from GOOGLE_DEVICE, step 6, and the refresh error above.
const GOOGLE_ERRORS: Record<string, [number, string]> = {
  authorization_pending: [428, 'Precondition Required'],
  slow_down: [403, 'Forbidden'],
  access_denied: [403, 'Forbidden'],
  expired_token: [400, 'Bad Request'],
  invalid_grant: [400, 'Token has been expired or revoked.'],
  invalid_client: [401, 'The OAuth client was not found.'],
};

// [status, text] from AUTH0_DEVICE's response samples (expired_token's text is not shown there).
const AUTH0_ERRORS: Record<string, [number, string]> = {
  authorization_pending: [403, 'User has yet to authorize device code.'],
  slow_down: [429, 'You are polling faster than the specified interval of 5 seconds.'],
  access_denied: [403, 'User cancelled the confirmation prompt or consent page; the code is no longer valid.'],
  expired_token: [403, 'Device Authorization Request has expired'],
  invalid_grant: [403, 'Unknown or invalid refresh token.'],
};

// Okta's texts (OKTA_DEVICE shows the codes; the pending and refresh texts are Okta's answers as clients log them).
const OKTA_ERRORS: Record<string, string> = {
  authorization_pending: 'The device authorization is pending. Please try again later.',
  slow_down: 'The client is polling too frequently.',
  expired_token: 'The device code is expired.',
  access_denied: 'The resource owner or authorization server denied the request.',
  invalid_grant: 'The refresh token is invalid or expired.',
};

// keycloak/keycloak services/.../protocol/oidc/grants/device/DeviceGrantType.java (all HTTP 400).
const KEYCLOAK_ERRORS: Record<string, string> = {
  authorization_pending: 'The authorization request is still pending',
  slow_down: 'Slow down',
  expired_token: 'Device code is expired',
  access_denied: 'The end user denied the authorization request',
  invalid_grant: 'Token is not active',
};

// Doorkeeper's texts (RFC 6749 §5.2 and RFC 8628 §3.5 wording), which GitLab answers with.
const GITLAB_ERRORS: Record<string, string> = {
  authorization_pending: "The authorization request is still pending as the end user hasn't yet completed the user-interaction steps.",
  slow_down: 'The authorization request is still pending and polling should continue, but the interval must be increased.',
  expired_token: 'The device_code has expired, and the device authorization session has concluded.',
  access_denied: 'The resource owner or authorization server denied the request.',
  invalid_grant: 'The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.',
};

/** One request the fixture saw. */
export interface Seen {
  kind: 'discovery' | 'device authorization' | 'poll' | 'refresh' | 'revocation' | 'other';
  /** Date.now() when it arrived */
  at: number;
  /** the Accept header */
  accept: string;
  /** the form fields it sent */
  form: Record<string, string>;
  /** the status and error code it was answered with */
  status?: number;
  error?: string;
}

interface Device {
  steps: PollStep[];
  /** Date.now() of the device authorization answer, then of each poll */
  last: number;
  /** seconds, as the provider currently demands */
  interval: number;
  done: boolean;
  /** the scopes the login asked for */
  scopes: string[];
}

interface RefreshToken {
  family: number;
  state: 'live' | 'spent' | 'revoked';
}

export interface FixtureOptions {
  /** the `interval` of the device authorization answer (documented: 5; 1 keeps tests short) */
  interval?: number;
}

let signingKey: { privateKey: KeyObject; jwk: Record<string, unknown> } | undefined;

function key(): { privateKey: KeyObject; jwk: Record<string, unknown> } {
  if (!signingKey) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    signingKey = { privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid: 'fixture', alg: 'RS256', use: 'sig' } };
  }
  return signingKey;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** One provider, answering as documented on 127.0.0.1. */
export class ProviderFixture {
  readonly requests: Seen[] = [];
  /** Every token issued, for the leak check. */
  readonly issued = new Set<string>();
  /** What the next device login's polls are answered with, in order (the last one repeats). */
  polls: PollStep[] = ['authorization_pending', 'approve'];
  /** Answers for the next refreshes, before the provider's own rules (error codes). */
  readonly refreshScript: (string | { code: string; detail?: ErrorDetail })[] = [];
  /** who logs in */
  subject = 'alice';
  /** a used refresh token presented again (by anyone) */
  reuses = 0;

  private server!: Server;
  private readonly dialect: Dialect;
  private readonly devices = new Map<string, Device>();
  private readonly refreshTokens = new Map<string, RefreshToken>();
  /** The scopes each login (a family of refresh tokens) asked for. */
  private readonly loginScopes = new Map<number, string[]>();
  private families = 0;
  /** The refresh token of the last login. */
  loginRefreshToken: string | undefined;

  private constructor(readonly name: ProviderName, private readonly opts: FixtureOptions) {
    this.dialect = DIALECTS[name];
  }

  static async start(name: ProviderName, opts: FixtureOptions = {}): Promise<ProviderFixture> {
    const f = new ProviderFixture(name, opts);
    f.server = createServer((req, res) => {
      f.handle(req, res).catch((err: unknown) => {
        res.writeHead(500).end(String(err));
      });
    });
    f.server.listen(0, '127.0.0.1');
    await once(f.server, 'listening');
    return f;
  }

  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get issuer(): string | undefined {
    return this.dialect.issuerPath === undefined ? undefined : this.url(this.dialect.issuerPath);
  }

  /** The documented access-token lifetime, in seconds. */
  get lifetime(): number {
    return this.dialect.lifetime;
  }

  /** An authd profile for this provider: explicit endpoints for GitHub, discovery for the rest. */
  profile(extra: ProfileSpec = {}): ProfileSpec {
    const base: ProfileSpec = this.issuer === undefined
      ? {
          device_authorization_endpoint: this.url(this.dialect.paths.device), token_endpoint: this.url(this.dialect.paths.token),
          client_id: 'Iv23liFixtureApp01', scopes: [], git_username: 'x-access-token',
        }
      : { issuer: this.issuer, client_id: `${this.name}-authd-cli` };
    return { ...base, flow: 'device', refresh_ahead: false, ...extra };
  }

  /** Polls of the device login, in order. */
  get polled(): Seen[] {
    return this.requests.filter((r) => r.kind === 'poll');
  }

  get refreshes(): Seen[] {
    return this.requests.filter((r) => r.kind === 'refresh');
  }

  /**
   * Another copy of the session (a second machine, a restored backup) redeems `rt` at the provider:
   * what the provider then does to the tokens is its own rule (rotation, reuse detection).
   */
  refreshElsewhere(rt = this.loginRefreshToken): Reply {
    if (!rt) throw new Error('no refresh token to redeem');
    return this.redeem(rt);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** A test's end: the home and this fixture go, and nothing this fixture issued may be in home's messages or state. */
  async closeWith(home: Home): Promise<void> {
    const texts = { stderr: home.stderrs.join('\n'), state: home.stateFilesText() };
    await home.dispose();
    await this.close();
    for (const secret of this.issued) {
      for (const [where, text] of Object.entries(texts)) if (text.includes(secret)) throw new Error(`${where} contains a token (${secret.slice(0, 6)}…)`);
    }
  }

  private url(path: string): string {
    return `${this.origin}${path.replace('TENANT', '9188040d-6c67-4c5b-b112-36a304b66dad')}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', this.origin).pathname;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    const seen: Seen = { kind: 'other', at: Date.now(), accept: req.headers.accept ?? '', form };
    this.requests.push(seen);
    const send = (status: number, body: Record<string, unknown>) => {
      seen.status = status;
      if (typeof body.error === 'string') seen.error = body.error;
      this.write(req, res, status, body);
    };
    const paths = this.dialect.paths;
    const issuer = this.issuer;
    if (req.method === 'GET' && issuer !== undefined && path === `${new URL(issuer).pathname.replace(/\/$/, '')}/.well-known/openid-configuration`) {
      seen.kind = 'discovery';
      const meta: Record<string, unknown> = {
        issuer, authorization_endpoint: `${issuer.replace(/\/$/, '')}/authorize`, token_endpoint: this.url(paths.token),
        device_authorization_endpoint: this.url(paths.device), jwks_uri: `${this.origin}/jwks`,
        response_types_supported: ['code'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'],
        grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      };
      if (paths.revocation) meta.revocation_endpoint = this.url(paths.revocation);
      send(200, meta);
      return;
    }
    if (req.method === 'GET' && path === '/jwks') {
      send(200, { keys: [key().jwk] });
      return;
    }
    if (req.method !== 'POST') {
      send(404, { error: 'not_found' });
      return;
    }
    if (path === this.url(paths.device).slice(this.origin.length)) {
      seen.kind = 'device authorization';
      const deviceCode = randomBytes(20).toString('hex');
      const userCode = `${randomBytes(2).toString('hex').toUpperCase()}-${randomBytes(2).toString('hex').toUpperCase()}`;
      const interval = this.opts.interval ?? 1;
      const scopes = (form.scope ?? '').split(' ').filter(Boolean);
      this.devices.set(deviceCode, { steps: [...this.polls], last: Date.now(), interval, done: false, scopes });
      send(200, { ...this.dialect.device(this.origin, deviceCode, userCode), interval });
      return;
    }
    if (path === this.url(paths.token).slice(this.origin.length)) {
      if (form.grant_type === 'urn:ietf:params:oauth:grant-type:device_code') {
        seen.kind = 'poll';
        this.poll(form.device_code ?? '', seen, res, send);
        return;
      }
      if (form.grant_type === 'refresh_token') {
        seen.kind = 'refresh';
        const scripted = this.refreshScript.shift();
        if (scripted !== undefined) {
          const r = typeof scripted === 'string' ? this.dialect.error(scripted) : this.dialect.error(scripted.code, scripted.detail);
          send(r.status, r.body);
          return;
        }
        const family = this.refreshTokens.get(form.refresh_token ?? '')?.family;
        const refused = this.dialect.refreshScope?.(form.scope, family === undefined ? undefined : this.loginScopes.get(family));
        const r = refused ? this.dialect.error(refused.code, refused.detail) : this.redeem(form.refresh_token ?? '');
        send(r.status, r.body);
        return;
      }
      const r = this.dialect.error('unsupported_grant_type');
      send(r.status === 200 ? 200 : 400, r.body);
      return;
    }
    if (paths.revocation && path === this.url(paths.revocation).slice(this.origin.length) && this.dialect.revoked) {
      seen.kind = 'revocation';
      const rt = this.refreshTokens.get(form.token ?? '');
      if (rt) this.revokeFamily(rt.family);
      send(this.dialect.revoked.status, this.dialect.revoked.body);
      return;
    }
    send(404, { error: 'not_found' });
  }

  private poll(code: string, seen: Seen, res: ServerResponse, send: (status: number, body: Record<string, unknown>) => void): void {
    const device = this.devices.get(code);
    if (!device || device.done) {
      const r = this.dialect.error(this.name === 'github' ? 'incorrect_device_code' : this.name === 'entra' ? 'bad_verification_code' : 'invalid_grant');
      send(r.status, r.body);
      return;
    }
    const now = Date.now();
    const early = now - device.last < device.interval * 1000 - 100;
    device.last = now;
    if (early) {
      // Sooner than the interval: RFC 8628 §3.5 slow_down, "5 seconds for this and all subsequent requests";
      // GitHub's answer "includes the new interval that you must use" (GITHUB_DEVICE).
      device.interval += 5;
      this.slowDown(device, send);
      return;
    }
    const step = device.steps.length > 1 ? device.steps.shift()! : device.steps[0]!;
    if (typeof step === 'object') {
      seen.status = step.status;
      res.writeHead(step.status, { 'content-type': step.contentType }).end(step.body);
      return;
    }
    if (step === 'approve') {
      device.done = true;
      const t = this.issue(false);
      this.loginRefreshToken = t.refreshToken;
      if (t.refreshToken) this.loginScopes.set(this.refreshTokens.get(t.refreshToken)!.family, device.scopes);
      send(200, this.dialect.token(t));
      return;
    }
    if (step === 'slow_down') {
      device.interval += 5;
      this.slowDown(device, send);
      return;
    }
    // Auth0 answers expired_token "exactly once; after that, invalid_grant is returned" (AUTH0_DEVICE).
    if (step === 'expired_token' && this.name === 'auth0') device.steps = ['invalid_grant'];
    const r = this.dialect.error(step, this.name === 'auth0' && step === 'invalid_grant' ? { description: 'Invalid or expired device code.' } : undefined);
    send(r.status, r.body);
  }

  private slowDown(device: Device, send: (status: number, body: Record<string, unknown>) => void): void {
    const r = this.dialect.error('slow_down');
    send(r.status, this.name === 'github' ? { ...r.body, interval: device.interval } : r.body);
  }

  /** A refresh with `rt`, under the provider's rules. */
  private redeem(rt: string): Reply {
    const known = this.refreshTokens.get(rt);
    if (known?.state !== 'live') {
      if (known?.state === 'spent') {
        this.reuses++;
        // Auth0: reuse "immediately invalidates the refresh token family".
        if (this.dialect.rotation === 'family') this.revokeFamily(known.family);
      }
      return this.dialect.error(this.dialect.deadRefresh);
    }
    const rotation = this.dialect.rotation;
    if (rotation === 'single-use' || rotation === 'family') known.state = 'spent';
    const t = this.issue(true, rotation === 'single-use' || rotation === 'family' || rotation === 'kept' ? known.family : undefined);
    if (rotation === 'persistent') t.refreshToken = rt;
    if (rotation === 'none') t.refreshToken = undefined;
    return json(200, this.dialect.token(t), 'refresh');
  }

  private revokeFamily(family: number): void {
    for (const t of this.refreshTokens.values()) if (t.family === family) t.state = 'revoked';
  }

  /** New tokens: a new refresh token (of `family`, or a new login's) unless the provider keeps the old one. */
  private issue(refresh: boolean, family?: number): Issued {
    const prefix = this.name === 'github' ? ['ghu_', 'ghr_'] : this.name === 'google' ? ['ya29.', '1//0'] : ['', ''];
    const accessToken = `${prefix[0]}${randomBytes(27).toString('base64url')}`;
    const t: Issued = { accessToken, expiresIn: this.dialect.lifetime, refresh };
    this.issued.add(accessToken);
    if (!refresh || (this.dialect.rotation !== 'persistent' && this.dialect.rotation !== 'none')) {
      t.refreshToken = `${prefix[1]}${randomBytes(54).toString('base64url')}`;
      this.refreshTokens.set(t.refreshToken, { family: family ?? ++this.families, state: 'live' });
      this.issued.add(t.refreshToken);
    }
    if (this.issuer !== undefined) {
      t.idToken = this.idToken();
      this.issued.add(t.idToken);
    }
    return t;
  }

  private idToken(): string {
    const now = Math.floor(Date.now() / 1000);
    const head = b64({ alg: 'RS256', kid: 'fixture', typ: 'JWT' });
    const body = b64({ iss: this.issuer, sub: this.subject, aud: `${this.name}-authd-cli`, iat: now, exp: now + 3600 });
    const sig = createSign('RSA-SHA256').update(`${head}.${body}`).sign(key().privateKey).toString('base64url');
    return `${head}.${body}.${sig}`;
  }

  /** GitHub answers form-encoded unless asked for JSON (GITHUB_DEVICE: "By default, the response takes the following form"). */
  private write(req: IncomingMessage, res: ServerResponse, status: number, body: Record<string, unknown>): void {
    if (this.name === 'github' && !(req.headers.accept ?? '').includes('application/json')) {
      const form = new URLSearchParams();
      for (const [k, v] of Object.entries(body)) if (v !== undefined) form.set(k, String(v));
      res.writeHead(status, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }).end(form.toString());
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(body));
  }
}
