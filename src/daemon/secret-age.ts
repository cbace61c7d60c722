// How old a stored secret (`authd secret set`) is, and what to say about it: past the profile's
// max_age, or close to its --expires date, get-token warns (once a day: session.ts) and status and
// doctor say so each time; past its --expires date it is refused. Long-lived keys nobody rotates are how a leaked key stays valid for years.
import { AuthdError, type DoctorCheck, type SecretAge } from '../protocol/index.js';
import type { ProfileConfig } from './config/index.js';
import type { StoredSecret } from './secrets.js';

/** get-token repeats the warning at most this often, per profile. */
export const WARN_EVERY_MS = 24 * 3600_000;

/** What the secret is, for a sentence: "API key", "private key", "client secret". */
function kind(p: ProfileConfig): string {
  if (p.flow === 'api_key') return 'API key';
  return p.client_auth === 'private_key_jwt' ? 'private key' : 'client secret';
}

function rotate(p: ProfileConfig): string {
  return `rotate it with \`authd secret set ${p.name}\``;
}

/**
 * The refusal of a secret past its expiry. login_required (exit 3), as for a profile with no API key
 * at all: nothing the user typed or configured is wrong (not exit 2), asking again will not help (not
 * 4), and only a person can give a new one. Undefined while it is valid.
 */
export function expiredError(p: ProfileConfig, s: StoredSecret, now: number): AuthdError | undefined {
  if (s.expiresAt === undefined || now < s.expiresAt) return undefined;
  return new AuthdError('login_required', `the ${kind(p)} of profile ${p.name} expired ${span(now - s.expiresAt)} ago (${iso(s.expiresAt)})`,
    `${rotate(p)} (it reads the new one from stdin)`);
}

/**
 * How long before its --expires date a secret is warned about: a week, or a quarter of its whole
 * validity where that is shorter (a key set for a day is not warned about from its first hour).
 */
export const EXPIRY_WARNING_MS = 7 * 24 * 3600_000;

/**
 * Close to its --expires date, older than max_age, or of unknown age under one: one sentence, naming
 * the command that rotates it (the nearer expiry first: a job that stops working is worse than an old key).
 */
export function ageWarning(p: ProfileConfig, s: StoredSecret, now: number): string | undefined {
  return expiresSoon(p, s, now) ?? olderThanMaxAge(p, s, now);
}

function expiresSoon(p: ProfileConfig, s: StoredSecret, now: number): string | undefined {
  if (s.expiresAt === undefined || now >= s.expiresAt) return undefined;
  const left = s.expiresAt - now;
  const lead = s.setAt === undefined ? EXPIRY_WARNING_MS : Math.min(EXPIRY_WARNING_MS, (s.expiresAt - s.setAt) / 4);
  if (left > lead) return undefined;
  return `the ${kind(p)} of profile ${p.name} expires in ${span(left)} (${iso(s.expiresAt)}): ${rotate(p)}`;
}

function olderThanMaxAge(p: ProfileConfig, s: StoredSecret, now: number): string | undefined {
  const max = p.max_age;
  if (!max) return undefined;
  if (s.setAt === undefined) {
    return `the ${kind(p)} of profile ${p.name} was set at an unknown time (before authd kept the date), so it may be older than its max_age of ${max.text}: ${rotate(p)}`;
  }
  const age = now - s.setAt;
  if (age <= max.seconds * 1000) return undefined;
  return `the ${kind(p)} of profile ${p.name} was set ${span(age)} ago, longer than its max_age of ${max.text}: ${rotate(p)}`;
}

/** For `status`: the dates, relative to the daemon's clock, and what is wrong. */
export function secretAge(p: ProfileConfig, s: StoredSecret, now: number): SecretAge {
  const a: SecretAge = {};
  if (s.setAt !== undefined) {
    a.setAt = Math.floor(s.setAt / 1000);
    a.ageSeconds = Math.max(0, Math.floor((now - s.setAt) / 1000));
  }
  if (s.expiresAt !== undefined) {
    a.expiresAt = Math.floor(s.expiresAt / 1000);
    a.expiresInSeconds = Math.floor((s.expiresAt - now) / 1000);
  }
  if (p.max_age) a.maxAge = p.max_age.text;
  const expired = expiredError(p, s, now);
  const warning = expired ? `${expired.message}: ${rotate(p)}` : ageWarning(p, s, now);
  if (expired) a.expired = true;
  if (warning) a.warning = warning;
  return a;
}

/** For `doctor`: the secret's age, a warning past max_age or close to its expiry, a failure past it. */
export function secretCheck(p: ProfileConfig, a: SecretAge): DoctorCheck {
  const name = `profile ${p.name} secret`;
  const fix = `run \`authd secret set ${p.name}\` with the new one on stdin`;
  if (a.expired) return { name, ok: false, detail: a.warning!, fix };
  if (a.warning) return { name, ok: false, warn: true, detail: a.warning, fix };
  const set = a.ageSeconds === undefined ? 'set at an unknown time' : a.ageSeconds < 60 ? 'set just now' : `set ${span(a.ageSeconds * 1000)} ago`;
  const limits = [a.maxAge ? `max_age ${a.maxAge}` : undefined,
    a.expiresAt !== undefined ? `expires ${iso(a.expiresAt * 1000)}, in ${span((a.expiresInSeconds ?? 0) * 1000)}` : undefined].filter(Boolean);
  return { name, ok: true, detail: `${kind(p)} ${set}${limits.length ? ` (${limits.join('; ')})` : ''}` };
}

/** A stretch of time in words: "91 days", "5 hours", "1 minute". */
export function span(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  const [n, unit] = minutes >= 48 * 60 ? [Math.floor(minutes / 1440), 'day'] : minutes >= 120 ? [Math.floor(minutes / 60), 'hour'] : [minutes, 'minute'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/** Unix ms as 2026-06-30T00:00:00Z. */
function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
