import { EventEmitter } from 'node:events';
import type { AuthChanges, TokenRow } from '@polyauth/store';

export interface TokenCacheOptions {
  /** How long a live row may be served from memory, seconds; 0 disables the cache. */
  ttlSeconds: number;
  maxEntries: number;
  /** The database's change feed; without one (or while it is not live) nothing is cached. */
  changes: AuthChanges | undefined;
  now?: () => number;
}

interface Entry {
  row: TokenRow;
  /** When this entry stops being served: the cache TTL, or sooner (a JWT's exp). */
  until: number;
}

/** What a load found: a live row, and optionally a time past which it must not be served (ms). */
export type Loaded = TokenRow | { row: TokenRow; notAfter: number };

/**
 * A bounded, short-lived, in-memory cache of live token rows, keyed by
 * api, kind and token hash, so a valid token is checked without a database
 * round trip. Revocation stays immediate because the cache never decides on
 * its own: every committed change to a token or its user is announced by the
 * database (triggers → NOTIFY, see @polyauth/store auth-changes) and drops
 * that user's entries, and while that announcement cannot be guaranteed
 * (the listening connection is down) the cache is bypassed and emptied.
 * A row read while a change arrived is not cached (generation check), so a
 * read that raced a revocation cannot put the revoked token back.
 *
 * Emits 'invalidated' (userId | '*') after dropping entries.
 */
export class TokenCache extends EventEmitter {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /** key → entry, in least-recently-used first order. */
  readonly #entries = new Map<string, Entry>();
  /** userId → keys of that user's entries. */
  readonly #byUser = new Map<string, Set<string>>();
  /** Values no one user owns (OAuth clients), dropped by '*' only. */
  readonly #shared = new Map<string, { value: unknown; until: number }>();
  #generation = 0;
  #closed = false;
  readonly #changes: AuthChanges | undefined;
  readonly #unsubscribe: (() => void) | undefined;

  constructor(opts: TokenCacheOptions) {
    super();
    this.#ttlMs = opts.ttlSeconds * 1000;
    this.#max = opts.maxEntries;
    this.#now = opts.now ?? Date.now;
    this.#changes = this.#ttlMs > 0 ? opts.changes : undefined;
    this.#unsubscribe = this.#changes?.subscribe({
      changed: (userId) => this.invalidate(userId),
      // missed changes are unknown: start over either way
      live: () => this.invalidate('*'),
    });
  }

  /** True while rows may be served from memory. */
  get enabled(): boolean {
    return !this.#closed && (this.#changes?.live ?? false);
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * The live row for `key`: from memory when cached, still within the cache
   * TTL and not past the token's own expiry; else from `load`, cached when
   * nothing changed meanwhile.
   */
  async get(key: string, load: () => Promise<Loaded | undefined>): Promise<TokenRow | undefined> {
    if (!this.enabled) return rowOf(await load());
    const now = this.#now();
    const hit = this.#entries.get(key);
    if (hit) {
      if (hit.until > now && (hit.row.expiresAt === null || hit.row.expiresAt.getTime() > now)) {
        this.#entries.delete(key); // most recently used goes last
        this.#entries.set(key, hit);
        return hit.row;
      }
      this.#drop(key, hit.row.userId);
    }
    const generation = this.#generation;
    const loaded = await load();
    const row = rowOf(loaded);
    if (row && generation === this.#generation && this.enabled) {
      this.#put(key, row, Math.min(now + this.#ttlMs, loaded && 'notAfter' in loaded ? loaded.notAfter : Infinity));
    }
    return row;
  }

  /**
   * A value that belongs to no user (a live OAuth client), under the same
   * rules as rows: served only while the feed is live, for at most the TTL,
   * a miss is never cached, a load that raced a change is not cached, and
   * any '*' notification (every change to a client sends one) drops them all.
   */
  async getShared<T>(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    if (!this.enabled) return load();
    const now = this.#now();
    const hit = this.#shared.get(key);
    if (hit) {
      if (hit.until > now) return hit.value as T;
      this.#shared.delete(key);
    }
    const generation = this.#generation;
    const value = await load();
    if (value !== undefined && generation === this.#generation && this.enabled) {
      this.#shared.set(key, { value, until: now + this.#ttlMs });
      if (this.#shared.size > this.#max) this.#shared.delete(this.#shared.keys().next().value as string);
    }
    return value;
  }

  /**
   * Replaces the cached copy of a row after a write the database does not
   * announce (a coalesced lastUsedAt); rows already handed out stay as read.
   */
  patch(row: Pick<TokenRow, 'id' | 'userId'>, update: Partial<Pick<TokenRow, 'lastUsedAt'>>): void {
    for (const key of this.#byUser.get(row.userId) ?? []) {
      const entry = this.#entries.get(key);
      if (entry?.row.id === row.id) entry.row = { ...entry.row, ...update };
    }
  }

  /** Drops every entry of `userId` ('*': every entry) and voids reads in flight. */
  invalidate(userId: string): void {
    this.#generation++;
    if (userId === '*') {
      this.#entries.clear();
      this.#byUser.clear();
      this.#shared.clear();
    } else {
      const keys = this.#byUser.get(userId);
      if (keys) {
        for (const key of keys) this.#entries.delete(key);
        this.#byUser.delete(userId);
      }
    }
    this.emit('invalidated', userId);
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe?.();
    this.#generation++;
    this.#entries.clear();
    this.#byUser.clear();
    this.#shared.clear();
  }

  #put(key: string, row: TokenRow, until: number): void {
    const old = this.#entries.get(key);
    if (old) this.#drop(key, old.row.userId);
    this.#entries.set(key, { row, until });
    let keys = this.#byUser.get(row.userId);
    if (!keys) this.#byUser.set(row.userId, (keys = new Set()));
    keys.add(key);
    while (this.#entries.size > this.#max) {
      const [oldestKey, oldest] = this.#entries.entries().next().value as [string, Entry];
      this.#drop(oldestKey, oldest.row.userId);
    }
  }

  #drop(key: string, userId: string): void {
    this.#entries.delete(key);
    const keys = this.#byUser.get(userId);
    if (keys) {
      keys.delete(key);
      if (keys.size === 0) this.#byUser.delete(userId);
    }
  }
}

function rowOf(loaded: Loaded | undefined): TokenRow | undefined {
  return loaded && 'notAfter' in loaded ? loaded.row : loaded;
}
