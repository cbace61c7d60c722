// Drives the real `authd` binary as child processes against a real provider, in an isolated AUTHD_HOME.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'vitest';
import { approveDeviceCode, type Idp } from '../../scripts/dev-idp.mjs';

export const AUTHD = resolve(__dirname, '../../bin/authd');

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ProfileSpec {
  [key: string]: string | number | boolean | string[];
}

/** An isolated authd instance: its own config, state, socket and daemon. */
export class Home {
  readonly dir: string;
  /** Everything every command printed on stderr, for the leak check. */
  readonly stderrs: string[] = [];
  readonly outputs: string[] = [];

  constructor(prefix = 'authd-t.') {
    // Short: the socket path must stay under 100 bytes.
    this.dir = mkdtempSync(join(tmpdir(), prefix));
  }

  get env(): Record<string, string> {
    return { ...testEnv(), AUTHD_HOME: this.dir };
  }

  get socket(): string {
    return join(this.dir, 'run', 'authd.sock');
  }

  get stateDir(): string {
    return join(this.dir, 'state');
  }

  writeConfig(profiles: Record<string, ProfileSpec>, top: ProfileSpec = {}): void {
    const lines: string[] = [];
    for (const [k, v] of Object.entries(top)) lines.push(`${k} = ${toml(v)}`);
    for (const [name, p] of Object.entries(profiles)) {
      lines.push('', `[profiles.${name}]`);
      for (const [k, v] of Object.entries(p)) lines.push(`${k} = ${toml(v)}`);
    }
    writeFileSync(join(this.dir, 'config.toml'), `${lines.join('\n')}\n`);
  }

  /** Runs `authd ARGS` to completion (`bin`: another installation's launcher). */
  run(args: string[], opts: { env?: Record<string, string>; input?: string; timeoutMs?: number; cwd?: string; bin?: string } = {}): Promise<Result> {
    return new Promise((done) => {
      const options = { env: { ...this.env, ...opts.env }, timeout: opts.timeoutMs ?? 30_000, encoding: 'utf8' as const, cwd: opts.cwd };
      const child = execFile(opts.bin ?? AUTHD, args, options,
        (err, stdout, stderr) => {
          this.stderrs.push(stderr);
          this.outputs.push(stdout);
          const code = exitCode(err);
          done({ code, stdout, stderr });
        });
      // A command may exit before it reads its input (a usage error, a kill, the native get-token
      // client, which reads none): EPIPE then is no error of the test's.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(opts.input ?? '');
    });
  }

  /** Device login through the provider's own pages, approved headlessly. Resolves with the final JSON event. */
  async login(profile?: string): Promise<{ subject: string | null; profile: string }> {
    const args = ['login', '--json'];
    if (profile) args.push('-p', profile);
    const child = spawn(AUTHD, args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const events = await readEvents(child, async (ev) => {
      if (ev.event === 'device_code') await approveDeviceCode(String(ev.verification_uri_complete));
    });
    const last = events.at(-1);
    if (last?.event !== 'logged_in') throw new Error(`login failed: ${JSON.stringify(events)}`);
    return last as unknown as { subject: string | null; profile: string };
  }

  daemonPid(): number | undefined {
    const log = this.logText();
    const m = [...log.matchAll(/"pid":(\d+)[^\n]*"msg":"daemon started"/g)].at(-1);
    return m ? Number(m[1]) : undefined;
  }

  logText(): string {
    const file = join(this.stateDir, 'authd.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  /**
   * The log once it holds `text`: the daemon writes its log after it has answered, so a line about
   * a request may land a moment after the client has exited. Woken by the state directory's changes;
   * the log as it is after `timeoutMs` if the line never comes.
   */
  async logWith(text: string, timeoutMs = 5000): Promise<string> {
    if (this.logText().includes(text)) return this.logText();
    return new Promise((done) => {
      const watcher = watch(this.stateDir, () => {
        if (this.logText().includes(text)) finish();
      });
      const timer = setTimeout(() => finish(), timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        watcher.close();
        done(this.logText());
      };
      // A write between the first look and the watch.
      if (this.logText().includes(text)) finish();
    });
  }

  /** The stored session, read the way an attacker with file access would. */
  storedSession(profile: string): Record<string, unknown> | undefined {
    const file = join(this.stateDir, 'credentials.json');
    if (!existsSync(file)) return undefined;
    const data = JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, Record<string, unknown>> };
    return data.entries[profile];
  }

  /** Every file under the state dir, as text, for the leak check (the credentials store excepted). */
  stateFilesText(): string {
    const out: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (!e.name.startsWith('credentials.json')) out.push(readFileSync(p, 'utf8'));
      }
    };
    if (existsSync(this.stateDir)) walk(this.stateDir);
    return out.join('\n');
  }

  async stop(): Promise<void> {
    await this.run(['daemon', 'stop']);
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Reads `--json` event lines from a child until it exits, calling onEvent for each. */
export function readEvents(child: ChildProcess, onEvent: (ev: Record<string, unknown>) => Promise<void> | void): Promise<Record<string, unknown>[]> {
  return new Promise((resolvePromise, reject) => {
    const events: Record<string, unknown>[] = [];
    let buf = '';
    let stderr = '';
    const pending: Promise<void>[] = [];
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const ev = JSON.parse(line) as Record<string, unknown>;
        events.push(ev);
        pending.push(Promise.resolve(onEvent(ev)));
      }
    });
    // 'close', not 'exit': the last lines can still be on their way through the pipe when the process exits.
    child.on('close', (code) => {
      Promise.all(pending).then(() => {
        if (code !== 0) reject(new Error(`exit ${code}: ${stderr}`));
        else resolvePromise(events);
      }, reject);
    });
  });
}

/** Fails with the offending place if any secret the provider issued appears in any of the texts. */
export function findLeaks(idp: Idp, texts: Record<string, string>): string[] {
  const leaks: string[] = [];
  for (const secret of idp.issued) {
    for (const [where, text] of Object.entries(texts)) {
      if (text.includes(secret)) leaks.push(`${where} contains a token issued by the provider (${secret.slice(0, 4)}…)`);
    }
  }
  return leaks;
}

/** Every call succeeded quietly and printed the same token: returns it. */
export function theOneToken(results: Result[]): string {
  for (const r of results) {
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }
  const tokens = new Set(results.map((r) => r.stdout.trim()));
  expect(tokens.size).toBe(1);
  return [...tokens][0]!;
}

export function devProfile(idp: Idp, extra: ProfileSpec = {}): ProfileSpec {
  return { issuer: idp.issuer, client_id: 'authd-cli', flow: 'device', device_poll_interval: 0.05, ...extra };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * This process's environment for a command under test: none of authd's own variables (each test
 * names its home or socket), but AUTHD_NATIVE, so the whole suite runs with the native client (the
 * default) and without it (AUTHD_NATIVE=0); and no NODE_EXTRA_CA_CERTS: the providers here are plain
 * http on 127.0.0.1, and parsing a machine's CA bundle costs every daemon start ~40 ms (a test about
 * it sets it itself).
 */
export function testEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && (!k.startsWith('AUTHD_') || k === 'AUTHD_NATIVE')) env[k] = v;
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** The exit code of an execFile callback's error: its number, 1 for a kill or a spawn failure, 0 without one. */
export function exitCode(err: unknown): number {
  if (!err) return 0;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : 1;
}

function toml(v: string | number | boolean | string[]): string {
  if (Array.isArray(v)) return `[${v.map((s) => JSON.stringify(s)).join(', ')}]`;
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}
