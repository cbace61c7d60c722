// What every store implements: an async key/value map of sessions. Keys are opaque strings.

export type StoreKind = 'file' | 'memory' | 'keyring';

/** A plain JSON object; fields this version does not know survive a round trip. */
export interface StoredSession {
  v: 1;
  issuer?: string;
  client_id?: string;
  refresh_token?: string;
  access_token?: string;
  token_type?: string;
  /** Unix seconds. */
  expires_at?: number;
  subject?: string;
  scope?: string;
  /** The session's OpenID Connect ID token (get-token --id-token), and when it expires (Unix seconds). */
  id_token?: string;
  id_token_expires_at?: number;
  /** A client secret, PEM private key or API key (key `secret:<profile>`), from `authd secret set`. */
  secret?: string;
  /** Unix seconds: `authd secret set --expires`; after it the secret is refused, not used. */
  secret_expires_at?: number;
  /** A credential kept for git as a storage helper (key `git:…`). */
  git?: GitEntry;
  /**
   * Unix ms: when it was stored. The newest of several matching git credentials is answered first, as
   * git's store does; a secret's age (max_age) counts from it. Absent: stored at an unknown time.
   */
  stored_at?: number;
}

export interface GitEntry {
  protocol: string;
  host: string;
  path?: string;
  username: string;
  password: string;
  password_expiry_utc?: string;
  oauth_refresh_token?: string;
}

export interface Store {
  readonly kind: StoreKind;
  /** Where it keeps things, for status/doctor (a file path, "memory", …). */
  readonly location: string;
  /** A problem found at open time that did not stop it, e.g. a corrupt file kept aside. */
  readonly warning: string | undefined;
  /** `warning` in one line, for `authd status` (which sends the reader to `authd doctor` for the rest). */
  readonly summary?: string;
  get(key: string): Promise<StoredSession | undefined>;
  /** Durable when it resolves. */
  put(key: string, value: StoredSession): Promise<void>;
  /** True if the key was there. */
  delete(key: string): Promise<boolean>;
  keys(): Promise<string[]>;
  /** Releases what it holds (the keyring store's helper process). Optional; the store is unusable after. */
  close?(): Promise<void>;
}
