// Changes to the config file that keep every other byte (comments, order, line endings): `authd use`
// and `authd store migrate`. Each change is a text edit, checked by parsing its result (it must say
// what was asked and hold the expected profiles) before the file is replaced.
import { AuthdError } from '../../protocol/errors.js';
import { AtomicWriteError, writeFileAtomicSync } from '../atomic-write.js';
import { type Config, parseConfig, readConfigText, type StoreChoice, show } from './schema.js';
import { samePath, scanKeyLines } from './toml-keys.js';

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
