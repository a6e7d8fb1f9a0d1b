/**
 * How long each new pooled connection may take to be set up (connect,
 * authenticate, the session SETs), decided per attempt.
 *
 * While the database is up, every attempt gets the full connect timeout.
 * While it is known to be down (a connection attempt, a statement or the
 * readiness probe failed for want of it, and no second has passed since
 * without a failure), one attempt at a time still gets the full timeout, so a
 * database that is slow to connect but reachable always gets through; the
 * others get the outage timeout: OUTAGE_CONNECT_TIMEOUT_MS, or three times
 * the slowest set-up that succeeded since the database was lost if that is
 * longer (once the full attempt has reached a database whose set-ups take
 * 400 ms, the others get 1.2 s), never more than the full timeout. Set-ups
 * from before the loss do not count: a process's first connections, made
 * while it starts, can be slow for reasons of its own.
 *
 * Why: during a failover behind HAProxy, an attempt routed to the dead
 * primary is neither refused nor answered: HAProxy holds it while it
 * retries that server (about a second per retry), for about 3 s. The pool
 * (knex over tarn) starts no new attempt while its slots are taken by
 * pending ones, so the attempts started at the kill held every slot past the
 * moment HAProxy switched to the new primary, and requests waited for them to
 * time out (up to 2.2 s beyond the switch in `npm run test:failover`). With
 * short attempts a slot frees within 0.6 s, and the next attempt reaches the
 * new primary (docs/DECISIONS.md, "Database outages and failover").
 */
export const OUTAGE_CONNECT_TIMEOUT_MS = 500;
/** An outage timeout is at least this many times the slowest set-up since the loss. */
const SLOWEST_FACTOR = 3;

export class ConnectTimeouts {
  readonly fullMs: number;
  readonly #floorMs: number;
  readonly #attempts = new Map<unknown, { at: number; full: boolean }>();
  #slowestMs = 0;

  /** `fullMs`: the connect timeout; `floorMs`: the shortest outage timeout. */
  constructor(fullMs: number, floorMs = OUTAGE_CONNECT_TIMEOUT_MS) {
    this.fullMs = fullMs;
    this.#floorMs = floorMs;
  }

  /** The timeout of the attempts that are not the full one while the database is down. */
  get outageMs(): number {
    return Math.min(this.fullMs, Math.max(this.#floorMs, SLOWEST_FACTOR * this.#slowestMs));
  }

  /** The database was just lost: set-up times from before no longer count. */
  lost(): void {
    this.#slowestMs = 0;
  }

  /**
   * Attempt `id` starts now: returns its timeout. `down`: the database is
   * known to be down.
   */
  start(id: unknown, down: boolean, now = Date.now()): number {
    // An attempt not heard of after its full timeout is over (the pool's own
    // create timeout ends it then): forget it, so that a lost end can never
    // keep the full attempt from being given again.
    for (const [key, a] of this.#attempts) if (now - a.at > this.fullMs) this.#attempts.delete(key);
    const full = !down || ![...this.#attempts.values()].some((a) => a.full);
    this.#attempts.set(id, { at: now, full });
    return full ? this.fullMs : this.outageMs;
  }

  /** Attempt `id` ended: connected (`ok`), or failed or timed out. */
  end(id: unknown, ok: boolean, now = Date.now()): void {
    const a = this.#attempts.get(id);
    if (!a) return;
    this.#attempts.delete(id);
    if (ok) this.#slowestMs = Math.max(this.#slowestMs, now - a.at);
  }
}
