// Picks the store backend: `store = "auto" | "keyring" | "file" | "memory"` (config or AUTHD_STORE).
import { AuthdError } from '../../protocol/errors.js';
import type { StoreChoice } from '../config/index.js';
import { openFileStore } from './file.js';
import { type KeyringOptions, OR_FILE, openKeyringStore } from './keyring.js';
import { createMemoryStore } from './memory.js';
import type { Store } from './types.js';

export type { Store, StoredSession, StoreKind } from './types.js';
export type { StoreChoice };

/**
 * - `keyring`: the OS keychain, or a store_error saying why not (never a silent downgrade).
 * - `auto`: the keychain when it answers, else the file store with `warning` saying so and how to fix it.
 *   A file store that already holds entries is kept even when a keychain answers (so sessions do not
 *   vanish when a keychain appears), with a warning suggesting `authd store migrate --to keyring`.
 * - `file`, `memory`: as named.
 * `keyring` options (timeout, the environment the keychain is reached with) apply to `keyring` and `auto`.
 */
export async function openStore(choice: StoreChoice, stateDir: string, keyring: KeyringOptions = {}): Promise<Store> {
  switch (choice) {
    case 'file':
      return openFileStore(stateDir);
    case 'memory':
      return createMemoryStore();
    case 'keyring':
      // The native keychain library is loaded only by its helper process, only when a keychain is asked for.
      return openKeyringStore(keyring);
    case 'auto':
      return openAuto(stateDir, keyring);
  }
}

async function openAuto(stateDir: string, opts: KeyringOptions): Promise<Store> {
  let keychain: Store | undefined;
  let why: AuthdError | undefined;
  try {
    keychain = await openKeyringStore(opts);
  } catch (err) {
    if (!(err instanceof AuthdError) || err.code !== 'store_error') throw err;
    why = err;
  }
  let file: Store;
  try {
    file = await openFileStore(stateDir);
  } catch (err) {
    await keychain?.close?.();
    throw err;
  }

  if (!keychain) {
    const fix = why?.hint ? `To use the keychain, ${why.hint.endsWith(OR_FILE) ? why.hint.slice(0, -OR_FILE.length) : why.hint}; ` : '';
    return withWarning(
      file,
      `No usable keychain was found, so authd keeps its secrets in the file ${file.location}: ${why?.message ?? 'unknown error'} ` +
        `${fix}to silence this, set store = "file".`,
      file.warning,
      'no keychain: secrets are in a 0600 file',
    );
  }

  const held = await file.keys();
  if (held.length > 0) {
    await keychain.close?.();
    return withWarning(
      file,
      `The file ${file.location} holds ${held.length} saved ${held.length === 1 ? 'entry' : 'entries'}, so authd keeps using it although the keychain (${keychain.location}) is available. ` +
        'Run `authd store migrate --to keyring` to move them into the keychain, or set store = "file" to silence this.',
      file.warning,
      'a keychain is available, but secrets stay in a 0600 file until `authd store migrate --to keyring`',
    );
  }
  // A file store's own warning (a corrupt file kept aside) still matters when the keychain is used.
  return file.warning ? withWarning(keychain, file.warning, undefined, CORRUPT) : keychain;
}

/** What the file store's own warning is about (it has no other). */
const CORRUPT = 'the credentials file was corrupt and was set aside';

/** The same store with `warning` set (after any warning it already had), and `summary`, its one line. */
function withWarning(store: Store, warning: string, earlier: string | undefined, summary: string): Store {
  const text = earlier ? `${earlier} ${warning}` : warning;
  const line = earlier && summary !== CORRUPT ? `${summary}; ${CORRUPT}` : summary;
  return Object.freeze({ ...store, warning: text, summary: `${line} (see \`authd doctor\`)` });
}
