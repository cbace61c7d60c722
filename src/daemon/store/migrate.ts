// Moves every entry from one store to another without losing any, even if interrupted:
// 1. copy every key to the target (the source wins where the target already holds another value),
// 2. read every one back from the target and compare,
// 3. only when ALL are verified, delete them from the source.
// Killed during 1 or 2, the source is untouched; killed during 3, each entry is in the target and
// maybe still in the source. Every entry is always somewhere, and running it again completes it.
// Nothing else may write to either store meanwhile (the daemon runs it while it holds the store).
import { AuthdError } from '../../protocol/errors.js';
import type { Store, StoredSession } from './types.js';

export interface MigrateProgress {
  phase: 'copied' | 'verified' | 'deleted';
  key: string;
  /** 1-based position of `key` in this phase, of `total`. */
  done: number;
  total: number;
}

export interface MigrateOptions {
  /** Called after each step; awaited. For progress output (and for tests to stop at an exact point). */
  onProgress?: (p: MigrateProgress) => void | Promise<void>;
}

export async function migrate(
  from: Store,
  to: Store,
  opts: MigrateOptions = {},
): Promise<{ moved: number; keys: string[] }> {
  if (from.kind === to.kind && from.location === to.location) {
    // Copying onto itself and then deleting the source would delete everything.
    throw new AuthdError('usage', `The secrets are already in the ${to.kind} store (${to.location}); there is nothing to move.`);
  }
  const report = opts.onProgress ?? (() => undefined);
  const keys = [...(await from.keys())].sort();

  const copied = new Map<string, StoredSession>();
  for (const key of keys) {
    const value = await from.get(key);
    if (value === undefined) continue; // gone since it was listed: nothing to move
    const there = await to.get(key);
    if (there === undefined || !sameJson(there, value)) await to.put(key, value);
    copied.set(key, value);
    await report({ phase: 'copied', key, done: copied.size, total: keys.length });
  }

  let verified = 0;
  for (const [key, value] of copied) {
    const back = await to.get(key);
    if (back === undefined || !sameJson(back, value)) {
      throw new AuthdError(
        'store_error',
        `The entry "${key}" read back from the ${to.kind} store (${to.location}) differs from what was written; nothing was removed from the ${from.kind} store.`,
        'retry the migration; if it fails again, keep using the current store',
      );
    }
    await report({ phase: 'verified', key, done: ++verified, total: copied.size });
  }

  let deleted = 0;
  for (const key of copied.keys()) {
    await from.delete(key);
    await report({ phase: 'deleted', key, done: ++deleted, total: copied.size });
  }
  return { moved: copied.size, keys: [...copied.keys()] };
}

/** Deep equality of two JSON values, ignoring object key order. */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`;
  if (typeof x === 'object' && x !== null) {
    const entries = Object.entries(x as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(x) ?? 'undefined';
}
