// Changes to the config file that keep every other byte (comments, order, line endings): `authd use`,
// `authd profile add|remove` and `authd store migrate`. Each change is a text edit, checked by parsing
// its result (it must say what was asked and hold the expected profiles) before the file is replaced.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { closest } from '../../protocol/closest.js';
import { AuthdError } from '../../protocol/errors.js';
import type { SectionLine } from '../../protocol/presets.js';
import { AtomicWriteError, writeFileAtomicSync } from '../atomic-write.js';
import { type Config, parseConfig, readConfigText, type StoreChoice, show } from './schema.js';
import { samePath, scanKeyLines, tomlKey } from './toml-keys.js';

/** `authd use P`: set the top-level default_profile, changing nothing else in the file. */
export function setDefaultProfile(path: string, profile: string): void {
  const text = readConfigText(path);
  const noProfilesHint = `Create ${path} with a [profiles.NAME] table (issuer, client_id, flow), then run \`authd use NAME\`.`;
  if (text === undefined) {
    throw new AuthdError('config_error', `no profiles are configured (${path} does not exist)`, noProfilesHint);
  }
  const config = parseConfig(text, path);
  if (config.profiles.size === 0) {
    throw new AuthdError('config_error', `no profiles are configured in ${path}`, noProfilesHint);
  }
  if (!config.profiles.has(profile)) {
    throw new AuthdError('unknown_profile', `there is no profile ${show(profile)} in ${path}`,
      `Choose one of: ${[...config.profiles.keys()].join(', ')}.`);
  }

  const updated = checked(path, withTopLevel(text, 'default_profile', profile), {
    what: 'default_profile',
    took: (c) => c.defaultProfile === profile,
    profiles: config.profiles.keys(),
    byHand: `Edit the file by hand: default_profile = "${profile}" near the top, before the first [table].`,
  });
  if (updated !== text) writeConfig(path, updated);
}

/**
 * `authd store migrate`: writes `store = "<choice>"` (replacing the line, or adding it; creating the
 * file if there is none), so the next start finds the secrets where they now are. Returns whether
 * the file changed.
 */
export function setStoreChoice(path: string, choice: StoreChoice): boolean {
  const text = readConfigText(path) ?? '';
  const config = parseConfig(text, path);
  if (config.store === choice && scanKeyLines(text).some((l) => !l.header && samePath(l.path, ['store']))) return false;
  writeConfig(path, checked(path, withTopLevel(text, 'store', choice), {
    what: 'store',
    took: (c) => c.store === choice,
    profiles: config.profiles.keys(),
    byHand: `Edit the file by hand: store = "${choice}".`,
  }));
  return true;
}

/**
 * `authd profile add`: appends a [profiles.NAME] section (comment lines, then key = value lines),
 * and with `makeDefault` sets default_profile. Creates the file (0600, its directory 0700) if there
 * is none. Returns the section as written.
 */
export function addProfile(path: string, name: string, lines: SectionLine[], makeDefault: boolean): { created: boolean; section: string } {
  const text = readConfigText(path);
  const config = parseConfig(text ?? '', path);
  if (config.profiles.has(name)) {
    throw new AuthdError('usage', `there is already a profile ${show(name)} in ${path}`,
      `choose another name, or remove it first with \`authd profile remove ${name}\``);
  }
  const before = text ?? '';
  const eol = before.includes('\r\n') ? '\r\n' : '\n';
  const body = [`[profiles.${tomlKey(name)}]`];
  for (const l of lines) {
    for (const c of l.comment) body.push(...wrap(c, 100).map((w) => `# ${w}`));
    if (l.key !== undefined && l.value !== undefined) body.push(`${l.key} = ${tomlValue(l.value)}`);
  }
  const section = `${body.join(eol)}${eol}`;
  // One blank line between the file's last line and the new table.
  const gap = before === '' ? '' : before.endsWith('\n') ? eol : eol + eol;
  let updated = before + gap + section;
  if (makeDefault) updated = withTopLevel(updated, 'default_profile', name);
  const kept = profilesJson(config);
  checked(path, updated, {
    what: `profile ${name}`,
    took: (c) => c.profiles.has(name) && (!makeDefault || c.defaultProfile === name) && profilesJson(c, name) === kept,
    profiles: [...config.profiles.keys(), name],
    byHand: `Add the [profiles.${tomlKey(name)}] table at the end of ${path} by hand.`,
  });
  if (text === undefined) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeConfig(path, updated);
  return { created: text === undefined, section };
}

/**
 * `authd profile remove`: removes the [profiles.NAME] section — from its header to the next table,
 * leaving comments directly above that table with it — and the blank lines before it; and
 * default_profile if it names NAME. Returns whether default_profile went too.
 */
export function removeProfile(path: string, name: string): { defaultCleared: boolean } {
  const text = readConfigText(path);
  const config = parseConfig(text ?? '', path);
  if (text === undefined || !config.profiles.has(name)) {
    const names = [...config.profiles.keys()];
    const guess = closest(name, names);
    throw new AuthdError('unknown_profile', `there is no profile ${show(name)} in ${path}${guess ? ` (did you mean ${guess}?)` : ''}`,
      names.length ? `profiles: ${names.join(', ')}` : 'there are no profiles to remove');
  }
  const byHand = `Remove the [profiles.${tomlKey(name)}] table and its lines from ${path} by hand.`;
  const keyLines = scanKeyLines(text);
  const header = keyLines.find((l) => l.header && samePath(l.path, ['profiles', name]));
  if (!header) {
    throw new AuthdError('config_error', `profile ${name} is not written as a [profiles.${tomlKey(name)}] table in ${path}, so authd cannot tell its lines apart`, byHand);
  }
  const lines = text.split('\n');
  const next = keyLines.find((l) => l.header && l.line > header.line);
  const isComment = (i: number) => /^\s*#/.test(lines[i] ?? '');
  const isBlank = (i: number) => /^\s*$/.test(lines[i] ?? '');
  // Lines (0-based) from `start` to before `end` go: the blank lines before the header, the header
  // and what follows it up to the blank lines and comments that lead into the next table.
  const h = header.line - 1;
  let start = h;
  while (start > 0 && isBlank(start - 1)) start--;
  let end = next ? next.line - 1 : text.endsWith('\n') ? lines.length - 1 : lines.length;
  if (next) {
    while (end > h + 1 && isComment(end - 1)) end--;
    const lead = end;
    while (end > h + 1 && isBlank(end - 1)) end--;
    // At the top of the file nothing comes before: the blank lines after it go as well.
    if (start === 0) end = lead;
  }
  const starts = lineStarts(text);
  let updated = text.slice(0, starts[start] ?? text.length) + text.slice(starts[end] ?? text.length);
  const defaultCleared = config.defaultProfile === name;
  if (defaultCleared) updated = withoutTopLevel(updated, 'default_profile');
  const remaining = [...config.profiles.keys()].filter((n) => n !== name);
  const kept = profilesJson(config, name);
  checked(path, updated, {
    what: `profile ${name}`,
    took: (c) => !c.profiles.has(name) && c.defaultProfile === (defaultCleared ? undefined : config.defaultProfile) && profilesJson(c) === kept,
    profiles: remaining,
    byHand,
  });
  writeConfig(path, updated);
  return { defaultCleared };
}

/** Every profile but `except`, as parsed: an edit must leave the others exactly as they were. */
function profilesJson(config: Config, except?: string): string {
  return JSON.stringify([...config.profiles.values()].filter((p) => p.name !== except));
}

/** `text` in lines of at most `width` characters, broken at spaces (a longer word keeps its own line). */
function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  out.push(line);
  return out;
}

/** A string, a list of strings or a boolean as TOML writes it (JSON's escapes are TOML's). */
function tomlValue(value: string | string[] | boolean): string {
  return Array.isArray(value) ? `[${value.map((v) => JSON.stringify(v)).join(', ')}]` : JSON.stringify(value);
}

interface Expected {
  /** The setting the edit changes, as the error names it. */
  what: string;
  /** The parsed result says what was asked. */
  took: (c: Config) => boolean;
  /** Exactly the profiles the result must hold. */
  profiles: Iterable<string>;
  /** The hint when the edit cannot be made safely: how to make it by hand. */
  byHand: string;
}

/**
 * The edited text, once parsing it shows the edit did what was expected. The safety net for shapes
 * the line edits do not understand (multi-line strings and the like).
 */
function checked(path: string, updated: string, expected: Expected): string {
  let check: Config | undefined;
  try {
    check = parseConfig(updated, path);
  } catch {
    check = undefined;
  }
  const profiles = new Set(expected.profiles);
  if (!check || !expected.took(check) || !sameKeys(check.profiles, profiles)) {
    throw new AuthdError('config_error', `could not update ${expected.what} in ${path} without disturbing the rest of the file`,
      expected.byHand);
  }
  return updated;
}

function sameKeys(a: Map<string, unknown>, b: Set<string>): boolean {
  return a.size === b.size && [...a.keys()].every((k) => b.has(k));
}

/** The text with the top-level `key` set to the string `plain`; every other byte unchanged. */
function withTopLevel(text: string, key: 'default_profile' | 'store', plain: string): string {
  const value = JSON.stringify(plain);
  const existing = scanKeyLines(text).find((l) => !l.header && samePath(l.path, [key]));
  const starts = lineStarts(text);

  if (existing) {
    const start = starts[existing.line - 1] ?? 0;
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : text[nl - 1] === '\r' ? nl - 1 : nl;
    const line = text.slice(start, end);
    const afterEq = line.slice(existing.valueStart);
    const m = /^(\s*)("(?:[^"\\]|\\.)*"|'[^']*')(\s*(?:#.*)?)$/.exec(afterEq);
    const rest = m ? `${m[1]}${value}${m[3]}` : ` ${value}`;
    return text.slice(0, start) + line.slice(0, existing.valueStart) + rest + text.slice(end);
  }

  // Insert as the first line after the comment block at the top of the file (if any).
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  let at = text.startsWith('\uFEFF') ? 1 : 0;
  while (at < text.length) {
    const nl = text.indexOf('\n', at);
    if (!text.slice(at, nl < 0 ? text.length : nl).trimStart().startsWith('#')) break;
    at = nl < 0 ? text.length : nl + 1;
  }
  const needsBreak = at === text.length && at > 0 && !text.endsWith('\n');
  return `${text.slice(0, at)}${needsBreak ? eol : ''}${key} = ${value}${eol}${text.slice(at)}`;
}

/** The text without the top-level `key` line. */
function withoutTopLevel(text: string, key: 'default_profile'): string {
  const existing = scanKeyLines(text).find((l) => !l.header && samePath(l.path, [key]));
  if (!existing) return text;
  const starts = lineStarts(text);
  const start = starts[existing.line - 1] ?? 0;
  const nl = text.indexOf('\n', start);
  return text.slice(0, start) + (nl < 0 ? '' : text.slice(nl + 1));
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

/** Replaces the file atomically; through a symlinked config to its target, keeping the file's mode. */
function writeConfig(path: string, text: string): void {
  try {
    writeFileAtomicSync(path, text, { followSymlink: true, syncDir: 'best-effort' });
  } catch (err) {
    if (!(err instanceof AtomicWriteError)) throw err;
    throw new AuthdError('config_error', `cannot write the config file ${path} (${err.code})`,
      `Check that you can write to ${err.dir}.`);
  }
}
