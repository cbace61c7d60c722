// The daemon's state: config, store, one session per profile, and the socket methods over them.
import { statSync } from 'node:fs';
import {
  type AuthdPaths, AuthdError, BEARER_TOKEN, type CallerInfo, type DoctorCheck, type EnvSecrets, type GitAction,
  type GitCredentialResult, type GitHostsResult, type Methods, type Narrowing, type ProfileStatus, type SecretSetResult,
  type StoreMigrateResult, type TokenResult,
} from '../protocol/index.js';
import { checkPrivateFile } from '../protocol/perms.js';
import { VERSION } from '../protocol/version.js';
import { resolvePreset } from '../protocol/presets.js';
import {
  addProfile, type Config, isInteractive, isWorkload, loadConfig, loginName, type ProfileConfig, removeProfile, setDefaultProfile, setStoreChoice,
} from './config/index.js';
import { Audit } from './audit.js';
import { browserLoginMs } from './browser-login.js';
import * as git from './git.js';
import * as idp from './idp.js';
import type { Logger } from './log.js';
import { describeProtection, type Protection } from './peer.js';
import type { Handlers, Params } from './methods.js';
import type { Session } from './session.js';
import { restrictedHandlers } from './restricted.js';
import { secretCheck } from './secret-age.js';
import { secretKey } from './secrets.js';
import { Sessions } from './sessions.js';
import { SubjectTokens } from './subject-token.js';
import { openStore } from './store/index.js';
import { migrate } from './store/migrate.js';
import type { SwitchableStore } from './store/switchable.js';
import type { StoredSession } from './store/types.js';

export { VERSION };

/** How long a stop waits for refreshes in flight to be answered and stored. */
const STOP_WAIT_MS = 30_000;

export class Daemon {
  private config: Config | undefined;
  private configError: AuthdError | undefined;
  /** When the config last changed, as far as the daemon knows (see configStamp). */
  private configStamp = '';
  private readonly sessions: Sessions;
  private gitQueue: Promise<unknown> = Promise.resolve();
  private readonly audit: Audit;
  readonly startedAt = Date.now();

  constructor(
    readonly paths: AuthdPaths,
    readonly store: SwitchableStore,
    readonly log: Logger,
    private readonly onShutdown: () => void,
    private readonly protection: Protection = {},
    /** It serves a socket its service manager listens on (socket activation), not one of its own. */
    private readonly socketActivated = false,
  ) {
    this.audit = new Audit(log);
    this.sessions = new Sessions({ store, log, audit: this.audit, browserLoginMs: browserLoginMs(process.env) });
    this.reloadConfig();
  }

  /**
   * Re-reads the config when it changed, looked at on every request (a stat, ~2 µs), so an edit or a
   * fix is seen by the very next command, a get-token too.
   */
  private currentConfig(): Config {
    if (configStamp(this.paths.configFile) !== this.configStamp) this.reloadConfig();
    if (this.configError) throw this.configError;
    return this.config!;
  }

  reloadConfig(): void {
    this.configStamp = configStamp(this.paths.configFile);
    try {
      const cfg = loadConfig(this.paths.configFile);
      this.config = cfg;
      this.configError = undefined;
      this.sessions.reconfigure(cfg.profiles);
      this.log.info({ profiles: cfg.profiles.size, exists: cfg.exists }, 'config loaded');
    } catch (err) {
      this.configError = err instanceof AuthdError ? err : new AuthdError('config_error', 'cannot read the config file');
      this.log.warn({ code: this.configError.code }, this.configError.message);
    }
  }

  private session(asked: string | undefined): Session {
    const cfg = this.currentConfig();
    const name = resolveProfileName(cfg, asked);
    const s = this.sessions.peek(name);
    if (s && cfg.profiles.has(name)) return s;
    const p = cfg.profiles.get(name);
    if (!p) {
      throw new AuthdError('unknown_profile', `no profile named ${name} in ${cfg.path}`,
        cfg.profiles.size ? `known profiles: ${[...cfg.profiles.keys()].join(', ')}` : 'add a [profiles.NAME] table to the config');
    }
    return this.sessions.for(p);
  }

  handlers(): Handlers {
    return {
      ping: () => ({ pid: process.pid, version: VERSION, socket: this.paths.socket, ...(this.socketActivated ? { socketActivated: true } : {}) }),
      getToken: (p) => this.session(p.profile).getToken(p.minTtl, p.env, p.caller, narrowingOf(p)),
      getIdToken: (p) => this.session(p.profile).getIdToken(p.minTtl, p.caller),
      loginStart: (p, conn) => this.session(p.profile).loginStart(p.env, conn, { flow: p.flow, browser: p.browser }),
      loginWait: (p, conn) => this.session(p.profile).loginWait(conn),
      logout: (p) => this.logout(p),
      status: () => this.status(),
      profiles: () => this.profiles(),
      use: (p) => this.use(p.profile),
      profileAdd: (p) => this.profileAdd(p),
      profileRemove: (p) => this.profileRemove(p.profile),
      doctor: () => this.doctor(),
      gitCredential: (p) => this.gitCredential(p),
      gitHosts: () => this.gitHosts(),
      secretSet: (p) => this.secretSet(p),
      storeMigrate: (p) => this.storeMigrate(p.to),
      shutdown: () => {
        setImmediate(this.onShutdown);
        return { pid: process.pid, ...(this.socketActivated ? { socketActivated: true } : {}) };
      },
    };
  }

  /** The restricted socket's methods (restricted.ts): get-token and git's get for profiles with forward = true. */
  restrictedHandlers(): Handlers {
    return restrictedHandlers(this.handlers(), {
      forwardedProfile: (asked) => {
        try {
          const cfg = this.currentConfig();
          const name = resolveProfileName(cfg, asked);
          if (cfg.profiles.get(name)?.forward === true) return name;
        } catch {
          // The local config's troubles are not the forwarded side's to read: one refusal for all.
        }
        // Only a name the caller gave is repeated: the local default profile's name is not the far side's to learn.
        throw new AuthdError('restricted', asked ? `profile ${asked} is not served through a forwarded authd socket`
          : 'the default profile is not served through a forwarded authd socket',
        `on the machine where authd runs, set forward = true in its [profiles.${asked ?? 'NAME'}] table${asked ? '' : ', or name a forwarded profile with -p'}`);
      },
      forwardsGit: (attrs) => {
        try {
          return git.profileForHost(this.currentConfig(), git.requestFrom(attrs))?.forward === true;
        } catch {
          return false;
        }
      },
    });
  }

  private async gitCredential({ action, attrs, env, caller }: Params<'gitCredential'>): Promise<GitCredentialResult> {
    const req = git.requestFrom(attrs);
    const profile = git.profileForHost(this.currentConfig(), req);
    if (profile) return this.gitOAuth(action, req, profile, env, caller);
    // Storage for every other host: one operation at a time, as they read and rewrite several entries.
    const run = this.gitQueue.then(() => this.gitStorage(action, req));
    this.gitQueue = run.catch(() => undefined);
    return run;
  }

  /** A mapped host: a fresh access token from the profile's session; nothing is stored. */
  private async gitOAuth(
    action: GitAction,
    req: git.GitRequest,
    profile: ProfileConfig,
    env: EnvSecrets | undefined,
    caller: CallerInfo | undefined,
  ): Promise<GitCredentialResult> {
    const session = this.session(profile.name);
    if (action === 'store') return { attrs: [] };
    if (action === 'erase') {
      session.dropToken(req.password ?? req.credential);
      return { attrs: [] };
    }
    let t: TokenResult;
    try {
      t = await session.getToken(undefined, env, caller ?? { cmd: 'git credential' });
    } catch (err) {
      if (!(err instanceof AuthdError) || err.code === 'secret_required') throw err;
      const dead = err.code === 'login_required' || err.code === 'login_expired' || err.code === 'login_denied';
      // Print nothing for git (it falls through to its next helper or prompt) and one line for the user.
      // A service profile's secret (missing, expired) is not a login: its own words say what to run.
      return { attrs: [], message: dead && isInteractive(profile.flow)
        ? `authd: login required for profile ${profile.name}: run authd login -p ${profile.name}`
        : `authd: ${err.message}${dead && err.hint ? `: ${err.hint}` : ''}` };
    }
    // Basic by default: every git sends it on each request (git 2.46–2.53 send no Bearer on the probe
    // before a large POST, so a big push failed with 401), and most git hosts take a token that way.
    const attrs: git.Pairs = profile.git_auth === 'bearer' && req.capabilities.has('authtype')
      ? [['capability[]', 'authtype'], ['authtype', 'Bearer'], ['credential', t.access_token], ['ephemeral', '1']]
      : [['username', profile.git_username], ['password', t.access_token]];
    if (t.expires_at !== undefined) attrs.push(['password_expiry_utc', String(t.expires_at)]);
    // get-token's once-a-day warning (a secret past max_age), for the user, beside git's answer.
    return t.warning ? { attrs, message: `authd: warning: ${t.warning}` } : { attrs };
  }

  /** Every other host: git's store/cache semantics, kept in the store. */
  private async gitStorage(action: GitAction, req: git.GitRequest): Promise<GitCredentialResult> {
    if (action === 'store') {
      // As git's cache: "not storing ephemeral credential".
      if (git.isTrue(req.ephemeral)) return { attrs: [] };
      const entry = git.entryFrom(req);
      if (!entry) return { attrs: [] };
      const want: git.GitRequest = { protocol: entry.protocol, host: entry.host, path: entry.path, username: entry.username, capabilities: new Set() };
      for (const [key, e] of await this.gitEntries()) if (git.matches(want, e.git, false)) await this.store.delete(key);
      await this.store.put(git.entryKey(entry), { v: 1, git: entry, stored_at: Date.now() });
      return { attrs: [] };
    }
    // As git's own helpers: a request that names nothing matches nothing (never "everything").
    if (req.protocol === undefined && req.host === undefined && req.path === undefined && req.username === undefined) {
      return { attrs: [] };
    }
    const entries = await this.gitEntries();
    if (action === 'erase') {
      for (const [key, e] of entries) if (git.matches(req, e.git, true)) await this.store.delete(key);
      return { attrs: [] };
    }
    const matching = entries.filter(([, e]) => git.matches(req, e.git, false))
      .sort(([, a], [, b]) => (b.stored_at ?? 0) - (a.stored_at ?? 0));
    const live = matching.find(([, e]) => !git.isExpired(e.git));
    if (live) return { attrs: git.entryPairs(live[1].git) };
    // Only expired ones: the username and refresh token go on to the next helper, the password does not.
    const expired = matching[0];
    return { attrs: expired ? git.expiredPairs(expired[1].git) : [] };
  }

  private async gitEntries(): Promise<[string, StoredSession & { git: git.GitEntry }][]> {
    const out: [string, StoredSession & { git: git.GitEntry }][] = [];
    for (const key of await this.store.keys()) {
      if (!key.startsWith('git:')) continue;
      const rec = await this.store.get(key);
      if (rec?.git) out.push([key, rec as StoredSession & { git: git.GitEntry }]);
    }
    return out;
  }

  private gitHosts(): GitHostsResult {
    const cfg = this.currentConfig();
    const hosts: GitHostsResult['hosts'] = [];
    for (const p of cfg.profiles.values()) {
      for (const host of p.git_hosts) hosts.push({ host, profile: p.name, username: p.git_username, auth: p.git_auth });
    }
    return { configPath: cfg.path, hosts };
  }

  private async logout({ profile, all }: Params<'logout'>): Promise<Methods['logout']['result']> {
    const cfg = this.currentConfig();
    const names = all ? [...cfg.profiles.keys()] : [resolveProfileName(cfg, profile)];
    const profiles = [];
    for (const name of names) profiles.push({ profile: name, ...(await this.session(name).logout()) });
    return { profiles };
  }

  private async status(): Promise<Methods['status']['result']> {
    const daemon: Methods['status']['result']['daemon'] = {
      pid: process.pid,
      version: VERSION,
      startedAt: Math.floor(this.startedAt / 1000),
      uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
      socket: this.paths.socket,
      store: `${this.store.kind} (${this.store.location})`,
      configPath: this.paths.configFile,
      stateDir: this.paths.stateDir,
    };
    const protection = describeProtection(this.protection);
    daemon.protection = protection.detail;
    if (!protection.ok) daemon.protectionWarning = true;
    // One line: the details and the fix are in `authd doctor`.
    if (this.store.warning) daemon.storeWarning = this.store.summary ?? this.store.warning;
    const profiles: ProfileStatus[] = [];
    try {
      const cfg = this.currentConfig();
      for (const name of cfg.profiles.keys()) profiles.push(await this.session(name).status(name === cfg.defaultProfile));
    } catch (err) {
      daemon.configError = err instanceof AuthdError ? err.message : 'cannot read the config file';
    }
    return { daemon, profiles, recent: this.audit.last(5) };
  }

  /**
   * `authd store migrate --to T`: every secret into the other store, verified before anything is
   * deleted from the old one; requests wait meanwhile. The config follows where it names a store.
   */
  private async storeMigrate(to: 'keyring' | 'file'): Promise<StoreMigrateResult> {
    if (process.env.AUTHD_STORE) {
      throw new AuthdError('usage', `AUTHD_STORE=${process.env.AUTHD_STORE.slice(0, 20)} pins this daemon's store`,
        'unset AUTHD_STORE (and restart the daemon: authd daemon stop), or change it instead of migrating');
    }
    const from = this.store.kind;
    if (from === to) throw new AuthdError('usage', `authd already keeps its secrets in the ${to} store (${this.store.location})`);
    if (from === 'memory') throw new AuthdError('usage', 'the memory store keeps nothing to migrate');
    const next = await openStore(to, this.paths.stateDir);
    let moved: { moved: number };
    try {
      moved = await this.store.switchTo(next, (a, b) => migrate(a, b));
    } catch (err) {
      await next.close?.();
      throw err;
    }
    // A store named in the config follows the data. Under auto it need not, except to the file:
    // auto would otherwise keep offering to move the file's entries into the keychain.
    const named = this.currentConfig().store;
    const configUpdated = named !== 'auto' || to === 'file' ? setStoreChoice(this.paths.configFile, to) : false;
    this.log.info({ from, to, moved: moved.moved, configUpdated }, 'store migrated');
    return { from, to, moved: moved.moved, configUpdated };
  }

  /** `authd secret set P`: a client secret, private key or API key, from the client's stdin. */
  private async secretSet({ profile, value, expiresAt }: Params<'secretSet'>): Promise<SecretSetResult> {
    const session = this.session(profile);
    const p = session.profile;
    if (isInteractive(p.flow)) {
      throw new AuthdError('usage', `profile ${p.name} uses ${loginName(p.flow)}; it has no secret to set`,
        'secrets are for client_credentials and api_key profiles; log in with `authd login`');
    }
    if (p.flow === 'api_key' && !BEARER_TOKEN.test(value)) {
      throw new AuthdError('usage', 'an API key may hold only letters, digits, "-", ".", "_", "~", "+", "/" and "=" padding at its end (RFC 6750)',
        'check that the key file holds the key alone, on one line');
    }
    const now = Date.now();
    if (expiresAt !== undefined && expiresAt * 1000 <= now) {
      throw new AuthdError('usage', `--expires ${new Date(expiresAt * 1000).toISOString().replace(/\.000Z$/, 'Z')} is not in the future (by this daemon's clock); the secret was not stored`,
        'give the date the secret stops being valid, e.g. --expires 2030-06-30');
    }
    const key = secretKey(p.name);
    const replaced = (await this.store.get(key)) !== undefined;
    // Its date goes with it: max_age counts from here, and --expires is kept beside it (a new one clears both).
    const record: StoredSession = { v: 1, secret: value, stored_at: now };
    if (expiresAt !== undefined) record.secret_expires_at = expiresAt;
    await this.store.put(key, record);
    session.secretChanged();
    this.log.info({ profile: p.name, replaced, expiresAt }, 'secret stored');
    const r: SecretSetResult = { profile: p.name, replaced };
    if (expiresAt !== undefined) r.expiresAt = expiresAt;
    return r;
  }

  private profiles(): Methods['profiles']['result'] {
    const cfg = this.currentConfig();
    const r: Methods['profiles']['result'] = {
      configPath: cfg.path,
      profiles: [...cfg.profiles.values()].map((p) => {
        const e: Methods['profiles']['result']['profiles'][number] = {
          name: p.name, flow: p.flow, isDefault: p.name === cfg.defaultProfile,
        };
        const issuer = p.issuer ?? p.token_endpoint;
        if (issuer) e.issuer = issuer;
        if (p.forward === true) e.forward = true;
        return e;
      }),
    };
    if (cfg.defaultProfile) r.defaultProfile = cfg.defaultProfile;
    return r;
  }

  private use(name: string): { defaultProfile: string } {
    setDefaultProfile(this.paths.configFile, name);
    this.reloadConfig();
    return { defaultProfile: name };
  }

  /** `authd profile add`: the preset's section, checked again here (the client may be another version). */
  private profileAdd({ profile, provider, options, makeDefault }: Params<'profileAdd'>): Methods['profileAdd']['result'] {
    const { preset, lines, register } = resolvePreset(provider, options, profile);
    const { created, section } = addProfile(this.paths.configFile, profile, lines, makeDefault === true);
    this.reloadConfig();
    this.log.info({ profile, provider: preset.name, created }, 'profile added');
    return { profile, provider: preset.title, configPath: this.paths.configFile, created, section, madeDefault: makeDefault === true, register };
  }

  /**
   * `authd profile remove`: refused while the profile holds a session or a stored secret, which
   * nothing could revoke or delete once its profile is gone; `authd logout` does both.
   */
  private async profileRemove(name: string): Promise<Methods['profileRemove']['result']> {
    const cfg = this.currentConfig();
    if (cfg.profiles.has(name)) {
      const live = this.sessions.peek(name);
      const status = live ? await live.status(false) : undefined;
      const held = status?.loggedIn || status?.loginPending
        || (await this.store.get(name)) !== undefined || (await this.store.get(secretKey(name))) !== undefined;
      if (held) {
        throw new AuthdError('usage', `profile ${name} is logged in or holds a stored secret; removing it would leave that in the store`,
          `run \`authd logout -p ${name}\` first (it revokes the session at the provider where it can), then \`authd profile remove ${name}\``);
      }
    }
    const { defaultCleared } = removeProfile(this.paths.configFile, name);
    this.reloadConfig();
    this.log.info({ profile: name, defaultCleared }, 'profile removed');
    return { profile: name, configPath: this.paths.configFile, defaultCleared };
  }

  private async doctor(): Promise<{ checks: DoctorCheck[] }> {
    const checks: DoctorCheck[] = [];
    checks.push({ name: 'daemon', ok: true, detail: `running, pid ${process.pid}, version ${VERSION}, socket ${this.paths.socket}` });
    const protection = describeProtection(this.protection);
    checks.push(protection.ok
      ? { name: 'protection', ok: true, detail: protection.detail }
      : { name: 'protection', ok: false, warn: true, detail: protection.detail, fix: protection.fix! });
    // A store warning says itself what to do about it.
    checks.push(this.store.warning
      ? { name: 'store', ok: false, warn: true, detail: `${this.store.kind} (${this.store.location}): ${this.store.warning}` }
      : { name: 'store', ok: true, detail: `${this.store.kind} (${this.store.location})` });
    let cfg: Config;
    try {
      cfg = this.currentConfig();
      checks.push(cfg.exists
        ? { name: 'config', ok: true, detail: `${cfg.path}: ${cfg.profiles.size} profile(s)` }
        : { name: 'config', ok: false, detail: `${cfg.path} does not exist`, fix: 'create it with at least one [profiles.NAME] table (see the README)' });
    } catch (err) {
      const e = err instanceof AuthdError ? err : new AuthdError('config_error', 'cannot read the config');
      checks.push({ name: 'config', ok: false, detail: e.message, fix: e.hint ?? 'fix the config file' });
      return { checks };
    }
    // Every profile, in the config's order; the providers are asked in parallel.
    const perProfile = await Promise.all([...cfg.profiles.values()].map((p) => this.profileChecks(p, p.name === cfg.defaultProfile)));
    checks.push(...perProfile.flat());
    return { checks };
  }

  /** `doctor`, one profile: its key file, that its provider answers, and that it can get a token (or why not). */
  private async profileChecks(p: ProfileConfig, isDefault: boolean): Promise<DoctorCheck[]> {
    const checks: DoctorCheck[] = [];
    const name = `profile ${p.name}`;
    if (p.private_key_file) checks.push(privateKeyCheck(p.name, p.private_key_file));
    const secret = await this.session(p.name).secretStatus();
    if (p.flow !== 'api_key') {
      try {
        const r = await idp.reach(p);
        // A redirect or a 5xx may not be the provider answering (a captive portal, a proxy). (A 407 is a
        // network error to fetch: it fails as unreachable.)
        const odd = 'issuer' in r ? undefined : r.status >= 500 ? 'the provider, or a proxy in front of it, is failing'
          : r.status >= 300 && r.status < 400 ? 'a redirect: a captive portal or proxy may be in the way' : undefined;
        if (odd && !('issuer' in r)) {
          checks.push({ name, ok: false, detail: `the token endpoint ${r.endpoint} answered HTTP ${r.status}: ${odd}`, fix: 'check the network (proxy, captive portal), or try again later' });
          if (secret) checks.push(secretCheck(p, secret));
          return checks;
        }
        checks.push({ name, ok: true, detail: 'issuer' in r ? `provider reachable (${r.issuer})`
          : `provider reachable (token endpoint ${r.endpoint} answered HTTP ${r.status})` });
      } catch (err) {
        const e = idp.classify(err, p, p.token_endpoint ? 'reachability check' : 'discovery');
        checks.push({ name, ok: false, detail: e.message, fix: e.hint ?? 'check the issuer URL' });
        if (secret) checks.push(secretCheck(p, secret));
        return checks;
      }
    }
    // The stored secret's age (set when, max_age, --expires), then whether it gets a token.
    if (secret) checks.push(secretCheck(p, secret));
    checks.push(await this.tokenCheck(p, isDefault));
    return checks;
  }

  /**
   * `doctor`: logged out (a warning, with how to log in), or a token as get-token would get one: a
   * provider that refuses the client, or a session that has ended, fails here rather than at the next use.
   */
  private async tokenCheck(p: ProfileConfig, isDefault: boolean): Promise<DoctorCheck> {
    const name = `profile ${p.name} login`;
    const session = this.session(p.name);
    const s = await session.status(isDefault);
    if (s.loginPending) return { name, ok: false, warn: true, detail: 'a login is in progress', fix: `approve it, or run \`authd login -p ${p.name}\`` };
    const login = `run \`authd login -p ${p.name}\``;
    if (isInteractive(p.flow) && !s.loggedIn) return { name, ok: false, warn: true, detail: 'logged out', fix: login };
    if (p.flow === 'api_key' && !s.loggedIn) {
      return { name, ok: false, warn: true, detail: 'logged out: no API key is set', fix: `run \`authd secret set ${p.name} < key-file\`` };
    }
    try {
      const t = await session.check();
      const left = t.expires_at === undefined ? '' : ` (token valid for ${minutes(t.expires_at - Date.now() / 1000)})`;
      const who = isInteractive(p.flow) ? `logged in${s.subject ? ` as ${s.subject}` : ''}`
        : p.flow === 'api_key' ? 'API key set'
        : isWorkload(p.flow) ? `the provider exchanges the subject token from ${SubjectTokens.describe(p)} for client ${p.client_id}`
        : `the provider issues tokens to client ${p.client_id}`;
      return { name, ok: true, detail: `${who}${left}` };
    } catch (err) {
      const e = err instanceof AuthdError ? err : idp.classify(err, p, 'token');
      // Not set up yet rather than broken: a secret this daemon has not been given, a session that ended.
      if (e.code === 'secret_required') {
        if (isWorkload(p.flow)) {
          return { name, ok: false, warn: true, detail: `not checked: ${e.message}, and this daemon has not been given them`,
            fix: `run \`authd login -p ${p.name}\` in the CI job, where they are set` };
        }
        return { name, ok: false, warn: true, detail: `not checked: ${e.message}, and this daemon has not been given it`,
          fix: `run \`authd login -p ${p.name}\` with ${p.client_secret_env} set, or store the secret with \`authd secret set ${p.name}\`` };
      }
      if (e.code === 'login_required' || e.code === 'login_expired') return { name, ok: false, warn: true, detail: `logged out: ${e.message}`, fix: e.hint ?? login };
      const failed: DoctorCheck = { name, ok: false, detail: e.message };
      if (e.hint) failed.fix = e.hint;
      return failed;
    }
  }

  /**
   * Stopping: waits (at most `ms`) until every refresh in flight is answered and stored, still
   * serving (so no second daemon starts from a store that is about to change), then closes.
   */
  async close(ms = STOP_WAIT_MS): Promise<void> {
    await this.sessions.settled(ms);
    this.audit.flush();
    this.sessions.close();
  }
}

/** `doctor`: the private key file is checked as it is before use (secrets.ts), without reading it. */
function privateKeyCheck(profile: string, file: string): DoctorCheck {
  const name = `profile ${profile} key`;
  try {
    return checkPrivateFile(file, 'private key file')
      ? { name, ok: true, detail: `${file} is private to you` }
      : { name, ok: false, detail: `the private key file ${file} does not exist`, fix: 'set private_key_file to the PEM file of the key registered for this client' };
  } catch (err) {
    const e = err instanceof AuthdError ? err : new AuthdError('config_error', `cannot check the private key file ${file}`);
    return { name, ok: false, detail: e.message, fix: e.hint ?? `run \`chmod 600 ${file}\`` };
  }
}

/** A token's time left, for `doctor`: "54m" (to the nearest minute), "40s". */
function minutes(seconds: number): string {
  return seconds >= 120 ? `${Math.round(seconds / 60)}m` : `${Math.max(0, Math.floor(seconds))}s`;
}

/** The config file's mtime and ctime: a `chmod` or `chown` (say, the fix for a refused config) changes only the ctime. */
function configStamp(path: string): string {
  try {
    const st = statSync(path);
    return `${st.mtimeMs}/${st.ctimeMs}`;
  } catch {
    return 'none';
  }
}

/** The narrower token a get-token asks for (normalised in methods.ts), if any. */
function narrowingOf(p: Params<'getToken'>): Narrowing | undefined {
  if (!p.scopes && !p.resource && !p.audience) return undefined;
  const n: Narrowing = {};
  if (p.scopes) n.scopes = p.scopes;
  if (p.resource) n.resource = p.resource;
  if (p.audience) n.audience = p.audience;
  return n;
}

/** The profile asked for (checked in methods.ts), else the config's default or only one. */
function resolveProfileName(cfg: Config, asked: string | undefined): string {
  if (asked) return asked;
  if (cfg.defaultProfile) return cfg.defaultProfile;
  if (cfg.profiles.size === 1) return [...cfg.profiles.keys()][0]!;
  if (cfg.profiles.size === 0) {
    throw new AuthdError('config_error', `no profiles are configured in ${cfg.path}`, 'add a [profiles.NAME] table (see the README)');
  }
  throw new AuthdError('usage', 'no profile given and no default_profile set', 'pass -p NAME, set AUTHD_PROFILE, or run `authd use NAME`');
}
