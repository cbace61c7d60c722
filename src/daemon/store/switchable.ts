// The daemon's store, replaceable while it runs (`authd store migrate`): every operation waits while
// a switch is under way, and a switch waits for the operations already started.
import type { Store, StoredSession } from './types.js';

export class SwitchableStore implements Store {
  private gate: Promise<void> | undefined;
  private readonly running = new Set<Promise<unknown>>();

  constructor(private target: Store) {}

  get kind() {
    return this.target.kind;
  }

  get location() {
    return this.target.location;
  }

  get warning() {
    return this.target.warning;
  }

  get summary() {
    return this.target.summary;
  }

  get current(): Store {
    return this.target;
  }

  private async op<T>(fn: (s: Store) => Promise<T>): Promise<T> {
    while (this.gate) await this.gate;
    const p = fn(this.target);
    this.running.add(p);
    try {
      return await p;
    } finally {
      this.running.delete(p);
    }
  }

  get(key: string): Promise<StoredSession | undefined> {
    return this.op((s) => s.get(key));
  }

  put(key: string, value: StoredSession): Promise<void> {
    return this.op((s) => s.put(key, value));
  }

  delete(key: string): Promise<boolean> {
    return this.op((s) => s.delete(key));
  }

  keys(): Promise<string[]> {
    return this.op((s) => s.keys());
  }

  /** Runs `move(old, next)` with every other operation held, then makes `next` the store. */
  async switchTo<T>(next: Store, move: (from: Store, to: Store) => Promise<T>): Promise<T> {
    while (this.gate) await this.gate;
    let open!: () => void;
    this.gate = new Promise((r) => {
      open = r;
    });
    try {
      await Promise.allSettled([...this.running]);
      const result = await move(this.target, next);
      const old = this.target;
      this.target = next;
      await old.close?.();
      return result;
    } finally {
      this.gate = undefined;
      open();
    }
  }

  close(): Promise<void> {
    return this.target.close?.() ?? Promise.resolve();
  }
}
