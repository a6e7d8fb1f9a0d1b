import { createStore, IdentifierTakenError, type NewUser, type Store, type User } from '@polyauth/store';
import { checkPasswordPolicy, MAX_PASSWORD_BYTES, type PasswordHasher } from './passwords.ts';
import type { LastLoginRecorder } from './last-login.ts';
import type { LoginReservation, LoginThrottle } from './throttle.ts';
import { totpStep } from './totp.ts';

export { IdentifierTakenError };

export interface SignInAttempt {
  api: string;
  identifier: string;
  password: string;
  ip: string;
  /**
   * Enforce the user's TOTP second factor (auth-v3), with the code sent, if
   * any. Without this option (APIs whose contract has no second factor) a
   * TOTP-enrolled user cannot sign in: the answer, and the failure counted,
   * are those of a wrong password.
   */
  secondFactor?: { code: string | undefined };
}

/**
 * `credentials`: unknown user, wrong password or disabled account (one answer).
 * `second_factor`: the password was right but the TOTP code is missing, wrong
 * or already used; only ever returned after the password matched.
 */
export type SignInResult = { ok: true; user: User } | { ok: false; reason: 'credentials' | 'second_factor' };

/**
 * Registration, sign-in and password changes over the shared user store,
 * the same for every API. Knows nothing of HTTP.
 */
export class Accounts {
  readonly #store: Store;
  readonly #passwords: PasswordHasher;
  readonly #throttle: LoginThrottle;
  readonly #logins: LastLoginRecorder;

  constructor(store: Store, passwords: PasswordHasher, throttle: LoginThrottle, logins: LastLoginRecorder) {
    this.#store = store;
    this.#passwords = passwords;
    this.#throttle = throttle;
    this.#logins = logins;
  }

  /**
   * Creates a user. Throws PasswordPolicyError for a bad password and
   * IdentifierTakenError when the username or email is taken.
   */
  async register(input: Omit<NewUser, 'passwordHash'> & { password: string; minPasswordLength?: number }, ctx: { api: string; ip: string }): Promise<User> {
    checkPasswordPolicy(input.password, input.minPasswordLength);
    const { password, minPasswordLength: _unused, ...rest } = input;
    const passwordHash = await this.#passwords.hash(password);
    // The user and its audit record in one transaction: a registration that
    // committed is answered as done, one that failed left nothing behind.
    return this.#store.knex.transaction(async (trx) => {
      const store = createStore(trx);
      const user = await store.users.create({ ...rest, passwordHash });
      await store.audit.write({ api: ctx.api, action: 'user.register', targetUserId: user.id, actorUserId: user.id, ip: ctx.ip });
      return user;
    });
  }

  /**
   * Checks a username-or-email and password. Throws ThrottledError when the
   * account or address is locked, or its budget is spent by failures and by
   * attempts still being compared. An unknown user, a wrong password and a
   * disabled account all give `{ ok: false }` after the same bcrypt work.
   *
   * The attempt is reserved against both counters before the password is
   * compared (LoginThrottle.reserve), so of any number of parallel guesses no
   * more than the limit are ever compared; it is settled once its outcome is
   * known (an attempt that throws on the way counts as failed: its password
   * may have been compared).
   */
  async signIn(a: SignInAttempt): Promise<SignInResult> {
    // The database cannot store NUL in text: such an identifier matches nobody
    // and is counted (throttle, audit) like any other unknown one.
    const lookup = !a.identifier.includes('\0') && a.identifier.length <= 254;
    const user = lookup ? await this.#store.users.byIdentifier(a.identifier) : undefined;
    // counted against the account, however it was named (see accountKey)
    const account = this.#throttle.accountKey(a.identifier, user?.id);
    const reservation = await this.#throttle.reserve(account, a.ip);
    try {
      return await this.#attempt(a, user, reservation);
    } catch (err) {
      if (!reservation.settled) await reservation.settle('failure').catch(() => 0);
      throw err;
    }
  }

  /**
   * What the audit log keeps of a failed attempt's identifier: the account it
   * names (targetUserId), else only the keyed hash of what was typed (often a
   * password typed into the wrong field), never the text.
   */
  #failureRecord(a: SignInAttempt, user: User | undefined, lockedFor: number) {
    const detail = {
      ...(user ? {} : { identifierHash: this.#throttle.identifierHash(a.identifier) }),
      ...(lockedFor > 0 ? { lockedForSeconds: lockedFor } : {}),
    };
    return { targetUserId: user?.id ?? null, detail: Object.keys(detail).length > 0 ? detail : null };
  }

  async #attempt(a: SignInAttempt, user: User | undefined, reservation: LoginReservation): Promise<SignInResult> {
    const passwordOk =
      // bcrypt reads 72 bytes: a longer password would match on its prefix.
      // No stored password is longer (registration refuses it), so it never matches.
      user && Buffer.byteLength(a.password) <= MAX_PASSWORD_BYTES
        ? await this.#passwords.compare(a.password, user.passwordHash)
        : await this.#passwords.compareDummy(a.password);
    if (!user || !passwordOk || user.disabled) {
      const lockedFor = await reservation.settle('failure');
      await this.#store.audit.write({
        api: a.api,
        action: lockedFor > 0 ? 'login.lockout' : 'login.failure',
        ip: a.ip,
        ...this.#failureRecord(a, user, lockedFor),
      });
      return { ok: false, reason: 'credentials' };
    }
    if (user.totpSecret) {
      if (!a.secondFactor) {
        // Only auth-v3's contract carries a second factor. An account with
        // TOTP enrolled must not be reachable with the password alone through
        // the other APIs, so they answer as for wrong credentials, and count
        // it as a failure too: were the right password not counted, a guess
        // followed by known-wrong ones would tell by when the lockout comes
        // whether the guess was right, without the second factor.
        const lockedFor = await reservation.settle('failure');
        await this.#store.audit.write({
          api: a.api,
          action: lockedFor > 0 ? 'login.lockout' : 'login.second_factor_required',
          ip: a.ip,
          ...this.#failureRecord(a, user, lockedFor),
        });
        return { ok: false, reason: 'credentials' };
      }
      const refused = await this.#checkSecondFactor(a, user, user.totpSecret, a.secondFactor.code, reservation);
      if (refused) return refused;
    }
    await reservation.settle('success');
    if (this.#passwords.needsRehash(user.passwordHash)) {
      const newHash = await this.#passwords.hash(a.password);
      await this.#store.users.replacePasswordHash(user.id, user.passwordHash, newHash);
    }
    await this.#store.audit.write({ api: a.api, action: 'login.success', actorUserId: user.id, targetUserId: user.id, ip: a.ip });
    return { ok: true, user: this.#logins.overlay(user) };
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

  /**
   * Sets a new password and revokes every token the user holds in every API
   * (except `keepTokenId`, the one making the change, if given).
   */
  async changePassword(userId: string, password: string, ctx: { api: string; ip: string; actorUserId?: string; keepTokenId?: string }): Promise<void> {
    checkPasswordPolicy(password);
    const hash = await this.#passwords.hash(password);
    const revoked = await this.#store.knex.transaction(async (trx) => {
      await this.#store.users.setPasswordHash(userId, hash, trx);
      return this.#store.tokens.revokeAllForUser(userId, ctx.keepTokenId, trx);
    });
    await this.#store.audit.write({
      api: ctx.api,
      action: 'user.password_change',
      actorUserId: ctx.actorUserId ?? userId,
      targetUserId: userId,
      ip: ctx.ip,
      detail: { revokedTokens: revoked },
    });
  }

  /**
   * The TOTP check, run only once the password matched, so that nobody without
   * the password can use up or brute-force a user's codes, or learn from this
   * answer whether the account has TOTP. A wrong or replayed code counts as a
   * failed login; a missing code does not (it is the first half of a normal
   * two-factor login) but does not reset the counter either.
   */
  async #checkSecondFactor(
    a: SignInAttempt,
    user: User,
    secret: string,
    code: string | undefined,
    reservation: LoginReservation,
  ): Promise<SignInResult | undefined> {
    let problem: 'missing' | 'wrong' | 'replayed';
    if (code === undefined || code === '') {
      problem = 'missing';
    } else {
      const step = code.length <= 32 ? totpStep(secret, code) : undefined;
      if (step !== undefined && (await this.#store.users.consumeTotpStep(user.id, step))) return undefined;
      problem = step === undefined ? 'wrong' : 'replayed';
    }
    // a missing code gives the reservation back without forgetting anything
    const lockedFor = await reservation.settle(problem === 'missing' ? 'neutral' : 'failure');
    await this.#store.audit.write({
      api: a.api,
      action: lockedFor > 0 ? 'login.lockout' : 'login.second_factor_failure',
      actorUserId: null,
      targetUserId: user.id,
      ip: a.ip,
      detail: { code: problem, ...(lockedFor > 0 ? { lockedForSeconds: lockedFor } : {}) },
    });
    return { ok: false, reason: 'second_factor' };
  }
}
