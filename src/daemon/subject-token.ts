// Where a workload's subject token comes from (token_exchange, jwt_bearer): a file (a Kubernetes
// projected token, re-read when it changes), a CI platform's ID token endpoint (asked with variables
// from the caller's environment, as client_secret_env values are), or a command. Nothing is stored:
// the token and the variables are held in memory only, never logged and never put in an error.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { AuthdError, type EnvSecrets } from '../protocol/index.js';
import { GITHUB_ACTIONS_ENV, type ProfileConfig } from './config/index.js';
import { endpointOf, stableCode } from './provider-answer.js';
import { readBounded } from './provider-fetch.js';

/** A subject token is a JWT or the like: printable ASCII, no spaces, at most this long. */
const MAX_SUBJECT_TOKEN = 64 * 1024;
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

export class SubjectTokens {
  /** GitHub Actions' ID token request URL and bearer, from the last caller that sent them: memory only. */
  private ci: { url: string; token: string } | undefined;
  /** The file's token as last read, with what identified the file then (path, device, inode, size, mtime). */
  private read: { key: string; token: string } | undefined;
  /** github-actions: which caller's variables (a hash) the current access token was obtained with. */
  private usedFor: string | undefined;

  /** A one-way name for a caller's GitHub Actions variables; undefined when it sent none. */
  static callerKey(env: EnvSecrets | undefined): string | undefined {
    const [url, token] = GITHUB_ACTIONS_ENV.map((name) => env?.[name]);
    return url && token ? createHash('sha256').update(`${url}\0${token}`).digest('hex') : undefined;
  }

  /** The access token in hand was obtained with another caller's variables than these (another job's). */
  obtainedForAnother(key: string): boolean {
    return this.usedFor !== undefined && this.usedFor !== key;
  }

  /** What a github-actions profile answers a caller that sent no variables: every caller proves its job. */
  static required(p: ProfileConfig): AuthdError {
    return new AuthdError('secret_required',
      `profile ${p.name} takes its subject token from GitHub Actions, and needs $${GITHUB_ACTIONS_ENV[0]} and $${GITHUB_ACTIONS_ENV[1]} from the environment of the command`,
      'run it in a GitHub Actions job whose workflow has `permissions: id-token: write`', { env: GITHUB_ACTIONS_ENV.join(' ') });
  }

  constructor(private readonly profile: () => ProfileConfig) {}

  /** The caller sent the variables the profile's CI platform is asked with: they are used from now on. */
  takeEnv(env: EnvSecrets | undefined): boolean {
    if (this.profile().subject_token_source !== 'github-actions' || !env) return false;
    const [url, token] = GITHUB_ACTIONS_ENV.map((name) => env[name]);
    if (!url || !token) return false;
    this.ci = { url, token };
    return true;
  }

  /** Forgets the caller's variables (the next caller is asked for its own) and the file read. */
  reset(): void {
    this.ci = undefined;
    this.read = undefined;
    this.usedFor = undefined;
  }

  /** Where the subject token comes from, for `status` and errors; never the token. */
  static describe(p: ProfileConfig): string | undefined {
    if (p.subject_token_file) return `file ${p.subject_token_file}`;
    if (p.subject_token_source) return `${p.subject_token_source} (audience ${p.subject_token_audience})`;
    if (p.subject_token_command) return `command ${p.subject_token_command[0]}`;
    return undefined;
  }

  /** The subject token to send now. */
  async token(): Promise<string> {
    const p = this.profile();
    if (p.subject_token_file) return this.fromFile(p, p.subject_token_file);
    if (p.subject_token_source === 'github-actions') return this.fromGitHub(p);
    if (p.subject_token_command) return fromCommand(p, p.subject_token_command);
    throw new AuthdError('config_error', `profile ${p.name} has no subject token source`,
      'set subject_token_file, subject_token_source or subject_token_command in the profile');
  }

  /** Read again only when the file is another one or has changed (a kubelet swaps in a new one). */
  private fromFile(p: ProfileConfig, file: string): string {
    const what = `the subject token file ${file} of profile ${p.name}`;
    let fd: number;
    try {
      // Non-blocking: a FIFO put at the path must not hold up the daemon.
      fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        throw new AuthdError('config_error', `${what} does not exist`,
          'check subject_token_file; in Kubernetes, that the projected service account token is mounted at that path');
      }
      throw new AuthdError('config_error', `${what} cannot be read (${code ?? 'unknown error'})`,
        code === 'EACCES' ? `make it readable by the user authd runs as (uid ${process.getuid?.() ?? '?'})` : 'check subject_token_file');
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new AuthdError('config_error', `${what} is not a regular file`, 'check subject_token_file');
      // A token someone else could have put there would make this user act as them.
      const me = process.getuid?.();
      if (me !== undefined && ((st.uid !== me && st.uid !== 0) || (st.mode & 0o022) !== 0)) {
        throw new AuthdError('config_error', `${what} could have been written by another user (owner uid ${st.uid}, mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})`,
          'it must be yours or root\'s, and not writable by group or others');
      }
      const key = JSON.stringify([file, st.dev, st.ino, st.size, st.mtimeMs]);
      if (this.read?.key === key) return this.read.token;
      if (st.size > MAX_SUBJECT_TOKEN) throw new AuthdError('config_error', `${what} is larger than a token (${st.size} bytes)`, 'check subject_token_file');
      const buf = Buffer.alloc(st.size);
      let at = 0;
      while (at < buf.length) {
        const n = readSync(fd, buf, at, buf.length - at, at);
        if (n === 0) break;
        at += n;
      }
      const token = checked(buf.subarray(0, at).toString('utf8'), what);
      this.read = { key, token };
      return token;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * GitHub's documented request: GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with
   * `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`; the token is the answer's `value`.
   */
  private async fromGitHub(p: ProfileConfig): Promise<string> {
    const ci = this.ci;
    if (!ci) throw SubjectTokens.required(p);
    this.usedFor = SubjectTokens.callerKey({ [GITHUB_ACTIONS_ENV[0]]: ci.url, [GITHUB_ACTIONS_ENV[1]]: ci.token });
    const bad = (why: string) => new AuthdError('usage', `$${GITHUB_ACTIONS_ENV[0]} ${why}, so profile ${p.name} cannot ask it for a token`,
      'run it in a GitHub Actions job, whose runner sets that variable');
    if (!URL.canParse(ci.url)) throw bad('is not a URL');
    const url = new URL(ci.url);
    if (url.username || url.password) throw bad('holds a user name or password');
    // Plain http only to this machine (a test's stand-in): the request carries a bearer token.
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && url.hostname === '127.0.0.1')) throw bad('is not an https:// URL');
    url.searchParams.set('audience', p.subject_token_audience ?? '');
    const endpoint = `GitHub Actions' ID token endpoint ${endpointOf(url)}`;
    let res: Response;
    let body: Uint8Array | undefined;
    try {
      res = await fetch(url, {
        headers: { authorization: `bearer ${ci.token}`, accept: 'application/json' },
        redirect: 'manual',
        signal: AbortSignal.timeout(p.timeout * 1000),
      });
      body = await readBounded(res);
    } catch (err) {
      const code = stableCode(err);
      throw new AuthdError('idp_unreachable', `cannot reach ${endpoint} for profile ${p.name}${code ? ` (${code})` : ''}`,
        'check the network of the job, or raise `timeout` in the profile');
    }
    if (res.status === 401 || res.status === 403) {
      // This request token is spent or not ours: the next caller is asked for its own.
      if (this.ci === ci) this.ci = undefined;
      throw new AuthdError('idp_error', `${endpoint} refused the request of profile ${p.name} (HTTP ${res.status})`,
        'give the job `permissions: id-token: write`; $ACTIONS_ID_TOKEN_REQUEST_TOKEN is valid only while its job runs');
    }
    if (res.status >= 500 || res.status === 429) {
      throw new AuthdError('idp_unreachable', `${endpoint} could not serve the request of profile ${p.name} (HTTP ${res.status})`, 'try again shortly');
    }
    let value: unknown;
    try {
      value = res.ok && body ? (JSON.parse(Buffer.from(body).toString('utf8')) as { value?: unknown }).value : undefined;
    } catch {
      value = undefined;
    }
    if (typeof value !== 'string') {
      throw new AuthdError('idp_error', `${endpoint} gave profile ${p.name} no token (HTTP ${res.status}${res.ok ? ', no "value" in the answer' : ''})`,
        'check that the job runs on GitHub Actions with `permissions: id-token: write`');
    }
    return checked(value, `the token ${endpoint} gave profile ${p.name}`);
  }
}

/** Runs the argv without a shell, its stdin closed and its stderr dropped (it may say anything); stdout is the token. */
function fromCommand(p: ProfileConfig, argv: string[]): Promise<string> {
  const [program, ...args] = argv as [string, ...string[]];
  const what = `the subject_token_command of profile ${p.name} (${program})`;
  return new Promise((resolve, reject) => {
    // Its own process group, so a timeout ends the command and whatever it started (a hung curl).
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'ignore'], shell: false, windowsHide: true, detached: process.platform !== 'win32' });
    const chunks: Buffer[] = [];
    let size = 0;
    let failed: AuthdError | undefined;
    const fail = (e: AuthdError) => {
      failed ??= e;
      try {
        if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // gone already
      }
      // Settled now: a grandchild still holding the pipe open would delay 'close' for as long as it lives.
      clearTimeout(timer);
      child.stdout.destroy();
      reject(failed);
    };
    const timer = setTimeout(() => fail(new AuthdError('idp_error', `${what} did not finish within ${p.timeout} s`,
      `make it print the token sooner, or raise \`timeout\` in profile ${p.name}`)), p.timeout * 1000);
    child.stdout.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_SUBJECT_TOKEN) fail(new AuthdError('idp_error', `${what} printed more than a token (over ${MAX_SUBJECT_TOKEN} bytes)`));
      else chunks.push(d);
    });
    // Not started at all ('close' may not follow then).
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(failed ?? (err.code === 'ENOENT'
        ? new AuthdError('config_error', `${what} was not found`, 'give the program\'s full path in subject_token_command')
        : new AuthdError('config_error', `${what} could not be started (${err.code ?? 'unknown error'})`, 'check subject_token_command')));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failed) return reject(failed);
      if (code !== 0) {
        return reject(new AuthdError('idp_error', `${what} failed (${signal ? `killed by ${signal}` : `exit status ${code}`})`,
          `run it by hand to see why; authd does not show its error output`));
      }
      try {
        resolve(checked(Buffer.concat(chunks).toString('utf8'), `the output of ${what}`));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** The token without surrounding white space; refused (without quoting it) if it cannot be one. */
function checked(text: string, what: string): string {
  const token = text.trim();
  if (token === '') throw new AuthdError('idp_error', `${what} is empty: there is no subject token to send`);
  if (token.length > MAX_SUBJECT_TOKEN || !TOKEN_CHARS.test(token)) {
    throw new AuthdError('idp_error', `${what} does not look like a token (it holds spaces, line breaks or other characters a token does not)`);
  }
  return token;
}

/** The subject token's `sub` when it is a JWT, unverified: shown in `status` as whom the tokens are for. */
export function subjectOf(token: string): string | undefined {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub?: unknown };
    return typeof claims.sub === 'string' && claims.sub.length <= 256 ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}
