// Wire types. A request is {"v":1,"id":…,"method":…,"params":{…}}; a response carries the same id.
import type { WireError } from './errors.js';

export const PROTOCOL_VERSION = 1;

/** Who is asking: self-reported by the client, for the log and `status` only. */
export interface CallerInfo {
  pid?: number;
  cmd?: string;
  /** Set by the daemon (never taken from a request) for a caller on the restricted socket: an SSH host or container. */
  forwarded?: boolean;
}

/** Values of env vars named by `client_secret_env`, sent from the caller's environment. */
export type EnvSecrets = Record<string, string>;

export interface GetTokenParams extends Narrowing {
  profile?: string;
  minTtl?: number;
  caller?: CallerInfo;
  env?: EnvSecrets;
}

/**
 * A token narrower than the session's own, obtained with the session's refresh token: other scopes,
 * within what the login was granted (sorted and without repeats, so one set has one name), and/or
 * one RFC 8707 resource among those the login asked for (the profile's `resources`).
 */
export interface Narrowing {
  scopes?: string[];
  resource?: string;
  /** For providers that name the API by audience (Auth0's multi-resource refresh tokens): one of the profile's audiences. */
  audience?: string;
}

/** get-token --id-token: the session's OpenID Connect ID token. */
export interface IdTokenParams {
  profile?: string;
  minTtl?: number;
  caller?: CallerInfo;
}

export interface IdTokenResult {
  id_token: string;
  /** Unix seconds; absent when the token has no exp. */
  expires_at?: number;
  profile: string;
}

export interface TokenResult {
  access_token: string;
  token_type: string;
  /** Unix seconds; absent when the provider did not say. */
  expires_at?: number;
  profile: string;
  /** A narrower token's scopes, resource or audience (get-token --scope/--resource/--audience), as asked: a client checks it was served one. */
  scopes?: string[];
  resource?: string;
  audience?: string;
  /**
   * Something the user should hear about, once a day at most (a stored secret older than the
   * profile's max_age): the client prints it on stderr as `authd: warning: …`, made printable.
   */
  warning?: string;
}

export interface LoginParams {
  profile?: string;
  env?: EnvSecrets;
  /** The login the user asked for (`--web`, `--device`); absent: as the profile's flow says. */
  flow?: 'browser' | 'device';
  /** What the client knows: can it open a browser here, and why (not). Absent (an older client): it cannot. */
  browser?: BrowserHint;
}

export interface BrowserHint {
  available: boolean;
  /** A few words for the user, e.g. "a display is available", "no display: SSH session". */
  reason: string;
}

export interface DeviceCodeInfo {
  verification_uri: string;
  verification_uri_complete?: string;
  user_code: string;
  expires_in: number;
  /** True when this login was already in progress and the caller joined it. */
  joined: boolean;
}

/** The session a login replaces once it completes (the profile was logged in when it started). */
export interface ReplacedSession {
  subject?: string;
  /** Unix seconds: when its current access token expires. */
  expires_at?: number;
}

/** A browser login (authorization code + PKCE): the daemon listens on redirect_uri until it ends. */
export interface BrowserLoginInfo {
  /** The provider's authorization URL, to open in a browser on this machine. */
  url: string;
  /** Where the provider sends the browser back (a loopback address of this machine). */
  redirect_uri: string;
  /** Seconds until the daemon stops waiting for it. */
  expires_in: number;
  /** True when this login was already in progress and the caller joined it. */
  joined: boolean;
}

/** `reason`: why this login and not the other, e.g. "no display: SSH session" (absent from older daemons). */
export type LoginStartResult =
  | { profile: string; status: 'pending'; device: DeviceCodeInfo; reason?: string; replaces?: ReplacedSession }
  | { profile: string; status: 'pending'; browser: BrowserLoginInfo; reason?: string; replaces?: ReplacedSession }
  | { profile: string; status: 'logged_in'; subject?: string };

export interface LoginWaitResult {
  profile: string;
  subject?: string;
}

export interface LogoutParams {
  profile?: string;
  all?: boolean;
}

export interface LogoutResult {
  profiles: { profile: string; revoked: boolean; removed: boolean; note?: string }[];
}

export interface ProfileStatus {
  profile: string;
  flow: string;
  isDefault: boolean;
  loggedIn: boolean;
  subject?: string;
  expires_at?: number;
  maskedToken?: string;
  refreshes: number;
  lastError?: string;
  loginPending: boolean;
  /** The session holds an ID token (get-token --id-token), expiring then (Unix seconds, if it says). */
  idToken?: { expires_at?: number };
  /** The narrower tokens held (get-token --scope/--resource), with their expiry (Unix seconds). */
  narrowed?: (Narrowing & { expires_at?: number })[];
  /** token_exchange, jwt_bearer: where the subject token comes from, e.g. "file /var/run/…" (never the token). */
  subjectTokenSource?: string;
  /** The secret stored with `authd secret set` (client_credentials and api_key profiles), if any. */
  secret?: SecretAge;
}

/**
 * A stored secret's dates as the daemon sees them (its clock, which may not be the client's): when
 * it was set, when it expires, and what is wrong with that.
 */
export interface SecretAge {
  /** Unix seconds; absent: set at an unknown time (stored before authd kept the date). */
  setAt?: number;
  /** Seconds since it was set, by the daemon's clock. */
  ageSeconds?: number;
  /** Unix seconds (`authd secret set --expires`). */
  expiresAt?: number;
  /** Seconds until it expires (negative: it has), by the daemon's clock. */
  expiresInSeconds?: number;
  /** The profile's max_age as written, e.g. "90d". */
  maxAge?: string;
  /** Older than max_age (or of unknown age under one), or expired: one sentence naming the command that rotates it. */
  warning?: string;
  /** Past its expiry: get-token refuses it. */
  expired?: boolean;
}

export interface AuditEntry {
  time: string;
  profile: string;
  /** Self-reported by the client: informative, not proof. */
  caller?: CallerInfo;
  /** First 12 hex digits of the token's SHA-256. */
  fingerprint: string;
}

export interface SecretSetParams {
  profile?: string;
  value: string;
  /** Unix seconds (`--expires`): after it, the secret is refused rather than used. */
  expiresAt?: number;
}

export interface SecretSetResult {
  profile: string;
  replaced: boolean;
  /** Unix seconds, as stored. */
  expiresAt?: number;
}

export interface StoreMigrateResult {
  from: string;
  to: string;
  moved: number;
  /** The config's `store = …` was rewritten to the new store. */
  configUpdated: boolean;
}

export interface StatusResult {
  daemon: {
    pid: number;
    version: string;
    startedAt: number;
    uptimeSeconds: number;
    socket: string;
    store: string;
    storeWarning?: string;
    configPath: string;
    /** Where the log and the file store live; absent from a daemon older than this field. */
    stateDir?: string;
    configError?: string;
    /** What guards the socket and the process (peer uid checks, not dumpable, no core files). */
    protection?: string;
    /** True when some of that is unavailable here. */
    protectionWarning?: boolean;
  };
  profiles: ProfileStatus[];
  /** The last tokens and keys served. */
  recent: AuditEntry[];
}

export interface ProfilesResult {
  defaultProfile?: string;
  configPath: string;
  /** `forward`: served on the restricted socket too (forward = true in its config). */
  profiles: { name: string; flow: string; issuer?: string; isDefault: boolean; forward?: true }[];
}

export interface PingResult {
  pid: number;
  version: string;
  socket: string;
  /** Answered on the restricted socket (an SSH host's or container's forward): get-token and git's get only. */
  restricted?: true;
  /** Its socket is its service manager's (systemd socket activation): it is started again at the next connection. */
  socketActivated?: boolean;
}

export interface DoctorCheck {
  name: string;
  ok: boolean;
  warn?: boolean;
  detail: string;
  fix?: string;
}

/** `authd profile add`'s options, by the preset that takes them (protocol/presets.ts). */
export interface PresetOptions {
  clientId?: string;
  tenant?: string;
  url?: string;
  realm?: string;
  issuer?: string;
  audience?: string;
  clientSecretPublic?: string;
  gitHosts?: string[];
}

export interface ProfileAddParams {
  profile: string;
  /** A preset name: github, gitlab, entra, … */
  provider: string;
  options: PresetOptions;
  /** Also make it the default profile. */
  makeDefault?: boolean;
}

export interface ProfileAddResult {
  profile: string;
  /** The provider's name, e.g. GitHub. */
  provider: string;
  configPath: string;
  /** The config file did not exist and was created. */
  created: boolean;
  /** The section as written. */
  section: string;
  madeDefault: boolean;
  /** What to register or switch on at the provider. */
  register: string[];
}

export interface ProfileRemoveResult {
  profile: string;
  configPath: string;
  /** default_profile named it and was removed. */
  defaultCleared: boolean;
}

export type GitAction = 'get' | 'store' | 'erase';

export interface GitCredentialParams {
  action: GitAction;
  /** The key=value lines git sent, in order (keys like capability[] repeat). */
  attrs: [string, string][];
  env?: EnvSecrets;
  caller?: CallerInfo;
}

export interface GitCredentialResult {
  /** Lines to print back to git; empty: git goes on to its next helper or prompt. */
  attrs: [string, string][];
  /** One line for the user on stderr, when something is wrong (e.g. login required). */
  message?: string;
}

export interface GitHostsResult {
  configPath: string;
  /** `auth`: how git gets the token (basic: username and password; bearer: authtype=Bearer where git can). */
  hosts: { host: string; profile: string; username: string; auth: 'basic' | 'bearer' }[];
}

/** Every socket method's params and result: the daemon checks params against these once (daemon/methods.ts). */
export interface Methods {
  ping: { params: Record<string, never>; result: PingResult };
  getToken: { params: GetTokenParams; result: TokenResult };
  getIdToken: { params: IdTokenParams; result: IdTokenResult };
  loginStart: { params: LoginParams; result: LoginStartResult };
  loginWait: { params: { profile?: string }; result: LoginWaitResult };
  logout: { params: LogoutParams; result: LogoutResult };
  status: { params: Record<string, never>; result: StatusResult };
  profiles: { params: Record<string, never>; result: ProfilesResult };
  use: { params: { profile: string }; result: { defaultProfile: string } };
  profileAdd: { params: ProfileAddParams; result: ProfileAddResult };
  profileRemove: { params: { profile: string }; result: ProfileRemoveResult };
  doctor: { params: Record<string, never>; result: { checks: DoctorCheck[] } };
  shutdown: { params: Record<string, never>; result: { pid: number; socketActivated?: boolean } };
  gitCredential: { params: GitCredentialParams; result: GitCredentialResult };
  gitHosts: { params: Record<string, never>; result: GitHostsResult };
  secretSet: { params: SecretSetParams; result: SecretSetResult };
  storeMigrate: { params: { to: 'keyring' | 'file' }; result: StoreMigrateResult };
}

export type MethodName = keyof Methods;

export interface Request<M extends MethodName = MethodName> {
  v: typeof PROTOCOL_VERSION;
  id: number | string;
  method: M;
  params?: Methods[M]['params'];
}

export type Response =
  | { id: number | string | null; result: unknown; error?: undefined }
  | { id: number | string | null; error: WireError; result?: undefined };

export const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
