import type { Store, User } from '@polyauth/store';
import { ChangeGate, TtlLru, type LiveCacheOptions } from './live-cache.ts';

export type UserCacheOptions = LiveCacheOptions;

type Value = Readonly<User> | boolean;

/**
 * A bounded, short-lived, in-memory cache of users (by id) and of whether a
 * user belongs to any domain, so a read-only authenticated request (auth-v3
 * whoAmI, mts-auth GET /user) needs no database round trip once its token is
 * cached too. Kept exact by a ChangeGate (live-cache.ts), as TokenCache is:
 * the database announces every committed change of a user (any column but
 * last_login_at and updated_at) and of domain memberships, which drops that
 * user's entries; nothing is served while changes cannot be heard; a read
 * that raced a change is not kept. A missing user is never cached.
 *
 * A cached user's `lastLoginAt` is as of its load (a login does not
 * announce itself): read it from the store, never from here.
 *
 * Emits nothing; `invalidate` is also the feed's entry point.
 */
export class UserCache {
  readonly #store: Store;
  readonly #gate: ChangeGate;
  /** `<slot>\n<userId>` → value, least recently used first. */
  readonly #entries: TtlLru<Value>;

  constructor(store: Store, opts: UserCacheOptions) {
    this.#store = store;
    this.#entries = new TtlLru(opts.maxEntries);
    this.#gate = new ChangeGate(opts, (userId) => this.invalidate(userId));
  }

  /** True while users may be served from memory. */
  get enabled(): boolean {
    return this.#gate.enabled;
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
    this.#gate?.bump(); // (undefined only if the feed calls back while the gate is being made)
    if (userId === '*') {
      this.#entries.clear();
    } else {
      this.#entries.delete(`u\n${userId}`);
      this.#entries.delete(`d\n${userId}`);
    }
  }

  close(): void {
    this.#gate.close();
    this.#entries.clear();
  }

  async #get(key: string, load: () => Promise<Value | undefined>): Promise<Value | undefined> {
    if (!this.enabled) return load();
    const now = this.#gate.now();
    const hit = this.#entries.get(key, now);
    if (hit !== undefined) return hit;
    return this.#gate.load(load, (value) => {
      if (value !== undefined) this.#entries.set(key, value, now + this.#gate.ttlMs, now);
    });
  }
}
