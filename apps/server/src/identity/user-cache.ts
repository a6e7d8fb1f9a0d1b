import type { AuthChanges, Store, User } from '@polyauth/store';

export interface UserCacheOptions {
  /** How long a user may be served from memory, seconds; 0 disables the cache. */
  ttlSeconds: number;
  maxEntries: number;
  /** The database's change feed; without one (or while it is not live) nothing is cached. */
  changes: AuthChanges | undefined;
  now?: () => number;
}

interface Entry {
  value: Readonly<User> | boolean;
  until: number;
}

/**
 * A bounded, short-lived, in-memory cache of users (by id) and of whether a
 * user belongs to any domain, so a read-only authenticated request (auth-v3
 * whoAmI, mts-auth GET /user) needs no database round trip once its token is
 * cached too. Kept exact the way TokenCache is (see token-cache.ts): the
 * database announces every committed change of a user (any column but
 * last_login_at and updated_at) and of domain memberships (triggers →
 * NOTIFY, @polyauth/store auth-changes), which drops that user's entries;
 * while that announcement cannot be guaranteed every read goes to the
 * database and the cache is emptied; a read that raced a change is not
 * cached (generation check). A missing user is never cached.
 *
 * A cached user's `lastLoginAt` is as of its load (a login does not
 * announce itself): read it from the store, never from here.
 *
 * Emits nothing; `invalidate` is also the feed's entry point.
 */
export class UserCache {
  readonly #store: Store;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  /** `<slot>\n<userId>` → entry, least recently used first. */
  readonly #entries = new Map<string, Entry>();
  #generation = 0;
  #closed = false;
  readonly #changes: AuthChanges | undefined;
  readonly #unsubscribe: (() => void) | undefined;

  constructor(store: Store, opts: UserCacheOptions) {
    this.#store = store;
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

  /** True while users may be served from memory. */
  get enabled(): boolean {
    return !this.#closed && (this.#changes?.live ?? false);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The user with this id, as `store.users.byId` would read it now (but `lastLoginAt`). */
  async byId(id: string): Promise<Readonly<User> | undefined> {
    const value = await this.#get(`u\n${id}`, async () => {
      const user = await this.#store.users.byId(id);
      return user && Object.freeze(user);
    });
    return value === undefined || typeof value === 'boolean' ? undefined : value;
  }

  /** Whether the user belongs to at least one domain. */
  async inAnyDomain(userId: string): Promise<boolean> {
    const value = await this.#get(`d\n${userId}`, async () => (await this.#store.domains.ofUser(userId)).length > 0);
    return value === true;
  }

  /** Drops every entry of `userId` ('*': every entry) and voids reads in flight. */
  invalidate(userId: string): void {
    this.#generation++;
    if (userId === '*') {
      this.#entries.clear();
    } else {
      this.#entries.delete(`u\n${userId}`);
      this.#entries.delete(`d\n${userId}`);
    }
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe?.();
    this.#generation++;
    this.#entries.clear();
  }

  async #get(key: string, load: () => Promise<Entry['value'] | undefined>): Promise<Entry['value'] | undefined> {
    if (!this.enabled) return load();
    const now = this.#now();
    const hit = this.#entries.get(key);
    if (hit) {
      this.#entries.delete(key);
      if (hit.until > now) {
        this.#entries.set(key, hit); // most recently used goes last
        return hit.value;
      }
    }
    const generation = this.#generation;
    const value = await load();
    if (value !== undefined && generation === this.#generation && this.enabled) {
      this.#entries.set(key, { value, until: now + this.#ttlMs });
      while (this.#entries.size > this.#max) {
        this.#entries.delete(this.#entries.keys().next().value as string);
      }
    }
    return value;
  }
}
