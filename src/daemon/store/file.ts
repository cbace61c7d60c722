// The file store: state/credentials.json, 0600 in a 0700 directory, rewritten atomically on every
// change. The daemon is its only writer (single instance is enforced elsewhere), so the file is
// read once at open and the in-memory map always equals what is on disk.
// Error text names paths and errno codes only: the file holds tokens.
import { chmod, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AuthdError } from '../../protocol/errors.js';
import { checkPrivateFile, ensurePrivateDir } from '../../protocol/perms.js';
import { isRunning } from '../../protocol/process.js';
import { tempFileWriter, writeFileAtomic } from '../atomic-write.js';
import type { Store, StoredSession } from './types.js';

type Entries = Map<string, StoredSession>;

const FILE = 'credentials.json';

export async function openFileStore(stateDir: string): Promise<Store> {
  ensurePrivateDir(stateDir, 'state directory');
  const path = join(stateDir, FILE);
  await removeDeadTempFiles(stateDir);
  const loaded = await load(path);
  let entries = loaded.entries;

  // One write at a time, each starting from the map the previous one committed.
  let queue: Promise<unknown> = Promise.resolve();
  function serialise<T>(job: () => Promise<T>): Promise<T> {
    const result = queue.then(job);
    queue = result.catch(() => undefined);
    return result;
  }

  return {
    kind: 'file',
    location: path,
    warning: loaded.warning,
    get: async (key) => {
      const value = entries.get(key);
      return value === undefined ? undefined : structuredClone(value);
    },
    put: async (key, value) => {
      const copy = JSON.parse(JSON.stringify(value)) as StoredSession; // exactly what the file will hold
      return serialise(async () => {
        const next = new Map(entries).set(key, copy);
        await writeEntries(path, next);
        entries = next;
      });
    },
    delete: (key) =>
      serialise(async () => {
        if (!entries.has(key)) return false;
        const next = new Map(entries);
        next.delete(key);
        await writeEntries(path, next);
        entries = next;
        return true;
      }),
    keys: async () => [...entries.keys()],
  };
}

async function load(path: string): Promise<{ entries: Entries; warning: string | undefined }> {
  if (!checkPrivateFile(path, 'credentials file')) return { entries: new Map(), warning: undefined };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw storeError(`Could not read the credentials file ${path}`, err);
  }
  const entries = parse(text);
  if (entries) return { entries, warning: undefined };
  // Never silently emptied: keep the bad file for the user, start empty, and say so.
  const aside = `${path}.corrupt-${new Date().toISOString().replace(/[-:]/g, '')}`;
  try {
    await rename(path, aside);
    await chmod(aside, 0o600);
  } catch (err) {
    throw storeError(`The credentials file ${path} is corrupt and could not be moved aside`, err);
  }
  const warning = `The credentials file ${path} was corrupt; it was kept as ${aside} and authd started with no stored sessions.`;
  return { entries: new Map(), warning };
}

/**
 * A daemon killed while writing leaves its temp file behind (a copy of the tokens). Remove those
 * whose writer is dead; a live writer's file is in use (a second daemon opens the store before it
 * learns that another one is serving). Nothing but our own temp-file names is touched.
 */
async function removeDeadTempFiles(stateDir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(stateDir);
  } catch {
    return; // load() reports an unreadable directory
  }
  for (const name of names) {
    const writer = tempFileWriter(name, FILE);
    if (writer !== undefined && !isRunning(writer)) await rm(join(stateDir, name), { force: true }).catch(() => undefined);
  }
}

/** The entries of a `{"v":1,"entries":{…}}` document, or undefined if it is not one. */
function parse(text: string): Entries | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(doc) || doc.v !== 1 || !isObject(doc.entries)) return undefined;
  const entries: Entries = new Map();
  for (const [key, value] of Object.entries(doc.entries)) {
    if (!isObject(value) || value.v !== 1) return undefined;
    entries.set(key, value as unknown as StoredSession);
  }
  return entries;
}

/** The whole file, replaced atomically and durably (0600, the rename fsync'd) before the change counts. */
async function writeEntries(path: string, entries: Entries): Promise<void> {
  const body = `${JSON.stringify({ v: 1, entries: Object.fromEntries(entries) }, null, 2)}\n`;
  try {
    await writeFileAtomic(path, body, { mode: 0o600 });
  } catch (err) {
    throw storeError(`Could not write the credentials file ${path}`, err);
  }
}

/** The errno code only: a Node error's message is safe today, but nothing here may echo data. */
function storeError(sentence: string, err: unknown): AuthdError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
  return new AuthdError(
    'store_error',
    `${sentence} (${code}).`,
    'check that the state directory is writable and the disk is not full',
  );
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
