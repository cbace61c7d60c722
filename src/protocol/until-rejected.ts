// A promise kept until it rejects: concurrent and later callers share one success, and the call after
// a failure tries again. For discovery, a stored secret, a key file, the SDK's connection.

export class UntilRejected<T> {
  private held: Promise<T> | undefined;

  get(make: () => Promise<T>): Promise<T> {
    if (this.held) return this.held;
    const attempt = make();
    this.held = attempt;
    // A failure is forgotten unless something newer was put in its place meanwhile.
    attempt.catch(() => {
      if (this.held === attempt) this.held = undefined;
    });
    return attempt;
  }

  /** Hands over what is held, if anything, and holds nothing. */
  take(): Promise<T> | undefined {
    const held = this.held;
    this.held = undefined;
    return held;
  }

  /** Replaces what is held: a known value, or nothing (the next get makes it again). */
  set(value: Promise<T> | undefined): void {
    this.held = value;
  }
}
