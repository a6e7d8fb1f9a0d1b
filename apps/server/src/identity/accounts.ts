import { IdentifierTakenError, roles, type NewUser, type Role, type Store, type TokenRow, type User } from '@polyauth/store';
import { audited, type Caller } from './caller.ts';
import { IdentityError } from './errors.ts';
import { checkPasswordPolicy, type PasswordHasher } from './passwords.ts';
import type { LastLoginRecorder } from './last-login.ts';

/**
 * A password to set: for a user by id, or for the user a step run inside the
 * same transaction names (a reset link consumed with the change), undefined
 * when that step finds nobody.
 */
export type PasswordTarget = string | ((store: Store) => Promise<string | undefined>);

/** Every role a user may have. */
export { roles };

/** An id, a username or an email, as an administrator names a user. */
const ID = /^[1-9][0-9]{0,17}$/;

/**
 * The life of an account, the same for every API and the admin CLI:
 * registration, sign-out, password changes, roles, two-factor enrolment and
 * disabling (sign-in is SignIns'). Knows nothing of HTTP.
 */
export class Accounts {
  readonly #store: Store;
  readonly #passwords: () => PasswordHasher;
  readonly #logins: LastLoginRecorder;

  /** `passwords` may be a factory: the admin CLI starts the bcrypt pool only when a command hashes. */
  constructor(store: Store, passwords: PasswordHasher | (() => PasswordHasher), logins: LastLoginRecorder) {
    this.#store = store;
    this.#passwords = typeof passwords === 'function' ? passwords : () => passwords;
    this.#logins = logins;
  }

  /**
   * Creates a user: `user.register` when they register themselves,
   * `user.create` when an administrator does. Throws IdentityError
   * `weak_password` for a bad password, `identifier_taken` when the username
   * or email is someone's already (a race between two registrations
   * included).
   */
  async register(input: Omit<NewUser, 'passwordHash'> & { password: string; minPasswordLength?: number }, caller: Caller): Promise<User> {
    checkPasswordPolicy(input.password, input.minPasswordLength);
    const { password, minPasswordLength: _unused, ...rest } = input;
    const passwordHash = await this.#passwords().hash(password);
    // The user and its audit record in one transaction: a registration that
    // committed is answered as done, one that failed left nothing behind.
    try {
      return await this.#store.knex.transaction(async (trx) => {
        const store = this.#store.withKnex(trx);
        const user = await store.users.create({ ...rest, passwordHash });
        const detail = caller.admin ? { username: user.username, role: user.role } : null;
        await store.audit.write({ action: caller.admin ? 'user.create' : 'user.register', ...audited(caller, user.id, detail) });
        return user;
      });
    } catch (err) {
      if (err instanceof IdentifierTakenError) throw IdentityError.identifierTaken(err.field);
      throw err;
    }
  }

  /**
   * Ends one token at once (a sign-out), audited with `action` (default
   * `logout`). Of two racing sign-outs with one token, only one ends it:
   * false for the other, and for a token already gone.
   */
  async signOut(row: TokenRow, caller: Caller, o: { action?: 'logout' | 'token.revoke' } = {}): Promise<boolean> {
    if (!(await this.#store.tokens.consume(row.id))) return false;
    await this.#store.audit.write({
      // user-token-auth's sign-outs have always been logged as `token.revoke`; the operators' queries read that
      action: o.action ?? 'logout',
      ...audited({ ...caller, actorUserId: row.actorUserId ?? caller.actorUserId }, row.userId, { tokenId: row.id, reason: 'logout' }),
    });
    return true;
  }

  /**
   * Sets the user's last login time (shared by every API) to now and returns
   * it. Written behind (LastLoginRecorder): answered at once, stored within
   * LAST_LOGIN_FLUSH_MS; `user()` sees it before.
   */
  recordLogin(userId: string): Promise<Date> {
    return this.#logins.record(userId);
  }

  /** The user by id, with a last login time not yet written laid over. */
  async user(id: string): Promise<User | undefined> {
    const user = await this.#store.users.byId(id);
    return user && this.#logins.overlay(user);
  }

  /** A user by id, username or email (a number is an id first, then a username). */
  async find(ref: string): Promise<User | undefined> {
    const value = ref.trim();
    return (
      (ID.test(value) ? await this.#store.users.byId(value) : undefined) ??
      (value.length > 0 && value.length <= 254 && !value.includes('\0') ? await this.#store.users.byIdentifier(value) : undefined)
    );
  }

  /** Users in id order, at most `limit`. */
  list(limit: number): Promise<User[]> {
    return this.#store.users.list(limit);
  }

  /**
   * The one place a password is set: checks the policy, hashes, stores it and
   * revokes every token the user holds in every API (except `keepTokenId`,
   * the one making the change) in one transaction, then audits `action`
   * (`user.password_change`, or `user.password_reset` for a mailed link).
   * Returns undefined when a target step found nobody.
   */
  async setPassword(
    target: PasswordTarget,
    password: string,
    caller: Caller,
    o: { keepTokenId?: string; action?: 'user.password_change' | 'user.password_reset' } = {},
  ): Promise<{ userId: string; revokedTokens: number } | undefined> {
    checkPasswordPolicy(password);
    const hash = await this.#passwords().hash(password);
    const done = await this.#store.knex.transaction(async (trx) => {
      const store = this.#store.withKnex(trx);
      const userId = typeof target === 'string' ? target : await target(store);
      if (userId === undefined) return undefined;
      await store.users.setPasswordHash(userId, hash);
      return { userId, revokedTokens: await store.tokens.revokeAllForUser(userId, o.keepTokenId) };
    });
    if (!done) return undefined;
    await this.#store.audit.write({
      action: o.action ?? 'user.password_change',
      ...audited(caller, done.userId, { revokedTokens: done.revokedTokens }),
    });
    return done;
  }

  /**
   * A signed-in user's (or an ADMIN's) new password for `userId`: every token
   * the user holds in every API is revoked but `keepTokenId`, the caller's own.
   */
  async changePassword(userId: string, password: string, caller: Caller & { keepTokenId?: string }): Promise<void> {
    await this.setPassword(userId, password, caller, { keepTokenId: caller.keepTokenId });
  }

  /** An administrator's change of role. */
  async setRole(user: User, role: Role, caller: Caller): Promise<User> {
    return this.#store.knex.transaction(async (trx) => {
      const store = this.#store.withKnex(trx);
      const updated = await store.users.update(user.id, { role });
      if (!updated) throw IdentityError.notFound('There is no such user.');
      await store.audit.write({ action: 'user.role_change', ...audited(caller, user.id, { from: user.role, to: role }) });
      return updated;
    });
  }

  /**
   * Disables a user and revokes every token they hold, in every API, in one
   * transaction; or enables them again.
   */
  async setDisabled(user: User, disabled: boolean, caller: Caller): Promise<{ user: User; revokedTokens: number }> {
    return this.#store.knex.transaction(async (trx) => {
      const store = this.#store.withKnex(trx);
      const updated = await store.users.update(user.id, { disabled });
      if (!updated) throw IdentityError.notFound('There is no such user.');
      const revokedTokens = disabled ? await store.tokens.revokeAllForUser(user.id) : 0;
      await store.audit.write(
        disabled
          ? { action: 'user.disable', ...audited(caller, user.id, { revokedTokens }) }
          : { action: 'user.enable', ...audited(caller, user.id) },
      );
      return { user: updated, revokedTokens };
    });
  }

  /** Revokes every live token of a user, or only those one API issued. */
  async revokeTokens(user: User, api: string | undefined, caller: Caller): Promise<number> {
    return this.#store.knex.transaction(async (trx) => {
      const store = this.#store.withKnex(trx);
      const n = api ? await store.tokens.revokeAllForUserInApi(user.id, api) : await store.tokens.revokeAllForUser(user.id);
      await store.audit.write({ action: 'token.revoke', ...audited(caller, user.id, { api: api ?? 'all', revoked: n }) });
      return n;
    });
  }

  /**
   * Gives a user a TOTP secret (replacing any), or removes it (null). Tokens
   * opened with the password alone end on enrolment: from then on every
   * sign-in needs a code.
   */
  async setTotp(user: User, secret: string | null, caller: Caller): Promise<{ replaced: boolean; revokedTokens: number }> {
    const had = user.totpSecret !== null;
    return this.#store.knex.transaction(async (trx) => {
      const store = this.#store.withKnex(trx);
      await store.users.setTotp(user.id, secret);
      if (secret === null) {
        await store.audit.write({ action: 'totp.disable', ...audited(caller, user.id, { wasEnrolled: had }) });
        return { replaced: false, revokedTokens: 0 };
      }
      const revokedTokens = await store.tokens.revokeAllForUser(user.id);
      await store.audit.write({ action: 'totp.enroll', ...audited(caller, user.id, { replaced: had, revokedTokens }) });
      return { replaced: had, revokedTokens };
    });
  }

  /**
   * Seals every TOTP secret with the current key (rows under an old key, rows
   * still in plain text), and audits it.
   */
  async reencryptTotpSecrets(caller: Caller): Promise<{ sealed: number; total: number; unreadable: number; keyId: string | undefined }> {
    const result = await this.#store.users.sealTotpSecrets({ all: true });
    const keyId = this.#store.totpKeyId;
    await this.#store.audit.write({ action: 'totp.reencrypt', ...audited(caller, null, { ...result, keyId }) });
    return { ...result, keyId };
  }

}
