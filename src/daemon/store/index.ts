// Picks the store backend. The keyring store joins here later.
import { openFileStore } from './file.js';
import { createMemoryStore } from './memory.js';
import type { Store } from './types.js';

export type { Store, StoredSession, StoreKind } from './types.js';

export async function openStore(kind: 'file' | 'memory', stateDir: string): Promise<Store> {
  switch (kind) {
    case 'file':
      return openFileStore(stateDir);
    case 'memory':
      return createMemoryStore();
  }
}
