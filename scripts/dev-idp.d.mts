// Types for scripts/dev-idp.mjs (plain JS so that `node` runs it without a build).
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface IdpStats {
  /** successful refresh_token grants */
  refreshes: number;
  /** successful device_code grants */
  deviceGrants: number;
  /** successful client_credentials grants */
  clientCredentials: number;
  /** `grant.revoked` events: reuse detection and RFC 7009 revocation (not revokeGrantsFor) */
  revokedGrants: number;
  /** an already rotated refresh token was presented again */
  reuseDetected: number;
  /** every POST to the token endpoint, successful or not (device polls included) */
  tokenRequests: number;
  /** successful RFC 8693 token exchanges (client `workload`) */
  tokenExchanges: number;
  /** successful RFC 7523 JWT bearer grants (client `workload`) */
  jwtBearers: number;
}

/** One answer of the token endpoint that consumed or issued a refresh token. */
export interface Rotation {
  /** Date.now() when the request reached the provider's middleware */
  received: number;
  /** Date.now() when the answer was sent */
  at: number;
  /** e.g. refresh_token, urn:ietf:params:oauth:grant-type:device_code */
  grantType: string;
  /** the refresh token the client presented (refresh_token grant) */
  presented?: string;
  /** the refresh token the answer carried */
  issued?: string;
  /** the access token the answer carried */
  accessToken?: string;
  /** the OAuth error the answer carried, e.g. invalid_grant */
  error?: string;
}

export interface Introspection {
  active: boolean;
  [claim: string]: unknown;
}

export interface Idp {
  /** e.g. http://127.0.0.1:PORT */
  readonly issuer: string;
  /** the oidc-provider instance (untyped: oidc-provider ships no types) */
  readonly provider: unknown;
  readonly port: number;
  readonly stats: IdpStats;
  /** human-readable provider events, e.g. "grant.error invalid_grant: refresh token already used" */
  readonly events: string[];
  /** every access, refresh and ID token value the token endpoint returned */
  readonly issued: Set<string>;
  /** every answer that consumed or issued a refresh token, oldest first */
  readonly rotations: Rotation[];
  /** the `sub` of every subject token the `workload` client exchanged, oldest first */
  readonly subjects: string[];
  /** calls `watch` with each new rotation, as it is answered; returns the unsubscribe */
  onRotation(watch: (rotation: Rotation) => void): () => void;
  /** introspects any token as the confidential client `svc` */
  introspect(token: string): Promise<Introspection>;
  /** revokes the grant behind a refresh token; false if the provider doesn't know the token */
  revokeRefreshToken(refreshToken: string): Promise<boolean>;
  /** revokes every grant of an account (its access and refresh tokens die); returns the count */
  revokeGrantsFor(accountId: string): Promise<number>;
  /** closes the listener and all connections (clients get ECONNREFUSED); state is kept */
  stop(): Promise<void>;
  /** listens again on the same port */
  start(): Promise<void>;
  /**
   * `handler` sees every request before the provider; returning true means it answers it, or hands it
   * to the provider later by calling `pass`. undefined removes it.
   */
  intercept(handler: ((req: IncomingMessage, res: ServerResponse, pass: () => void) => boolean) | undefined): void;
  /** a JWT signed (RS256) with the provider's own ID token key; `header` adds to {alg, kid} */
  signJwt(payload: Record<string, unknown>, header?: Record<string, unknown>): string;
  close(): Promise<void>;
}

export interface StartIdpOptions {
  /** 0 (default) picks a free port */
  port?: number;
  /** seconds, for access tokens and client_credentials tokens; default 2 */
  accessTokenTtl?: number;
  /** seconds, for ID tokens (issued when the scopes include openid: at login and with each refresh); default 60 */
  idTokenTtl?: number;
  /** who "logs in" on every interaction; default 'alice' */
  account?: string;
  /** public keys (each with `alg`) of a `svc-jwt` client that authenticates with private_key_jwt */
  jwks?: { keys: Record<string, unknown>[] };
  /**
   * Issuers whose subject tokens the `workload` client may exchange (token exchange, JWT bearer): their
   * public keys, and the audience their tokens must carry (default WORKLOAD_AUDIENCE).
   */
  subjectIssuers?: { issuer: string; jwks: { keys: Record<string, unknown>[] }; audience?: string }[];
}

/** The audience a `workload` subject token must carry unless its issuer's entry says otherwise. */
export const WORKLOAD_AUDIENCE: string;

export function startIdp(options?: StartIdpOptions): Promise<Idp>;

/** Confirms a device login through the provider's own /device pages, like a user would. */
export function approveDeviceCode(verificationUriComplete: string): Promise<void>;

/** Aborts a device login; the polling client then gets access_denied. */
export function denyDeviceCode(verificationUriComplete: string): Promise<void>;
