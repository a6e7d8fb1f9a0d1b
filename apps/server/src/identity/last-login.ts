import { outsideRequest, reasonOf, type Store, type User } from '@polyauth/store';

/** Where a failed flush is reported (a pino logger fits). */
export interface WarnLog {
  warn(obj: object, msg: string): void;
}

export interface LastLoginRecorderOptions {
  /** Pending times are written at most this often, ms; 0 = every record writes at once. */
  flushMs: number;
  log?: WarnLog;
  /** Users per statement; a flush with more pending runs several. */
  maxBatch?: number;
}

/**
 * Write-behind for users.last_login_at. A login (or user-token-auth's bump)
 * is answered at once with `now` and the time is kept in memory; the times
 * pending are written together, in one `update … from (values …)` statement,
 * at most every `flushMs`, never moving a stored time backwards. A failed
 * flush keeps the times and retries at the next tick. `close()` writes what
 * is pending (before the pool closes). Reads that return the last login time
 * go through `overlay()`, so they see a pending time before it is written.
 *
 * With `flushMs` 0 each record writes at once (the old behaviour).
 */
export class LastLoginRecorder {
  readonly #users: Store['users'];
  readonly #flushMs: number;
  readonly #log: WarnLog | undefined;
  readonly #maxBatch: number;
  #pending = new Map<string, Date>();
  /** Being written by the flush in progress: still pending for readers. */
  #inFlight = new Map<string, Date>();
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #closed = false;

  constructor(store: Store, opts: LastLoginRecorderOptions) {
    this.#users = store.users;
    this.#flushMs = opts.flushMs;
    this.#log = opts.log;
    this.#maxBatch = opts.maxBatch ?? 5000;
  }

  /** Number of users whose time is not yet written. */
  get pendingCount(): number {
    const ids = new Set([...this.#pending.keys(), ...this.#inFlight.keys()]);
    return ids.size;
  }

  /**
   * Records a login by `userId` at `at` (now) and returns the user's last
   * login time as this server knows it: `at`, or a later time already
   * pending. Writes at once when buffering is off or the recorder is closed.
   */
  async record(userId: string, at: Date = new Date()): Promise<Date> {
    if (this.#flushMs === 0 || this.#closed) {
      const stored = (await this.#users.recordLastLogins([{ userId, at }])).get(userId);
      if (!stored) throw new Error(`user ${userId} vanished while recording a login`);
      return stored;
    }
    const known = this.pending(userId);
    const latest = known && known > at ? known : at;
    this.#pending.set(userId, latest);
    this.#schedule();
    return latest;
  }

  /** The user's last login time not yet written, if any. */
  pending(userId: string): Date | undefined {
    const a = this.#pending.get(userId);
    const b = this.#inFlight.get(userId);
    if (a && b) return a > b ? a : b;
    return a ?? b;
  }

  /** The user as read, with a later last login time still pending laid over. */
  overlay<U extends Pick<User, 'id' | 'lastLoginAt'>>(user: U): U {
    const p = this.pending(user.id);
    if (!p || (user.lastLoginAt && user.lastLoginAt >= p)) return user;
    return { ...user, lastLoginAt: p };
  }

  /**
   * Writes every pending time now (waiting for a flush in progress first).
   * Throws if the database refuses; the times stay pending.
   */
  async flush(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#flushing) await this.#flushing.catch(() => undefined);
    if (this.#pending.size === 0) return;
    const p = this.#write();
    this.#flushing = p;
    try {
      await p;
    } finally {
      this.#flushing = undefined;
      if (this.#pending.size > 0) this.#schedule();
    }
  }

  /** Stops the timer and writes what is pending; a failure is logged, not thrown. */
  async close(): Promise<void> {
    this.#closed = true;
    try {
      await this.flush();
    } catch (err) {
      this.#log?.warn({ reason: reasonOf(err), users: this.pendingCount }, 'last login times could not be written at shutdown');
    } finally {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    // Scheduled from a request's login: the timer must not inherit that
    // request's deadline, or every retry after an outage fails at once.
    this.#timer = outsideRequest(() =>
      setTimeout(() => {
        this.#timer = undefined;
        this.flush().catch((err: unknown) => {
          this.#log?.warn({ reason: reasonOf(err), users: this.pendingCount }, 'last login times not written; retrying at the next tick');
        });
      }, this.#flushMs),
    );
    this.#timer.unref();
  }

  async #write(): Promise<void> {
    this.#inFlight = this.#pending;
    this.#pending = new Map();
    const entries = [...this.#inFlight].map(([userId, at]) => ({ userId, at }));
    try {
      for (let i = 0; i < entries.length; i += this.#maxBatch) {
        await this.#users.recordLastLogins(entries.slice(i, i + this.#maxBatch));
        // Written: no longer pending for readers.
        for (const e of entries.slice(i, i + this.#maxBatch)) this.#inFlight.delete(e.userId);
      }
    } catch (err) {
      // Keep what was not written, merged with what arrived meanwhile.
      for (const [userId, at] of this.#inFlight) {
        const newer = this.#pending.get(userId);
        if (!newer || newer < at) this.#pending.set(userId, at);
      }
      throw err;
    } finally {
      this.#inFlight = new Map();
    }
  }
}
