import { EventEmitter } from 'node:events';
import type { TokenRow } from '@polyauth/store';
import { ChangeGate, TtlLru, type LiveCacheOptions } from './live-cache.ts';

export type TokenCacheOptions = LiveCacheOptions;

/** What a load found: a live row, and optionally a time past which it must not be served (ms). */
export type Loaded = TokenRow | { row: TokenRow; notAfter: number };

/**
 * A bounded, short-lived, in-memory cache of live token rows, keyed by
 * api, kind and token hash, so a valid token is checked without a database
 * round trip. Kept exact by a ChangeGate (live-cache.ts): every announced
 * change to a token or its user drops that user's entries, nothing is served
 * while changes cannot be heard, and a read that raced a change is not kept.
 *
 * Emits 'invalidated' (userId | '*') after dropping entries.
 */
export class TokenCache extends EventEmitter {
  readonly #gate: ChangeGate;
  /** key → row, least recently used first; also kept by user in #byUser. */
  readonly #entries: TtlLru<TokenRow>;
  /** userId → keys of that user's entries. */
  readonly #byUser = new Map<string, Set<string>>();
  /** Values no one user owns (OAuth clients), dropped by '*' only. */
  readonly #shared: TtlLru<unknown>;

  constructor(opts: TokenCacheOptions) {
    super();
    this.#entries = new TtlLru(opts.maxEntries, (key, row) => this.#unindex(key, row.userId));
    this.#shared = new TtlLru(opts.maxEntries);
    this.#gate = new ChangeGate(opts, (userId) => this.invalidate(userId));
  }

  /** True while rows may be served from memory. */
  get enabled(): boolean {
    return this.#gate.enabled;
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
    const now = this.#gate.now();
    const hit = this.#entries.get(key, now);
    if (hit) return hit;
    return rowOf(
      await this.#gate.load(load, (loaded) => {
        const row = rowOf(loaded);
        if (!row) return;
        const notAfter = Math.min(loaded && 'notAfter' in loaded ? loaded.notAfter : Infinity, row.expiresAt?.getTime() ?? Infinity);
        this.#put(key, row, Math.min(now + this.#gate.ttlMs, notAfter), now);
      }),
    );
  }

  /**
   * A value that belongs to no user (a live OAuth client), under the same
   * rules as rows: served only while the feed is live, for at most the TTL,
   * a miss is never cached, a load that raced a change is not cached, and
   * any '*' notification (every change to a client sends one) drops them all.
   */
  async getShared<T>(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    if (!this.enabled) return load();
    const now = this.#gate.now();
    const hit = this.#shared.get(key, now);
    if (hit !== undefined) return hit as T;
    return this.#gate.load(load, (value) => {
      if (value !== undefined) this.#shared.set(key, value, now + this.#gate.ttlMs, now);
    });
  }

  /**
   * Replaces the cached copy of a row after a write the database does not
   * announce (a coalesced lastUsedAt); rows already handed out stay as read.
   */
  patch(row: Pick<TokenRow, 'id' | 'userId'>, update: Partial<Pick<TokenRow, 'lastUsedAt'>>): void {
    for (const key of this.#byUser.get(row.userId) ?? []) {
      const cached = this.#entries.peek(key);
      if (cached?.id === row.id) this.#entries.replace(key, { ...cached, ...update });
    }
  }

  /** Drops every entry of `userId` ('*': every entry) and voids reads in flight. */
  invalidate(userId: string): void {
    this.#gate?.bump(); // (undefined only if the feed calls back while the gate is being made)
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
    this.#gate.close();
    this.#entries.clear();
    this.#byUser.clear();
    this.#shared.clear();
  }

  #put(key: string, row: TokenRow, until: number, now: number): void {
    const old = this.#entries.peek(key);
    if (old) this.#unindex(key, old.userId);
    let keys = this.#byUser.get(row.userId);
    if (!keys) this.#byUser.set(row.userId, (keys = new Set()));
    keys.add(key);
    // indexed first: whatever the bound evicts (even this entry) is unindexed
    this.#entries.set(key, row, until, now);
  }

  #unindex(key: string, userId: string): void {
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
