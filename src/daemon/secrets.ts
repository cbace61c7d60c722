// Where a service profile's credential comes from: the caller's environment (client_secret_env),
// the store (`authd secret set`), or a private key file. Memory only; never logged.
import { readFileSync } from 'node:fs';
import { AuthdError, type EnvSecrets } from '../protocol/index.js';
import type { ProfileConfig } from './config/index.js';
import * as idp from './idp.js';
import { checkPrivateFile } from '../protocol/perms.js';
import { UntilRejected } from '../protocol/until-rejected.js';
import type { Store, StoredSession } from './store/types.js';

export function secretKey(profile: string): string {
  return `secret:${profile}`;
}

/** A secret from `authd secret set`, with its dates (Unix ms; absent: unknown, or none). */
export interface StoredSecret {
  value: string;
  setAt?: number;
  expiresAt?: number;
}

function storedSecretOf(rec: StoredSession | undefined): StoredSecret | undefined {
  if (typeof rec?.secret !== 'string') return undefined;
  const s: StoredSecret = { value: rec.secret };
  // A store may hold anything: a date that is not a number is as good as none.
  if (typeof rec.stored_at === 'number' && Number.isFinite(rec.stored_at)) s.setAt = rec.stored_at;
  if (typeof rec.secret_expires_at === 'number' && Number.isFinite(rec.secret_expires_at)) s.expiresAt = rec.secret_expires_at * 1000;
  return s;
}

export class SecretSource {
  /** A client secret from the caller's environment (client_secret_env): memory only. */
  private envSecret: string | undefined;
  /** The client secret, private key or API key kept in the store, read once. */
  private readonly stored = new UntilRejected<StoredSecret | undefined>();
  private readonly privateKey = new UntilRejected<idp.ClientCredential>();

  constructor(
    private readonly profile: () => ProfileConfig,
    private readonly store: Store,
  ) {}

  /** The caller sent the variable the profile names: it becomes the secret in use. */
  takeEnv(env: EnvSecrets | undefined): boolean {
    const name = this.profile().client_secret_env;
    const value = name && env ? env[name] : undefined;
    if (typeof value !== 'string' || value === '') return false;
    this.envSecret = value;
    return true;
  }

  /** The provider refused the client (with `refused`, if given): the next caller is asked for its current secret. */
  forgetEnv(refused?: string): void {
    if (refused === undefined || refused === this.envSecret) this.envSecret = undefined;
  }

  /** `authd secret set` or `logout`: read the store again next time. */
  changed(): void {
    this.stored.set(undefined);
    this.privateKey.set(undefined);
  }

  /** Logged out: no stored secret is read until one is set again (its deletion may still be under way). */
  withdraw(): void {
    this.stored.set(Promise.resolve(undefined));
    this.privateKey.set(undefined);
  }

  reset(): void {
    this.envSecret = undefined;
    this.changed();
  }

  storedSecret(): Promise<string | undefined> {
    return this.storedRecord().then((s) => s?.value);
  }

  /** The stored secret and its dates, read once. */
  storedRecord(): Promise<StoredSecret | undefined> {
    const name = this.profile().name;
    return this.stored.get(() => this.store.get(secretKey(name)).then(storedSecretOf));
  }

  /** The next token request presents the stored secret (not the caller's variable, not a key file). */
  usesStored(): boolean {
    const p = this.profile();
    if (p.flow === 'api_key') return true;
    if (p.flow !== 'client_credentials') return false;
    return p.client_auth === 'private_key_jwt' ? !p.private_key_file : !this.envSecret;
  }

  async apiKey(): Promise<string> {
    const key = await this.storedSecret();
    if (key) return key;
    const name = this.profile().name;
    throw new AuthdError('login_required', `no API key is set for profile ${name}`,
      `run \`authd secret set ${name}\` (it reads the key from stdin)`);
  }

  /** The caller's env var, else the stored secret; for private_key_jwt the key file or the stored key. */
  async clientCredential(): Promise<idp.ClientCredential> {
    const p = this.profile();
    if (p.client_auth === 'private_key_jwt') {
      return this.privateKey.get(() => this.loadPrivateKey(p));
    }
    if (this.envSecret) return { secret: this.envSecret };
    const stored = await this.storedSecret();
    if (stored) return { secret: stored };
    if (p.client_secret_env) throw secretRequired(p);
    throw new AuthdError('config_error', `profile ${p.name} has no client secret`,
      `run \`authd secret set ${p.name}\` (it reads stdin), or set client_secret_env in the profile`);
  }

  private async loadPrivateKey(p: ProfileConfig): Promise<idp.ClientCredential> {
    if (p.private_key_file) {
      // Like ssh with its keys: a private key others can read is refused.
      if (!checkPrivateFile(p.private_key_file, 'private key file')) {
        throw new AuthdError('config_error', `the private key file ${p.private_key_file} of profile ${p.name} does not exist`);
      }
      return idp.importPrivateKey(readFileSync(p.private_key_file, 'utf8'), `the private key file ${p.private_key_file}`);
    }
    const stored = await this.storedSecret();
    if (!stored) {
      throw new AuthdError('config_error', `profile ${p.name} has no private key for private_key_jwt`,
        `set private_key_file in the profile, or run \`authd secret set ${p.name} < key.pem\``);
    }
    return idp.importPrivateKey(stored, `the private key stored for profile ${p.name}`);
  }
}

export function secretRequired(p: ProfileConfig): AuthdError {
  const name = p.client_secret_env!;
  return new AuthdError('secret_required', `profile ${p.name} needs its client secret from $${name}`,
    `set ${name} in the environment of the command, or store it with \`authd secret set ${p.name}\``, { env: name });
}
