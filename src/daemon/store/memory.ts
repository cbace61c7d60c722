// The memory store: nothing persisted (CI, containers). Values are copied in and out.
import type { Store, StoredSession } from './types.js';

export function createMemoryStore(): Store {
  const entries = new Map<string, StoredSession>();
  return {
    kind: 'memory',
    location: 'memory',
    warning: undefined,
    get: async (key) => copy(entries.get(key)),
    put: async (key, value) => {
      entries.set(key, structuredClone(value));
    },
    delete: async (key) => entries.delete(key),
    keys: async () => [...entries.keys()],
  };
}

function copy(value: StoredSession | undefined): StoredSession | undefined {
  return value === undefined ? undefined : structuredClone(value);
}
