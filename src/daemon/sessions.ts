// The daemon's sessions: one per profile name for the daemon's lifetime. A config edit updates a
// session, never replaces it, so no two sessions can ever hold (and refresh with) one refresh token.
import type { ProfileConfig } from './config/index.js';
import { Session, type SessionDeps } from './session.js';

export class Sessions {
  private readonly byName = new Map<string, Session>();

  constructor(private readonly deps: SessionDeps) {}

  /** The hot path: the session of a profile seen before. */
  peek(name: string): Session | undefined {
    return this.byName.get(name);
  }

  /** The session of `p`, made the first time the profile is used. */
  for(p: ProfileConfig): Session {
    let s = this.byName.get(p.name);
    if (!s) {
      s = new Session(p, this.deps);
      this.byName.set(p.name, s);
    }
    return s;
  }

  /** The config was (re)loaded: each session takes its profile's new settings, or learns it is gone. */
  reconfigure(profiles: ReadonlyMap<string, ProfileConfig>): void {
    for (const [name, session] of this.byName) session.reconfigure(profiles.get(name));
  }

  close(): void {
    for (const s of this.byName.values()) s.close();
  }

  /** Every refresh in flight answered and stored (at most `ms`): what a stop waits for. */
  async settled(ms: number): Promise<void> {
    await Promise.all([...this.byName.values()].map((s) => s.settled(ms)));
  }
}
