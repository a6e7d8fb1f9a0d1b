import type { Store, TokenRow, User } from '@polyauth/store';
import type { Accounts } from './accounts.ts';
import type { Caller } from './caller.ts';
import { IdentityError } from './errors.ts';
import type { UserCache } from './user-cache.ts';

export interface Profile {
  user: Readonly<User>;
  /** Whether the user belongs to any domain. */
  inAnyDomain: boolean;
}

export interface ProfileChanges {
  firstName?: string | undefined;
  lastName?: string | undefined;
  password?: string | undefined;
}

/**
 * A user's record as a signed-in user reads and changes it: only the user
 * themself or an ADMIN may, and anyone else is refused whether or not the id
 * exists, so ids cannot be probed. Reads come from the user cache (the
 * database's change notifications keep it exact). Knows nothing of HTTP.
 */
export class Profiles {
  readonly #store: Store;
  readonly #users: UserCache;
  readonly #accounts: Accounts;

  constructor(store: Store, users: UserCache, accounts: Accounts) {
    this.#store = store;
    this.#users = users;
    this.#accounts = accounts;
  }

  /** Throws IdentityError `forbidden` unless `me` is the user `id` or an ADMIN. */
  #mayAccess(me: User, id: string): void {
    if (me.id !== id && me.role !== 'ADMIN') throw IdentityError.forbidden('You may only access your own user record.');
  }

  /** The record of user `id`, as `me` may see it. */
  async read(me: Readonly<User>, id: string): Promise<Profile> {
    this.#mayAccess(me, id);
    const user = id === me.id ? me : await this.#users.byId(id);
    if (!user) throw IdentityError.notFound('There is no such user.');
    return { user, inAnyDomain: await this.#users.inAnyDomain(user.id) };
  }

  /**
   * Changes the names and, if given, the password of user `id` (every token
   * the user holds is revoked then, but `myToken` when they change their own).
   */
  async update(me: Readonly<User>, myToken: TokenRow, id: string, changes: ProfileChanges, caller: Caller): Promise<Profile> {
    this.#mayAccess(me, id);
    const target = id === me.id ? me : await this.#store.users.byId(id);
    if (!target) throw IdentityError.notFound('There is no such user.');
    const { firstName, lastName, password } = changes;
    if (password !== undefined) {
      await this.#accounts.changePassword(target.id, password, {
        ...caller,
        actorUserId: me.id,
        // The caller's own token stays valid when they change their own password.
        keepTokenId: target.id === me.id ? myToken.id : undefined,
      });
    }
    const updated =
      firstName !== undefined || lastName !== undefined
        ? await this.#store.users.update(target.id, { firstName, lastName })
        : await this.#store.users.byId(target.id);
    if (!updated) throw IdentityError.notFound('There is no such user.');
    const domains = await this.#store.domains.ofUser(updated.id);
    return { user: updated, inAnyDomain: domains.length > 0 };
  }
}
