// The user's git config as git reads it: which credential helpers git runs for a host, and authd's
// entries among them. `authd git setup|status` builds on this.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { AuthdError } from '../protocol/index.js';
import type { IO } from './io.js';

const PROGRAM = 'git-credential-authd';

/**
 * The helper git runs: `authd` (git runs it as git-credential-authd from PATH, so it survives a
 * switch of Node version) when that is this installation, else this installation's launcher by
 * absolute path (npx and local installs are not on PATH).
 */
export function helperCommand(env: Record<string, string | undefined>): string {
  const ours = join(__dirname, '..', 'bin', PROGRAM);
  const found = onPath(PROGRAM, env.PATH);
  try {
    if (found && realpathSync(found) === realpathSync(ours)) return 'authd';
  } catch {
    // Ours or the one on PATH cannot be resolved: the absolute path is the safe choice.
  }
  return ours;
}

function onPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(':')) {
    if (!dir.startsWith('/')) continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A helper entry that runs authd, in either form setup writes. */
export function isAuthdHelper(value: string): boolean {
  return value === 'authd' || value.endsWith(`/${PROGRAM}`);
}

export const hostKey = (host: string) => `credential.https://${host}.helper`;
export const pathKey = (host: string) => `credential.https://${host}.useHttpPath`;

/** A value-pattern (POSIX extended regex) that matches this value and no other. */
export const exactly = (value: string) => `^${value.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}$`;

export interface ConfigEntry {
  /** As git prints it: section and name lower case, the URL as written. */
  key: string;
  value: string;
}

/** The credential.* entries of the global config, in the order git reads them (included files too, or not). */
export function credentialEntries(io: IO, includes = true): ConfigEntry[] {
  const out = gitConfig(['--global', includes ? '--includes' : '--no-includes', '--null', '--get-regexp', '^credential\\.'], io) ?? '';
  const entries: ConfigEntry[] = [];
  for (const record of out.split('\0')) {
    const nl = record.indexOf('\n');
    // A key without `= value` is an error to git's credential code; it is skipped here.
    if (nl > 0) entries.push({ key: record.slice(0, nl), value: record.slice(nl + 1) });
  }
  return entries;
}

/** The entries of one section of the global file itself (its URL exact), for what undo may remove. */
export function sectionEntries(section: string, io: IO): ConfigEntry[] {
  const prefix = `${section}.`;
  return credentialEntries(io, false).filter((e) => e.key.startsWith(prefix) && !e.key.slice(prefix.length).includes('.'));
}

export function removeIfEmpty(section: string, io: IO): void {
  if (sectionEntries(section, io).length === 0) gitConfig(['--global', '--remove-section', section], io, [128]);
}

export function getAll(key: string, io: IO): string[] {
  const out = gitConfig(['--global', '--null', '--get-all', key], io);
  return out === undefined ? [] : out.split('\0').slice(0, -1);
}

/** How many times git runs authd for https://HOST/, from the global config. */
export function authdRuns(host: string, io: IO): number {
  return effectiveHelpers(credentialEntries(io), host).filter(isAuthdHelper).length;
}

/**
 * The helpers git runs for https://HOST/PATH, in order, as git's credential.c collects them: every
 * credential.helper and every credential.URL.helper whose URL matches, in config order, an empty
 * value emptying the list. An empty HOST: only credential.helper.
 */
export function effectiveHelpers(entries: ConfigEntry[], host: string, path = ''): string[] {
  let helpers: string[] = [];
  for (const { key, value } of entries) {
    const dot = key.lastIndexOf('.');
    if (key.slice(dot + 1).toLowerCase() !== 'helper' || !key.toLowerCase().startsWith('credential.')) continue;
    const url = dot > 'credential'.length ? key.slice('credential.'.length, dot) : undefined;
    if (url !== undefined && (!host || !urlMatches(url, host, path))) continue;
    helpers = value === '' ? [] : [...helpers, value];
  }
  return helpers;
}

/** git's urlmatch for credential.URL.* against https://HOST/PATH (no user name in it). */
function urlMatches(url: string, host: string, path: string): boolean {
  const full = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(url);
  if (!full) {
    // No scheme: git matches it as a partial URL, field by field, exactly (host, then path).
    const m = /^([^/?#]*)(.*)$/.exec(url)!;
    if (m[1]!.includes('@')) return false;
    const want = m[2]!.replace(/^[/]+|[/]+$/g, '');
    return (m[1] === '' || m[1] === host) && (want === '' || want === path);
  }
  if (full[1]!.toLowerCase() !== 'https' || full[2]!.includes('@')) return false;
  const [patHost, patPort] = splitPort(full[2]!);
  const [urlHost, urlPort] = splitPort(host);
  const patLabels = patHost.split('.');
  const urlLabels = urlHost.split('.');
  if (patLabels.length !== urlLabels.length || patLabels.some((l, i) => l !== '*' && l !== urlLabels[i])) return false;
  if (patPort !== urlPort) return false;
  const prefix = full[3]!.replace(/^\/+/, '');
  if (prefix === '') return true;
  return prefix.endsWith('/') ? `${path}/`.startsWith(prefix) : path === prefix || path.startsWith(`${prefix}/`);
}

/** Host lower case, and the port without https' default. */
function splitPort(hostPort: string): [string, string] {
  const m = /^(.*?)(?::(\d*))?$/.exec(hostPort.toLowerCase())!;
  const port = m[2] === undefined || m[2] === '' || Number(m[2]) === 443 ? '' : String(Number(m[2]));
  return [m[1]!, port];
}

/** `git config ARGS` on the global config: its output, or undefined when there is nothing (exit 1, or an exit in `absent`). */
export function gitConfig(args: string[], io: IO, absent: number[] = []): string | undefined {
  const r = spawnSync('git', ['config', ...args], { env: io.env as NodeJS.ProcessEnv, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new AuthdError('usage', code === 'ENOENT' ? 'git is not installed (or not on PATH)' : `git config failed: ${r.error.message.slice(0, 200)}`);
  }
  if (r.status === 0) return r.stdout.endsWith('\n') && !args.includes('--null') ? r.stdout.slice(0, -1) : r.stdout;
  if (r.status === 1 || (r.status !== null && absent.includes(r.status))) return undefined;
  throw new AuthdError('usage', `git config ${args.filter((a) => a.startsWith('--')).join(' ')} failed: ${r.stderr.trim().slice(0, 200)}`);
}
