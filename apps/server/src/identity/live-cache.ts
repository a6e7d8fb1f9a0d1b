import { LRUCache } from 'lru-cache';
import type { AuthChanges } from '@polyauth/store';

export interface LiveCacheOptions {
  /** How long a value may be served from memory, seconds; 0 disables the cache. */
  ttlSeconds: number;
  maxEntries: number;
  /** The database's change feed; without one (or while it is not live) nothing is cached. */
  changes: AuthChanges | undefined;
  now?: () => number;
}

/**
 * A served entry moves to the recent end at most this often (memcached's
 * ITEM_UPDATE_INTERVAL, here 1 s against a TTL of seconds): recency is
 * counted to the second, and a hot entry costs one map lookup, not a
 * delete and an insert, per hit.
 */
export const PROMOTE_EVERY_MS = 1000;

interface Slot<V> {
  value: V;
  /** When it last moved to the recent end (ms). */
  promoted: number;
}

/**
 * A bounded map of values with deadlines, least recently used first: an
 * `lru-cache` (its per-entry ttl, no timers), on the caller's clock (`now`,
 * ms, passed to every call), with recency counted to PROMOTE_EVERY_MS (a
 * hit within the interval is a `peek`, which leaves the entry's place).
 * `evicted` hears of every entry it drops on its own (stale on read, or over
 * the bound), not of `delete` or `clear`.
 */
export class TtlLru<V> {
  /**
   * The caller's clock at the current call, +2: an entry set at `now` starts
   * at now+1 (lru-cache reads a start of 0 as "no ttl"), and lru-cache's
   * entry is stale once more than its ttl has passed, so with ttl = until -
   * now it is stale exactly from `until` on.
   */
  #now = 2;
  readonly #cache: LRUCache<string, Slot<V>>;

  constructor(maxEntries: number, evicted?: (key: string, value: V) => void) {
    this.#cache = new LRUCache<string, Slot<V>>({
      max: maxEntries,
      // the clock is the caller's: read on every check, never cached behind a timer
      perf: { now: () => this.#now },
      ttlResolution: 0,
      ...(evicted && {
        dispose: (slot, key, reason) => {
          if (reason === 'evict' || reason === 'expire') evicted(key, slot.value);
        },
      }),
    });
  }

  get size(): number {
    return this.#cache.size;
  }

  /** The value while it is fresh at `now`; a stale one is dropped. */
  get(key: string, now: number): V | undefined {
    this.#now = now + 2;
    const slot = this.#cache.peek(key);
    if (slot === undefined) {
      this.#cache.get(key); // drops a stale entry (its `evicted` hears it)
      return undefined;
    }
    if (now - slot.promoted >= PROMOTE_EVERY_MS) {
      slot.promoted = now;
      this.#cache.get(key); // to the recent end
    }
    return slot.value;
  }

  /** The value, fresh or not, without touching its place (for an in-place update). */
  peek(key: string): V | undefined {
    return this.#cache.peek(key, { allowStale: true })?.value;
  }

  /** Replaces the value but keeps its deadline and place. */
  replace(key: string, value: V): void {
    const slot = this.#cache.peek(key, { allowStale: true });
    if (slot) slot.value = value;
  }

  /** Serves `value` until `until` (ms, exclusive); one already due is not kept. */
  set(key: string, value: V, until: number, now: number): void {
    this.#now = now + 2;
    const ttl = Math.floor(until - now);
    if (ttl < 1) {
      this.#cache.delete(key);
      return;
    }
    this.#cache.set(key, { value, promoted: now }, { ttl, start: now + 1 });
  }

  delete(key: string): void {
    this.#cache.delete(key);
  }

  clear(): void {
    this.#cache.clear();
  }
}

/**
 * What makes an in-memory copy of auth data safe to serve, shared by
 * TokenCache and UserCache. The cache never decides on its own: every
 * committed change to a token, a user or a client is announced by the
 * database (triggers → NOTIFY, see @polyauth/store auth-changes) and reaches
 * `changed`; while that announcement cannot be guaranteed (the listening
 * connection is down) the gate is shut, so every read goes to the database,
 * and `changed('*')` empties the cache when it opens again. A value loaded
 * while a change arrived is not kept (generation check), so a read that
 * raced a revocation cannot put the revoked token back.
 */
export class ChangeGate {
  readonly ttlMs: number;
  readonly now: () => number;
  #generation = 0;
  #closed = false;
  readonly #changes: AuthChanges | undefined;
  readonly #unsubscribe: (() => void) | undefined;

  constructor(opts: LiveCacheOptions, changed: (userId: string) => void) {
    this.ttlMs = opts.ttlSeconds * 1000;
    this.now = opts.now ?? Date.now;
    this.#changes = this.ttlMs > 0 ? opts.changes : undefined;
    this.#unsubscribe = this.#changes?.subscribe({
      changed,
      // missed changes are unknown: start over either way
      live: () => changed('*'),
    });
  }

  /** True while values may be served from memory. */
  get enabled(): boolean {
    return !this.#closed && (this.#changes?.live ?? false);
  }

  /** Voids every load in flight: call on every change. */
  bump(): void {
    this.#generation++;
  }

  /** `load()`, whose value is handed to `keep` only if nothing changed meanwhile and the gate is still open. */
  async load<T>(load: () => Promise<T>, keep: (value: T) => void): Promise<T> {
    const generation = this.#generation;
    const value = await load();
    if (generation === this.#generation && this.enabled) keep(value);
    return value;
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe?.();
    this.#generation++;
  }
}
