// The socket methods, one row each: the check that turns a request's params into the method's wire
// type (protocol/types.ts `Methods`), and the handler that then gets them typed. server.ts runs the
// check once, where a request enters; nothing behind it looks at raw params again.
import {
  AuthdError, type BrowserHint, type CallerInfo, type EnvSecrets, type GitAction, MAX_SECRET, type MethodName, type Methods,
  normalNarrowing, type PresetOptions, PROFILE_NAME, printable,
} from '../protocol/index.js';
import type { ClientConnection } from './server.js';

export type Params<M extends MethodName> = Methods[M]['params'];
export type Result<M extends MethodName> = Methods[M]['result'];

/** A request's params (a JSON object) as the method's type, or an AuthdError naming the field. */
export type Validator<T> = (params: Record<string, unknown>) => Checked<T>;
/** Every field of T, an optional one possibly undefined: a check that misses or misspells a field does not compile. */
type Checked<T> = { [K in Exclude<keyof T, OptionalKeys<T>>]: T[K] } & { [K in OptionalKeys<T>]: T[K] | undefined };
type OptionalKeys<T> = { [K in keyof T]-?: Partial<Pick<T, K>> extends Pick<T, K> ? K : never }[keyof T];

export type Handler<M extends MethodName> = (params: Params<M>, conn: ClientConnection) => Promise<Result<M>> | Result<M>;
export type Handlers = { [M in MethodName]: Handler<M> };

/** An env value or a git attribute value. */
const MAX_VALUE = 16 * 1024;
const GIT_ACTIONS: readonly GitAction[] = ['get', 'store', 'erase'];
const STORES = ['keyring', 'file'] as const;
const LOGIN_FLOWS = ['browser', 'device'] as const;
const NONE: Record<string, never> = Object.freeze({});

/** Every method's params check. Unknown fields are ignored: a newer client may send more. */
export const PARAMS: { [M in MethodName]: Validator<Params<M>> } = {
  ping: none,
  getToken: (p) => {
    const n = normalNarrowing(p);
    return { profile: profile(p.profile), minTtl: seconds(p.minTtl, 'minTtl'), env: env(p.env), caller: caller(p.caller),
      scopes: n?.scopes, resource: n?.resource, audience: n?.audience };
  },
  getIdToken: (p) => ({ profile: profile(p.profile), minTtl: seconds(p.minTtl, 'minTtl'), caller: caller(p.caller) }),
  loginStart: (p) => ({
    profile: profile(p.profile),
    env: env(p.env),
    flow: p.flow === undefined || p.flow === null ? undefined : oneOf(p.flow, LOGIN_FLOWS, '"flow" must be browser or device'),
    browser: browserHint(p.browser),
  }),
  loginWait: (p) => ({ profile: profile(p.profile) }),
  logout: (p) => ({ profile: profile(p.profile), all: flag(p.all, 'all') }),
  status: none,
  profiles: none,
  use: (p) => ({ profile: profile(p.profile) ?? usage('a profile name is needed', 'authd use NAME') }),
  profileAdd: (p) => ({
    profile: profile(p.profile) ?? usage('a profile name is needed', 'authd profile add NAME --provider P'),
    provider: text(p.provider, 'provider'),
    options: presetOptions(p.options),
    makeDefault: flag(p.makeDefault, 'makeDefault'),
  }),
  profileRemove: (p) => ({ profile: profile(p.profile) ?? usage('a profile name is needed', 'authd profile remove NAME') }),
  doctor: none,
  shutdown: none,
  gitCredential: (p) => ({
    action: oneOf(p.action, GIT_ACTIONS, '"action" must be get, store or erase'),
    attrs: pairs(p.attrs, 'attrs'),
    env: env(p.env),
    caller: caller(p.caller),
  }),
  gitHosts: none,
  secretSet: (p) => ({ profile: profile(p.profile), value: secret(p.value, 'value'), expiresAt: unixSeconds(p.expiresAt, 'expiresAt') }),
  // A usage error, as `authd store migrate --to` says it.
  storeMigrate: (p) => ({ to: oneOf(p.to, STORES, '"to" must be keyring or file', 'usage') }),
};

export function isMethod(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.hasOwn(PARAMS, name);
}

function none(): Record<string, never> {
  return NONE;
}

function bad(message: string): never {
  throw new AuthdError('bad_request', message);
}

function usage(message: string, hint?: string): never {
  throw new AuthdError('usage', message, hint);
}

/** A profile name comes from the user (-p, AUTHD_PROFILE): a wrong one is a usage error. */
function profile(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') usage('"profile" must be a profile name (a string)');
  if (!PROFILE_NAME.test(v)) {
    usage(`invalid profile name ${JSON.stringify(v.slice(0, 70))}`, 'profile names use letters, digits, ".", "_" and "-"');
  }
  return v;
}

function seconds(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 86_400) bad(`"${field}" must be a number of seconds between 0 and 86400`);
  return v;
}

/** A moment as Unix seconds: a whole number within years 1 to 9999 (what an ISO 8601 date can say). */
function unixSeconds(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -62_135_596_800 || v > 253_402_300_799) bad(`"${field}" must be a time in whole Unix seconds`);
  return v;
}

function flag(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') bad(`"${field}" must be true or false`);
  return v;
}

function text(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length > MAX_VALUE) bad(`"${field}" must be a string of at most ${MAX_VALUE} characters`);
  return v;
}

/** The options' shape; what each may hold is the preset's to check (protocol/presets.ts). */
function presetOptions(v: unknown): PresetOptions {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) bad('"options" must be an object');
  const o = v as Record<string, unknown>;
  const out: PresetOptions = {};
  for (const field of ['clientId', 'tenant', 'url', 'realm', 'issuer', 'audience', 'clientSecretPublic'] as const) {
    if (o[field] !== undefined && o[field] !== null) out[field] = text(o[field], `options.${field}`);
  }
  const hosts = o.gitHosts;
  if (hosts !== undefined && hosts !== null) {
    if (!Array.isArray(hosts) || hosts.length > 100 || hosts.some((h) => typeof h !== 'string' || h.length > 300)) {
      bad('"options.gitHosts" must be a list of host names');
    }
    out.gitHosts = hosts as string[];
  }
  return out;
}

function oneOf<T extends string>(v: unknown, allowed: readonly T[], message: string, code: 'bad_request' | 'usage' = 'bad_request'): T {
  if (!allowed.includes(v as T)) throw new AuthdError(code, message);
  return v as T;
}

function secret(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_SECRET || v.includes('\0')) {
    bad(`"${field}" must be a secret of 1 to ${MAX_SECRET} characters without NUL bytes`);
  }
  return v;
}

/** Env values by variable name; a key such as __proto__ stays a key. */
function env(v: unknown): EnvSecrets | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) bad('"env" must be an object of strings');
  const out: EnvSecrets = Object.create(null);
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string' || val.length > MAX_VALUE) bad(`"env" values must be strings of at most ${MAX_VALUE} characters`);
    out[k] = val;
  }
  return out;
}

/**
 * Who is asking, as the client says: for the log and `status` only. A pid that is not positive is
 * left out, not refused (a client whose parent is outside its pid namespace reports 0).
 */
function caller(v: unknown): CallerInfo | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) bad('"caller" must be an object');
  const c = v as Record<string, unknown>;
  if (c.pid !== undefined && typeof c.pid !== 'number') bad('"caller.pid" must be a number');
  if (c.cmd !== undefined && typeof c.cmd !== 'string') bad('"caller.cmd" must be a string');
  const out: CallerInfo = {};
  if (typeof c.pid === 'number' && Number.isInteger(c.pid) && c.pid > 0) out.pid = c.pid;
  if (typeof c.cmd === 'string') out.cmd = c.cmd.replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 120);
  return out.pid === undefined && out.cmd === undefined ? undefined : out;
}

/** Whether the client can open a browser: its reason is shown to the user, so it is made one plain line. */
function browserHint(v: unknown): BrowserHint | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) bad('"browser" must be an object');
  const b = v as Record<string, unknown>;
  if (typeof b.available !== 'boolean') bad('"browser.available" must be true or false');
  if (typeof b.reason !== 'string') bad('"browser.reason" must be a string');
  return { available: b.available, reason: printable(b.reason).trim().slice(0, 80) };
}

/** git's key=value lines: strings, and no value that could end a line or a C string on git's side. */
function pairs(v: unknown, field: string): [string, string][] {
  if (!Array.isArray(v)) bad(`"${field}" must be a list of [key, value] pairs`);
  for (const pair of v) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      bad(`each of "${field}" must be a [key, value] pair of strings`);
    }
    if (pair[1].length > MAX_VALUE || /[\0\n]/.test(pair[1])) {
      bad(`"${field}" value ${JSON.stringify(pair[0].slice(0, 40))} is too long or holds a NUL or newline`);
    }
  }
  return v as [string, string][];
}
