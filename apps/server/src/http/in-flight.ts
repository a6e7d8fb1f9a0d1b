/**
 * Counts API handlers still running. A client that hangs up closes its
 * socket before the handler ends (a login may still be in bcrypt), so the
 * server's `close` callback alone cannot tell when the worker pool and the
 * database may be closed; a graceful stop waits for this count to reach 0.
 */
export class InFlight {
  #count = 0;
  #waiters: Array<() => void> = [];

  get count(): number {
    return this.#count;
  }

  /** Marks a handler as started; call the returned function once it ends. */
  start(): () => void {
    this.#count += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#count -= 1;
      if (this.#count === 0) for (const wake of this.#waiters.splice(0)) wake();
    };
  }

  /** True once nothing is in flight; false when `timeoutMs` passes first. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#waiters.push(wake);
    });
  }
}

/** The app's tracker (set by createApp), if any. */
export function inFlightOf(app: { locals: object }): InFlight | undefined {
  const t: unknown = (app.locals as { inFlight?: unknown }).inFlight;
  return t instanceof InFlight ? t : undefined;
}
