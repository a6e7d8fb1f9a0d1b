import type { PurgeCounts, PurgePolicy, Store } from '@polyauth/store';
import type { Logger } from 'pino';

export interface PurgeOptions extends PurgePolicy {
  /** Milliseconds between runs; 0 = never scheduled (runOnce still works). */
  intervalMs: number;
}

/**
 * Deletes dead rows on a schedule: tokens expired or revoked, one-time
 * tokens expired or used (both after the retention), and throttle counters
 * idle past their windows and lockouts. In bounded batches, each its own
 * short transaction holding a transaction-scoped advisory lock, so that of
 * several servers on one database one purges at a time and the others skip
 * that round (store/repos/purge.ts). audit_log is never purged: it is the
 * record of what happened, kept for as long as the operator keeps it.
 * Nothing happens until `start()`; `close()` stops the timer and waits for a
 * run in progress.
 */
export class Purger {
  readonly #store: Store;
  readonly #opts: PurgeOptions;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #closed = false;

  constructor(store: Store, opts: PurgeOptions, log: Logger) {
    this.#store = store;
    this.#opts = opts;
    this.#log = log;
  }

  /** Schedules the runs (the first one an interval from now). */
  start(): void {
    if (this.#opts.intervalMs <= 0 || this.#closed || this.#timer) return;
    this.#schedule();
  }

  /** One run now: every table, batch after batch. `busy` when another server held the lock. */
  async runOnce(): Promise<PurgeCounts & { busy: boolean }> {
    const run = this.#store.purge.run(this.#opts);
    this.#running = run.catch(() => undefined);
    try {
      const counts = await run;
      const deleted = counts.tokens + counts.oneTimeTokens + counts.throttle;
      if (deleted > 0) this.#log.info({ purged: counts }, 'purged dead tokens and counters');
      else this.#log.debug({ purged: counts }, 'purge: nothing to delete');
      return counts;
    } finally {
      this.#running = undefined;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.runOnce()
        .catch((err: unknown) => this.#log.warn({ err }, 'purge failed; trying again at the next interval'))
        .finally(() => {
          if (!this.#closed) this.#schedule();
        });
    }, this.#opts.intervalMs);
    this.#timer.unref();
  }
}
