import type { Store, TokenRow, User } from '@polyauth/store';
import { audited, type Caller } from './caller.ts';
import { IdentityError } from './errors.ts';
import type { LastLoginRecorder } from './last-login.ts';
import { MAX_PASSWORD_BYTES, type PasswordHasher } from './passwords.ts';
import type { LoginReservation, LoginThrottle } from './throttle.ts';
import { totpStep } from './totp.ts';

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
  /** Added to the `token.issue` audit entry. */
  detail?: Record<string, unknown>;
}

/** What an API hands out at a sign-in, as the audit log names it. */
export interface Issued {
  /** The token row (for a JWT of a refresh session: the session's row). */
  row: Pick<TokenRow, 'id'>;
  expiresAt: Date | null;
}

/**
 * Signing in, the same through every API: throttled per account and per
 * address, the password compared in the worker pool (a dummy hash for
 * unknown users), the second factor where the API asks for one, and every
 * success recorded alike (last login, `login.success`, `token.issue`).
 * Knows nothing of HTTP.
 */
export class SignIns {
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
   * Signs a user in with a username-or-email and password and hands out what
   * `issue` makes of the user (each API's own token). Every sign-in, through
   * any API, then records the last login time (written behind) and audits
   * `login.success` and `token.issue` (one statement).
   *
   * Throws IdentityError `throttled` when the account or address is locked,
   * or its budget is spent by failures and by attempts still being compared;
   * `invalid_credentials` for an unknown user, a wrong password and a
   * disabled account alike, after the same bcrypt work; `second_factor` when
   * the password matched but the TOTP code is missing, wrong or used.
   *
   * The attempt is reserved against both counters before the password is
   * compared (LoginThrottle.reserve), so of any number of parallel guesses no
   * more than the limit are ever compared; it is settled once its outcome is
   * known (an attempt that throws on the way counts as failed: its password
   * may have been compared).
   */
  async signIn<T extends Issued>(a: SignInAttempt, issue: (user: User) => Promise<T>): Promise<{ user: User; issued: T }> {
    // The database cannot store NUL in text: such an identifier matches nobody
    // and is counted (throttle, audit) like any other unknown one.
    const lookup = !a.identifier.includes('\0') && a.identifier.length <= 254;
    const user = lookup ? await this.#store.users.byIdentifier(a.identifier) : undefined;
    // counted against the account, however it was named (see accountKey)
    const account = this.#throttle.accountKey(a.identifier, user?.id);
    const reservation = await this.#throttle.reserve(account, a.ip);
    let signedIn: User;
    try {
      const refused = await this.#attempt(a, user, reservation);
      if (refused === 'credentials') throw IdentityError.invalidCredentials();
      if (refused === 'second_factor') throw IdentityError.secondFactor();
      signedIn = refused;
    } catch (err) {
      if (!reservation.settled) await reservation.settle('failure').catch(() => 0);
      throw err;
    }
    const issued = await issue(signedIn);
    await this.#recordSignIn(signedIn, issued, { api: a.api, ip: a.ip }, { login: true, detail: a.detail });
    return { user: this.#logins.overlay(signedIn), issued };
  }

  /**
   * Records a token handed out at registration (mint's sign-up, oauth-service's
   * register) the way every sign-in is recorded: last login and `token.issue`.
   */
  async issuedAtRegistration(user: User, issued: Issued, caller: Caller, detail?: Record<string, unknown>): Promise<void> {
    await this.#recordSignIn(user, issued, caller, { login: false, detail });
  }

  async #recordSignIn(user: User, issued: Issued, caller: Caller, o: { login: boolean; detail: Record<string, unknown> | undefined }): Promise<void> {
    await this.#logins.record(user.id);
    const issue = {
      action: 'token.issue',
      ...audited(caller, user.id, { tokenId: issued.row.id, expiresAt: issued.expiresAt?.toISOString() ?? null, ...o.detail }),
    };
    await this.#store.audit.writeAll(o.login ? [{ action: 'login.success', ...audited(caller, user.id) }, issue] : [issue]);
  }

  /**
   * Checks the password (and, if asked, the second factor) of a looked-up
   * user. Returns the user, or why not; failures are settled and audited here.
   */
  async #attempt(a: SignInAttempt, user: User | undefined, reservation: LoginReservation): Promise<User | 'credentials' | 'second_factor'> {
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
      return 'credentials';
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
        return 'credentials';
      }
      const refused = await this.#checkSecondFactor(a, user, user.totpSecret, a.secondFactor.code, reservation);
      if (refused) return refused;
    }
    await reservation.settle('success');
    if (this.#passwords.needsRehash(user.passwordHash)) {
      const newHash = await this.#passwords.hash(a.password);
      await this.#store.users.replacePasswordHash(user.id, user.passwordHash, newHash);
    }
    return user;
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
  ): Promise<'second_factor' | undefined> {
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
    return 'second_factor';
  }
}
