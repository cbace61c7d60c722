// What a config file may say: read, parse and validate it (errors name file, line and field).
// A config holds no secrets: client secrets and API keys live in the store or in an env var it names.
import { dirname, isAbsolute, join } from 'node:path';
import { parse, TomlDate, TomlError, type TomlTableWithoutBigInt, type TomlValueWithoutBigInt } from 'smol-toml';
import { closest } from '../../protocol/closest.js';
import { AuthdError } from '../../protocol/errors.js';
import { isLoopbackUrl } from '../../protocol/loopback.js';
import { readTrustedFile } from '../../protocol/perms.js';
import { PROFILE_NAME } from '../../protocol/types.js';
import { dotted, type KeyLine, locate, scanKeyLines, tomlKey } from './toml-keys.js';

/**
 * device, browser and auto are a person logging in (interactive); auto picks one of the two at each login.
 * token_exchange (RFC 8693) and jwt_bearer (RFC 7523) trade a workload's own short-lived token (the subject
 * token: a CI job's or a pod's) for an access token: no secret is stored.
 */
export type Flow = 'device' | 'browser' | 'auto' | 'client_credentials' | 'api_key' | 'token_exchange' | 'jwt_bearer';
export type StoreChoice = 'auto' | 'keyring' | 'file' | 'memory';
export type ClientAuth = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
const CLIENT_AUTHS: readonly ClientAuth[] = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'];

export interface ProfileConfig {
  name: string;
  /** OIDC discovery. Kept exactly as written: it must match the provider's `issuer` metadata. */
  issuer?: string;
  /** Explicit endpoints (no discovery). */
  device_authorization_endpoint?: string;
  /** The browser login's (GitHub has no discovery); overrides what discovery says. */
  authorization_endpoint?: string;
  token_endpoint?: string;
  revocation_endpoint?: string;
  /** Required for device and client_credentials; '' allowed for api_key. */
  client_id: string;
  /** Default 'auto'. */
  flow: Flow;
  /**
   * The browser login's loopback redirect, as validated by loopbackRedirect (http, 127.0.0.1, [::1]
   * or localhost). Default: http://127.0.0.1:<a free port>/callback.
   */
  redirect_uri?: string;
  /** Default ['openid', 'offline_access'] for interactive flows, [] otherwise. */
  scopes: string[];
  audience?: string;
  /** Hosts (optionally host:port), lower-cased. Default []. */
  git_hosts: string[];
  /** Default 'oauth2'. */
  git_username: string;
  /**
   * How git gets the token: 'basic' (default; username + the token as password, which GitHub, GitLab,
   * Gitea and Bitbucket take, and every git version sends on each request) or 'bearer' (authtype=Bearer
   * where git 2.46+ announces it; Azure DevOps).
   */
  git_auth: GitAuth;
  /** The NAME of an environment variable holding the client secret, never the secret. */
  client_secret_env?: string;
  /**
   * An installed app's "client secret" that its provider documents as not secret (Google's desktop
   * and TV clients), sent with each token request as the provider requires. Interactive flows only.
   */
  client_secret_public?: string;
  /** How a client_credentials client authenticates; default client_secret_basic. */
  client_auth: ClientAuth;
  /** private_key_jwt: a PKCS#8 PEM file (RSA or EC P-256), resolved against the config's directory. */
  private_key_file?: string;
  /** Seconds, 0..86400. */
  min_ttl?: number;
  /** Seconds, used when the provider's device response has no interval; 0.05..60. */
  device_poll_interval?: number;
  /** Seconds for each IdP request, 1..300, default 10. */
  timeout: number;
  /** Refresh in the background before expiry, default true. */
  refresh_ahead: boolean;
  /**
   * Send the profile's scopes with every refresh (Entra's refresh request carries them). Default
   * false: RFC 6749 §6 lets a refresh leave them out, and some providers refuse a scope there.
   */
  /**
   * RFC 8707 resources the login asks for (device or browser): a narrower token may then name one
   * (get-token --resource). Only these: a provider may use up the refresh token before it refuses
   * a resource the grant lacks.
   */
  resources?: string[];
  /** Audiences a narrower token may name (get-token --audience): those the provider lets this login's refresh token serve. */
  audiences?: string[];
  refresh_with_scopes?: boolean;
  /**
   * Served on the restricted socket too (the one forwarded to SSH hosts and containers): get-token,
   * and git's get for its git_hosts. Default false.
   */
  forward?: boolean;
  /** token_exchange and jwt_bearer: where the subject token comes from (exactly one). */
  subject_token_file?: string;
  subject_token_source?: SubjectTokenPlatform;
  /** The audience asked of the CI platform's ID token endpoint (subject_token_source). */
  subject_token_audience?: string;
  /** An argv, run without a shell; its stdout is the subject token. A relative path is resolved against the config's directory. */
  subject_token_command?: string[];
  /** token_exchange: RFC 8693 subject_token_type, default urn:ietf:params:oauth:token-type:jwt. */
  subject_token_type?: string;
  /** token_exchange and jwt_bearer: RFC 8707 resource sent with the request. */
  resource?: string;
  /**
   * How old the secret stored with `authd secret set` may get before get-token (once a day), status
   * and doctor warn: in seconds, and as written ("90d"). client_credentials and api_key only.
   */
  max_age?: MaxAge;
}

/** CI platforms whose ID token endpoint authd asks, with variables from the caller's environment. */
export type SubjectTokenPlatform = 'github-actions';
const SUBJECT_TOKEN_PLATFORMS: readonly SubjectTokenPlatform[] = ['github-actions'];
/** The variables of the caller's environment that GitHub Actions' ID token endpoint is asked with. */
export const GITHUB_ACTIONS_ENV = ['ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN'] as const;

/** A workload's own token is traded for an access token (token_exchange, jwt_bearer). */
export function isWorkload(flow: Flow): flow is 'token_exchange' | 'jwt_bearer' {
  return flow === 'token_exchange' || flow === 'jwt_bearer';
}

export interface MaxAge {
  seconds: number;
  text: string;
}

/** max_age: a whole number of hours, days or weeks, as "12h", "90d", "2w"; at most ten years. */
const MAX_AGE = /^([1-9][0-9]{0,5})([hdw])$/;
const MAX_AGE_UNIT = { h: 3600, d: 86_400, w: 7 * 86_400 } as const;
const MAX_AGE_LIMIT = 3650 * 86_400;

/** Seconds, or undefined when `text` is not a max_age. */
export function parseMaxAge(text: string): number | undefined {
  const m = MAX_AGE.exec(text);
  if (!m) return undefined;
  const seconds = Number(m[1]) * MAX_AGE_UNIT[m[2] as keyof typeof MAX_AGE_UNIT];
  return seconds <= MAX_AGE_LIMIT ? seconds : undefined;
}

/** What makes a session: change any of these and a stored session no longer belongs to the profile. */
export function identity(p: ProfileConfig): string {
  // How a person logs in (device, browser, auto) does not change whose session it is.
  const id: unknown[] = [isInteractive(p.flow) ? 'interactive' : p.flow, p.issuer ?? p.token_endpoint, p.client_id];
  // Another subject token is another workload: its token is not served for the new one.
  // What the token is for, too: an edited resource or token type must not keep serving the old token.
  if (isWorkload(p.flow)) id.push(p.subject_token_file ?? p.subject_token_command ?? [p.subject_token_source, p.subject_token_audience], p.resource ?? null, p.subject_token_type ?? null);
  return JSON.stringify(id);
}

/** A person logs in (device flow or browser), and the session is kept with its refresh token. */
export function isInteractive(flow: Flow): flow is 'device' | 'browser' | 'auto' {
  return flow === 'device' || flow === 'browser' || flow === 'auto';
}

/** Where the browser login listens for the provider's redirect. */
export interface LoopbackRedirect {
  /** As written in the URL: 127.0.0.1, [::1] or localhost. */
  host: string;
  /** The address the listener binds: loopback only. */
  listen: '127.0.0.1' | '::1';
  /** undefined: a free port, chosen when the login starts. */
  port?: number;
  /** The path, e.g. /callback. */
  path: string;
}

const LOOPBACK_REDIRECT_HOSTS = ['127.0.0.1', '[::1]', 'localhost'];

/**
 * A redirect_uri for the browser login (RFC 8252 §7.3): plain http on a loopback host, optionally
 * with a fixed port (for providers that require a registered one), no query or fragment. Returns
 * what is wrong with it as a sentence, or the parts.
 */
export function loopbackRedirect(s: string): LoopbackRedirect | string {
  if (!URL.canParse(s)) return 'it must be a URL such as http://127.0.0.1:8400/callback';
  const u = new URL(s);
  if (u.protocol !== 'http:') return 'it must be a plain http:// URL on this machine (the browser comes back to authd on a loopback address)';
  if (u.username || u.password) return 'it must not contain a user name or password';
  if (!LOOPBACK_REDIRECT_HOSTS.includes(u.hostname)) return 'its host must be 127.0.0.1, [::1] or localhost';
  if (u.search || u.hash || s.includes('?') || s.includes('#')) return 'it must not have a query or fragment';
  // The URL parser drops a default port (:80): read whether one was written from the text itself.
  const written = /^http:\/\/(?:\[[^\]]*\]|[^/:]*):(\d+)/i.exec(s)?.[1];
  const port = written === undefined ? undefined : Number(written);
  if (port !== undefined && (port < 1 || port > 65535)) return 'its port must be between 1 and 65535, or left out for a free one';
  const r: LoopbackRedirect = { host: u.hostname, listen: u.hostname === '[::1]' ? '::1' : '127.0.0.1', path: u.pathname };
  if (port !== undefined) r.port = port;
  return r;
}

export interface Config {
  path: string;
  /** false: no file yet (not an error: an empty config). */
  exists: boolean;
  defaultProfile?: string;
  /** Default 'auto'. */
  store: StoreChoice;
  profiles: Map<string, ProfileConfig>;
}

const FLOWS: readonly Flow[] = ['device', 'browser', 'auto', 'client_credentials', 'api_key', 'token_exchange', 'jwt_bearer'];
export type GitAuth = 'basic' | 'bearer';
const GIT_AUTHS: readonly GitAuth[] = ['basic', 'bearer'];
const STORES: readonly StoreChoice[] = ['auto', 'keyring', 'file', 'memory'];
const TOP_KEYS = ['default_profile', 'store', 'profiles'] as const;
const PROFILE_KEYS = [
  'issuer',
  'device_authorization_endpoint',
  'token_endpoint',
  'revocation_endpoint',
  'authorization_endpoint',
  'client_id',
  'flow',
  'redirect_uri',
  'scopes',
  'audience',
  'git_hosts',
  'git_username',
  'git_auth',
  'client_secret_env',
  'client_secret_public',
  'client_auth',
  'private_key_file',
  'min_ttl',
  'device_poll_interval',
  'timeout',
  'refresh_ahead',
  'refresh_with_scopes',
  'forward',
  'subject_token_file',
  'subject_token_source',
  'subject_token_audience',
  'subject_token_command',
  'subject_token_type',
  'resource',
  'resources',
  'audiences',
  'max_age',
] as const;
type ProfileKey = (typeof PROFILE_KEYS)[number];
const URL_KEYS = ['issuer', 'device_authorization_endpoint', 'authorization_endpoint', 'token_endpoint', 'revocation_endpoint'] as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Keys that would hold a secret if someone wrote one into the config. */
const SECRET_KEY = /secret|passw|api_?key|private_key|(^|_)token$/i;
const DEFAULT_TIMEOUT = 10;
const DEFAULT_GIT_USERNAME = 'oauth2';

// ---------------------------------------------------------------------------------------------
// Public API

export function parseConfig(text: string, path: string): Config {
  const doc = parseToml(text, path);
  const v: Validator = new Validator(text, path);

  for (const key of Object.keys(doc)) {
    if (!(TOP_KEYS as readonly string[]).includes(key)) v.unknownKey([key], TOP_KEYS, 'at the top level', doc[key]);
  }

  const profiles = new Map<string, ProfileConfig>();
  if (Object.hasOwn(doc, 'profiles')) {
    const table = doc.profiles;
    if (!isTable(table)) {
      v.fail(['profiles'], `profiles must be a table of profiles (got ${typeName(table)})`,
        'Write each profile as its own table, e.g. [profiles.acme].');
    }
    for (const [name, body] of Object.entries(table)) {
      profiles.set(name, v.profile(name, body));
    }
  }

  let store: StoreChoice = 'auto';
  if (Object.hasOwn(doc, 'store')) store = v.oneOf(['store'], doc.store, STORES);

  let defaultProfile: string | undefined;
  if (Object.hasOwn(doc, 'default_profile')) {
    defaultProfile = v.string(['default_profile'], doc.default_profile);
    if (!profiles.has(defaultProfile)) {
      const names = [...profiles.keys()];
      v.fail(['default_profile'],
        `default_profile is ${show(defaultProfile)}, but there is no profile of that name in this file`,
        names.length > 0
          ? `Name one of the profiles (${names.join(', ')}), or add a [profiles.${tomlKey(defaultProfile)}] table.`
          : `Add a [profiles.${tomlKey(defaultProfile)}] table, or remove default_profile.`);
    }
  }

  const config: Config = { path, exists: true, store, profiles };
  if (defaultProfile !== undefined) config.defaultProfile = defaultProfile;
  return config;
}

export function loadConfig(path: string): Config {
  const text = readConfigText(path);
  if (text === undefined) return { path, exists: false, store: 'auto', profiles: new Map() };
  return parseConfig(text, path);
}

/** The config's text (undefined: no file), once it is known that nobody else could have written it. */
export function readConfigText(path: string): string | undefined {
  try {
    return readTrustedFile(path, 'config file');
  } catch (err) {
    if (err instanceof AuthdError) throw new AuthdError('config_error', err.message, err.hint);
    const code = (err as NodeJS.ErrnoException).code;
    throw new AuthdError('config_error', `cannot read the config file ${path} (${code ?? 'unknown error'})`,
      code === 'EACCES' ? `Make ${path} readable by you (chmod 600 ${path}).` : `Check that ${path} is a readable file.`);
  }
}

export { isLoopbackUrl } from '../../protocol/loopback.js';

// ---------------------------------------------------------------------------------------------
// Validation

type TomlDoc = TomlTableWithoutBigInt;
type TomlVal = TomlValueWithoutBigInt;

function parseToml(text: string, path: string): TomlDoc {
  try {
    return parse(text, { integersAsBigInt: false });
  } catch (err) {
    if (err instanceof TomlError) {
      // The message carries a code block quoting the file; never repeat it (a line may hold a secret).
      const reason = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document:\s*/, '') || 'syntax error';
      throw new AuthdError('config_error', `${path}:${err.line}: invalid TOML at column ${err.column}: ${reason}`,
        `Fix the syntax on line ${err.line} of ${path} (see https://toml.io).`);
    }
    throw new AuthdError('config_error', `${path}: the file could not be parsed as TOML`,
      `Check ${path} for deeply nested or malformed values.`);
  }
}

function isTable(v: TomlVal | undefined): v is Record<string, TomlVal> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof TomlDate) && !(v instanceof Date);
}

class Validator {
  private readonly lines: KeyLine[];

  constructor(
    text: string,
    private readonly path: string,
  ) {
    this.lines = scanKeyLines(text);
  }

  fail(field: string[], message: string, hint?: string): never {
    const line = locate(this.lines, field);
    const where = line === undefined ? this.path : `${this.path}:${line}`;
    throw new AuthdError('config_error', `${where}: ${message}`, hint);
  }

  unknownKey(field: string[], valid: readonly string[], where: string, value?: TomlVal): never {
    const key = field[field.length - 1] ?? '';
    const name = dotted(field);
    if (SECRET_KEY.test(key) && !key.endsWith('_env')) {
      // Never echo the value: it is presumably the secret itself.
      const profile = field[0] === 'profiles' && field.length === 3 ? field[1] : 'P';
      this.fail(field, `${name} is not allowed because a config file must not hold secrets`,
        `Remove it; store the secret with \`authd secret set ${profile}\` (it reads stdin), or name an environment variable that holds it with client_secret_env = "VAR".`);
    }
    const guess = closest(key, valid);
    const hint = `Valid names ${where}: ${valid.join(', ')}.` +
      (isTable(value) && field[0] === 'profiles'
        ? ` If ${show(`${field[1]}.${key}`)} is one profile name, quote it: [profiles."${field[1]}.${key}"].`
        : '');
    this.fail(field, `${name} is not a known setting${guess ? ` (did you mean ${guess}?)` : ''}`, hint);
  }

  profile(name: string, body: TomlVal): ProfileConfig {
    const at = (key?: string): string[] => (key === undefined ? ['profiles', name] : ['profiles', name, key]);
    if (!PROFILE_NAME.test(name)) {
      this.fail(at(), `${show(name)} is not a valid profile name`,
        'A profile name is 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit.');
    }
    if (!isTable(body)) {
      this.fail(at(), `${dotted(at())} must be a table (got ${typeName(body)})`,
        `Write the profile as a table: [profiles.${tomlKey(name)}] followed by its settings.`);
    }
    for (const key of Object.keys(body)) {
      if (!(PROFILE_KEYS as readonly string[]).includes(key)) this.unknownKey(at(key), PROFILE_KEYS, 'in a profile', body[key]);
    }
    const has = (key: ProfileKey): boolean => Object.hasOwn(body, key);
    const get = (key: ProfileKey): TomlVal | undefined => body[key];

    const flow: Flow = has('flow') ? this.oneOf(at('flow'), get('flow'), FLOWS) : 'auto';
    const p: ProfileConfig = {
      name,
      client_id: '',
      flow,
      scopes: isInteractive(flow) ? ['openid', 'offline_access'] : [],
      git_hosts: [],
      git_username: DEFAULT_GIT_USERNAME,
      git_auth: 'basic',
      timeout: DEFAULT_TIMEOUT,
      refresh_ahead: true,
      client_auth: 'client_secret_basic',
    };

    for (const key of URL_KEYS) {
      if (has(key)) p[key] = this.url(at(key), get(key), key === 'issuer');
    }

    if (has('client_id')) {
      p.client_id = this.string(at('client_id'), get('client_id'), flow === 'api_key');
    } else if (flow !== 'api_key') {
      this.fail(at('client_id'), `${dotted(at('client_id'))} is required for the ${flowName(flow)}`,
        'Set client_id to the OAuth client id registered for authd at your identity provider.');
    }

    if (has('scopes')) {
      p.scopes = this.stringArray(at('scopes'), get('scopes'), (s) =>
        /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s) ? undefined : 'a scope is one word without spaces or quotes');
    }
    if (has('audience')) p.audience = this.string(at('audience'), get('audience'));
    if (has('resources')) {
      const f = at('resources');
      if (!isInteractive(flow)) {
        this.fail(f, `${dotted(f)} is what a person's login asks for (device or browser), not the ${flowName(flow)}`,
          'Remove it (token_exchange and jwt_bearer take one resource).');
      }
      p.resources = this.stringArray(f, get('resources'), (s) =>
        (URL.canParse(s) && !new URL(s).hash && !/[\x00-\x20\x7f]/.test(s) ? undefined : 'a resource is an absolute URI without a fragment (RFC 8707), e.g. "https://api.example.com/"'));
    }
    if (has('audiences')) {
      const f = at('audiences');
      if (!isInteractive(flow)) this.fail(f, `${dotted(f)} is for a person's login (device or browser), not the ${flowName(flow)}`, 'Remove it.');
      p.audiences = this.stringArray(f, get('audiences'), (s) => (/^[\x21-\x7e\u0080-\uffff]+$/.test(s) && !/[\u0080-\u009f]/.test(s) ? undefined : 'an audience is one value without spaces'));
    }
    if (has('git_hosts')) {
      // host, host:port, or either with a path prefix (host/team) for repositories under it
      p.git_hosts = this.stringArray(at('git_hosts'), get('git_hosts'), (s) =>
        /^([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?(\/[\x21-\x7e]*)?$/.test(s)
          ? undefined
          : 'each entry is a host name such as git.acme.com (optionally with :port and a /path prefix), not a URL').map((h) => {
        const slash = h.indexOf('/');
        if (slash === -1) return h.toLowerCase();
        return `${h.slice(0, slash).toLowerCase()}/${h.slice(slash + 1).replace(/\/+$/, '')}`.replace(/\/$/, '');
      });
    }
    if (has('git_username')) {
      p.git_username = this.string(at('git_username'), get('git_username'));
      if (/[\x00-\x1f\x7f]/.test(p.git_username)) {
        this.fail(at('git_username'), `${dotted(at('git_username'))} must not contain control characters such as newlines`);
      }
    }
    if (has('git_auth')) p.git_auth = this.oneOf(at('git_auth'), get('git_auth'), GIT_AUTHS);
    if (has('client_secret_env')) {
      // Checked without ever echoing the value: a secret pasted here must not reach a terminal or log.
      const f = at('client_secret_env');
      const v = get('client_secret_env');
      if (typeof v !== 'string' || !ENV_NAME.test(v)) {
        this.fail(f, `${dotted(f)} must be the name of an environment variable (letters, digits and _, not starting with a digit)`,
          `Put the secret itself in that variable, or store it with \`authd secret set ${name}\` (it reads stdin).`);
      }
      p.client_secret_env = v;
    }
    if (has('client_secret_public')) {
      const f = at('client_secret_public');
      if (flow === 'client_credentials' || flow === 'api_key') {
        // Not echoed: for a service identity this is presumably a real secret.
        this.fail(f, `${dotted(f)} is only for a client that logs a person in (device or browser login), not for the ${flowName(flow)}`,
          `It holds a value the provider documents as not secret (Google's installed-app clients); a ${flowName(flow)} secret is a real one: `
            + `store it with \`authd secret set ${name}\` (it reads stdin), or name its variable with client_secret_env.`);
      }
      p.client_secret_public = this.string(f, get('client_secret_public'));
      if (/[\x00-\x20\x7f]/.test(p.client_secret_public)) this.fail(f, `${dotted(f)} must not contain spaces or control characters`);
    }
    if (has('min_ttl')) p.min_ttl = this.number(at('min_ttl'), get('min_ttl'), 0, 86400);
    if (has('device_poll_interval')) {
      p.device_poll_interval = this.number(at('device_poll_interval'), get('device_poll_interval'), 0.05, 60);
    }
    if (has('timeout')) p.timeout = this.number(at('timeout'), get('timeout'), 1, 300);
    if (has('refresh_ahead')) p.refresh_ahead = this.boolean(at('refresh_ahead'), get('refresh_ahead'));
    if (has('refresh_with_scopes')) {
      const f = at('refresh_with_scopes');
      const send = this.boolean(f, get('refresh_with_scopes'));
      if (send && !isInteractive(flow)) {
        this.fail(f, `${dotted(f)} is only used when a person's login is refreshed (device or browser login), not by the ${flowName(flow)}`,
          'Remove it: only a device or browser login has a refresh token to refresh.');
      }
      if (send && p.scopes.length === 0) {
        this.fail(f, `${dotted(f)} is true, but scopes is empty: there are no scopes to send`,
          'List the scopes the login asks for in scopes, or remove refresh_with_scopes.');
      }
      p.refresh_with_scopes = send;
    }
    if (has('forward')) p.forward = this.boolean(at('forward'), get('forward'));
    if (has('client_auth')) p.client_auth = this.oneOf(at('client_auth'), get('client_auth'), CLIENT_AUTHS);
    if (has('private_key_file')) {
      const file = this.string(at('private_key_file'), get('private_key_file'));
      p.private_key_file = isAbsolute(file) ? file : join(dirname(this.path), file);
    }
    if (has('redirect_uri')) {
      const f = at('redirect_uri');
      const v = this.string(f, get('redirect_uri'));
      const r = loopbackRedirect(v);
      if (typeof r === 'string') {
        // Not echoed when it holds a user:password part.
        const credentials = URL.canParse(v) && (new URL(v).username || new URL(v).password);
        this.fail(f, `${dotted(f)} is not a loopback redirect: ${r}${credentials ? '' : ` (got ${show(v)})`}`,
          'Write it as the provider has it registered, e.g. http://127.0.0.1:8400/callback or http://localhost:8400/; leave it out for a free port.');
      }
      if (flow !== 'browser' && flow !== 'auto') {
        this.fail(f, `${dotted(f)} is only used by the browser login`, 'Set flow = "browser" or "auto", or remove redirect_uri.');
      }
      p.redirect_uri = v;
    }
    if (has('max_age')) {
      const f = at('max_age');
      const v = get('max_age');
      const seconds = typeof v === 'string' ? parseMaxAge(v) : undefined;
      if (typeof v !== 'string' || seconds === undefined) {
        this.fail(f, `${dotted(f)} must be an age such as "90d", "12h" or "2w": a whole number of hours (h), days (d) or weeks (w), at most 3650d (got ${typeof v === 'string' ? show(v) : typeName(v)})`,
          `Write it as a quoted string, e.g. max_age = "90d".`);
      }
      if (isInteractive(flow)) {
        this.fail(f, `${dotted(f)} is the age of a secret stored with \`authd secret set\`; the ${flowName(flow)} has none`,
          'Set it on a client_credentials or api_key profile, or remove it.');
      }
      if (has('private_key_file')) {
        this.fail(f, `${dotted(f)} is the age of a secret stored with \`authd secret set\`; this profile reads its key from private_key_file`,
          'Remove max_age, or store the key with `authd secret set` and remove private_key_file.');
      }
      p.max_age = { seconds, text: v };
    }
    if (p.private_key_file && p.client_auth !== 'private_key_jwt') {
      this.fail(at('private_key_file'), `${dotted(at('private_key_file'))} is only used with client_auth = "private_key_jwt"`,
        'Set client_auth = "private_key_jwt", or remove private_key_file.');
    }

    const endpointsHint = 'Set issuer = "https://…" for OpenID discovery, or give the endpoints explicitly'
      + (flow === 'auto' ? ' (authorization_endpoint and token_endpoint for a browser login).' : '.');
    // auto without an authorization endpoint can only ever use the device flow: it is checked as one.
    const checkedAs = flow === 'auto' ? (p.authorization_endpoint ? 'browser' : 'device') : flow;
    if ((checkedAs === 'device' || checkedAs === 'browser') && !p.issuer) {
      const loginEndpoint = checkedAs === 'device' ? 'device_authorization_endpoint' : 'authorization_endpoint';
      const login = checkedAs === 'device' ? 'device flow' : 'browser login';
      if (!(p[loginEndpoint] && p.token_endpoint)) {
        const missing = p[loginEndpoint] ? 'token_endpoint' : p.token_endpoint ? loginEndpoint : undefined;
        this.fail(at(), missing
          ? `${dotted(at())} has no issuer, so the ${login} needs ${missing} as well`
          : `${dotted(at())} needs issuer, or both ${loginEndpoint} and token_endpoint, for the ${login}`,
        endpointsHint);
      }
    }
    if ((flow === 'client_credentials' || isWorkload(flow)) && !p.issuer && !p.token_endpoint) {
      this.fail(at(), `${dotted(at())} needs issuer or token_endpoint for the ${flow} flow`, endpointsHint);
    }
    this.subjectToken(p, body, at);
    return p;
  }

  /** token_exchange and jwt_bearer: the subject token's one source, and what the request carries besides. */
  private subjectToken(p: ProfileConfig, body: Record<string, TomlVal>, at: (key?: string) => string[]): void {
    const has = (key: ProfileKey): boolean => Object.hasOwn(body, key);
    const keys = ['subject_token_file', 'subject_token_source', 'subject_token_command', 'subject_token_audience', 'subject_token_type', 'resource'] as const;
    if (!isWorkload(p.flow)) {
      const stray = keys.find(has);
      if (stray) {
        this.fail(at(stray), `${dotted(at(stray))} is only used by the token_exchange and jwt_bearer flows, not by the ${flowName(p.flow)}`,
          `Set flow = "token_exchange" or "jwt_bearer", or remove ${stray}.`);
      }
      return;
    }
    const sources = (['subject_token_file', 'subject_token_source', 'subject_token_command'] as const).filter(has);
    if (sources.length !== 1) {
      this.fail(at(sources[1]), sources.length === 0
        ? `${dotted(at())} uses the ${p.flow} flow, so it needs where its subject token comes from`
        : `${dotted(at())} has both ${sources[0]} and ${sources[1]}: the subject token comes from exactly one place`,
      'Set one of subject_token_file = "/path/to/token" (e.g. a Kubernetes projected token), subject_token_source = "github-actions" '
        + '(with subject_token_audience), or subject_token_command = ["program", "arg"].');
    }
    for (const key of ['client_secret_env', 'private_key_file'] as const) {
      if (has(key)) {
        this.fail(at(key), `${dotted(at(key))} is not used by the ${p.flow} flow: its subject token is its credential`,
          `Remove ${key}; authd sends the subject token with client_id ${p.client_id} and no client secret.`);
      }
    }
    if (has('subject_token_file')) {
      const file = this.string(at('subject_token_file'), body.subject_token_file);
      p.subject_token_file = isAbsolute(file) ? file : join(dirname(this.path), file);
    }
    if (has('subject_token_source')) {
      p.subject_token_source = this.oneOf(at('subject_token_source'), body.subject_token_source, SUBJECT_TOKEN_PLATFORMS);
      if (!has('subject_token_audience')) {
        this.fail(at('subject_token_audience'), `${dotted(at())} takes its subject token from ${p.subject_token_source}, which needs subject_token_audience`,
          'Set subject_token_audience to the audience your provider expects in the CI job\'s ID token, e.g. "api://AzureADTokenExchange".');
      }
    }
    if (has('subject_token_audience')) {
      if (!has('subject_token_source')) {
        this.fail(at('subject_token_audience'), `${dotted(at('subject_token_audience'))} is only used with subject_token_source`,
          'A token file or command has its audience already: remove subject_token_audience.');
      }
      p.subject_token_audience = this.string(at('subject_token_audience'), body.subject_token_audience);
    }
    if (has('subject_token_command')) {
      const f = at('subject_token_command');
      const argv = this.stringArray(f, body.subject_token_command, (s) => (s.includes('\0') ? 'an argument cannot hold a NUL byte' : undefined));
      const program = argv[0];
      if (program === undefined || program === '') {
        this.fail(f, `${dotted(f)} must name a program: it is an argv, e.g. ["/usr/local/bin/get-token", "--audience", "x"]`,
          'It is run without a shell; its standard output is the subject token.');
      }
      // A bare name is looked up in PATH; a relative path is the config directory's, as private_key_file is.
      argv[0] = program.includes('/') && !isAbsolute(program) ? join(dirname(this.path), program) : program;
      p.subject_token_command = argv;
    }
    if (has('subject_token_type')) {
      const f = at('subject_token_type');
      if (p.flow !== 'token_exchange') {
        this.fail(f, `${dotted(f)} is only used by the token_exchange flow (jwt_bearer's assertion is always a JWT)`, 'Remove subject_token_type.');
      }
      p.subject_token_type = this.string(f, body.subject_token_type);
      if (!/^[\x21-\x7e]+$/.test(p.subject_token_type)) this.fail(f, `${dotted(f)} must be a URI such as urn:ietf:params:oauth:token-type:jwt`);
    }
    if (has('resource')) {
      const f = at('resource');
      const v = this.string(f, body.resource);
      if (!URL.canParse(v) || new URL(v).hash) {
        this.fail(f, `${dotted(f)} must be an absolute URI without a fragment (RFC 8707), e.g. "https://api.example.com"`);
      }
      p.resource = v;
    }
  }

  string(field: string[], v: TomlVal | undefined, allowEmpty = false): string {
    if (typeof v !== 'string') this.fail(field, `${dotted(field)} must be a string (got ${typeName(v)})`, quoteHint(field));
    if (!allowEmpty && v.trim() === '') this.fail(field, `${dotted(field)} must not be empty`);
    return v;
  }

  oneOf<T extends string>(field: string[], v: TomlVal | undefined, choices: readonly T[]): T {
    if (typeof v === 'string' && (choices as readonly string[]).includes(v)) return v as T;
    const got = typeof v === 'string' ? show(v) : typeName(v);
    const guess = typeof v === 'string' ? closest(v, choices) : undefined;
    this.fail(field, `${dotted(field)} must be one of ${choices.join(', ')} (got ${got})`,
      guess
        ? `Did you mean "${guess}"?`
        : typeof v === 'string'
          ? `Set it to one of: ${choices.join(', ')}.`
          : `Write it as a quoted string, e.g. ${field[field.length - 1]} = "${choices[0]}".`);
  }

  number(field: string[], v: TomlVal | undefined, min: number, max: number): number {
    if (typeof v !== 'number') this.fail(field, `${dotted(field)} must be a number of seconds (got ${typeName(v)})`);
    if (!Number.isFinite(v) || v < min || v > max) {
      this.fail(field, `${dotted(field)} must be between ${min} and ${max} seconds (got ${v})`);
    }
    return v;
  }

  boolean(field: string[], v: TomlVal | undefined): boolean {
    if (typeof v !== 'boolean') {
      this.fail(field, `${dotted(field)} must be true or false (got ${typeName(v)})`, 'Write it without quotes: true or false.');
    }
    return v;
  }

  stringArray(field: string[], v: TomlVal | undefined, check: (s: string) => string | undefined): string[] {
    if (!Array.isArray(v)) {
      this.fail(field, `${dotted(field)} must be an array of strings (got ${typeName(v)})`,
        `Write it as a list, e.g. ${field[field.length - 1]} = ["one", "two"].`);
    }
    return v.map((item, i) => {
      if (typeof item !== 'string') {
        this.fail(field, `${dotted(field)} must be an array of strings, but item ${i + 1} is ${typeName(item)}`);
      }
      const problem = check(item);
      if (problem) this.fail(field, `${dotted(field)} has an invalid item ${show(item)}: ${problem}`);
      return item;
    });
  }

  url(field: string[], v: TomlVal | undefined, isIssuer: boolean): string {
    const s = this.string(field, v);
    const name = dotted(field);
    if (!URL.canParse(s)) {
      this.fail(field, `${name} must be an absolute URL such as https://login.example.com (got ${show(s)})`);
    }
    const u = new URL(s);
    if (u.username || u.password) {
      // Not echoed: the user:password part is a secret.
      this.fail(field, `${name} must not contain a user name or password`,
        'Remove the user:password@ part; secrets belong in `authd secret set P` (stdin) or client_secret_env.');
    }
    if (u.protocol === 'http:' && !isLoopbackUrl(u)) {
      this.fail(field, `${name} must use https unless the host is loopback (got ${u.origin})`,
        'Use https://, or http://127.0.0.1 or http://localhost for a local test identity provider.');
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') {
      this.fail(field, `${name} must be an https:// URL (it uses ${u.protocol})`);
    }
    if (isIssuer && (u.search || u.hash)) {
      this.fail(field, `${name} must not contain a query or fragment (got ${u.origin}${u.pathname}${u.search ? '?…' : '#…'})`,
        'Give the issuer exactly as the provider publishes it, e.g. https://login.example.com.');
    }
    return s;
  }
}

/** "the device flow", "the browser login", …: how a profile logs in, for messages. */
export function loginName(flow: Flow): string {
  return `the ${flowName(flow)}`;
}

function flowName(flow: Flow): string {
  if (flow === 'device') return 'device flow';
  if (flow === 'browser') return 'browser login';
  if (flow === 'auto') return 'device flow or browser login';
  return `${flow} flow`;
}

function quoteHint(field: string[]): string {
  return `Write it as a quoted string, e.g. ${field[field.length - 1]} = "…".`;
}

function typeName(v: TomlVal | undefined): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return 'a string';
  if (typeof v === 'boolean') return 'a boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (Array.isArray(v)) return 'an array';
  if (isTable(v)) return 'a table';
  return 'a date';
}

/** A value quoted for an error message, shortened. Only ever called with non-secret values. */
export function show(s: string): string {
  const short = s.length > 60 ? `${s.slice(0, 57)}…` : s;
  return JSON.stringify(short);
}
