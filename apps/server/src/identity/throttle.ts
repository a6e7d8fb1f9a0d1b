import { createHmac, hkdfSync } from 'node:crypto';
import type { Store, ThrottleCounter, ThrottleOutcome, ThrottlePolicy } from '@polyauth/store';
import type { Config } from '../config.ts';
import { IdentityError } from './errors.ts';

/**
 * A sign-in attempt counted before its password is compared. Settle it once
 * with what the attempt turned out to be; a second settle does nothing.
 */
export interface LoginReservation {
  /** Returns the longest lock this settlement took, in seconds (0 = none). */
  settle(outcome: ThrottleOutcome): Promise<number>;
  readonly settled: boolean;
}

const UNTHROTTLED: LoginReservation = { settle: async () => 0, settled: false };

/** HKDF info for the key of identifier hashes (derived from the JWT secret). */
const IDENTIFIER_KEY_INFO = 'polyauth login identifier hmac v1';

/**
 * Counts sign-in attempts per account (see accountKey) and per client
 * address in the database, so the limits hold exactly across server
 * instances and under any concurrency: an attempt is reserved against both
 * counters before its password is compared (`reserve`), and settled after.
 * Unknown accounts are counted like known ones: a lockout reveals nothing
 * about who is registered.
 */
export class LoginThrottle {
  readonly #store: Store;
  readonly #cfg: Config['throttle'];
  readonly #account: ThrottlePolicy;
  readonly #ip: ThrottlePolicy;
  readonly #identifierKey: Buffer;

  /** `secret`: the server's JWT secret; the key of identifier hashes is derived from it. */
  constructor(store: Store, cfg: Config['throttle'], secret: string) {
    this.#store = store;
    this.#cfg = cfg;
    const base = { windowSeconds: cfg.windowSeconds, lockoutSeconds: cfg.lockoutSeconds, maxLockoutSeconds: cfg.maxLockoutSeconds };
    this.#account = { ...base, maxFailures: cfg.accountMaxFailures };
    this.#ip = { ...base, maxFailures: cfg.ipMaxFailures };
    this.#identifierKey = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.alloc(0), IDENTIFIER_KEY_INFO, 32));
  }

  /**
   * HMAC-SHA-256 (hex) of an identifier as it is matched (trimmed,
   * lowercased), under a key derived from the JWT secret: what is kept of a
   * typed identifier that names no account (often a password typed into the
   * wrong field), in the throttle key and in the audit log. Equal inputs
   * give equal hashes, so repeated attempts can be told apart and counted;
   * without the key, the hash cannot be tried against guesses.
   */
  identifierHash(identifier: string): string {
    return createHmac('sha256', this.#identifierKey).update(identifier.trim().toLowerCase(), 'utf8').digest('hex');
  }

  /**
   * The per-account counter. An identifier that names an account counts
   * against that account (its user id), so its username, its email and any
   * case or spacing of them share one budget; one that names no account
   * counts against its keyed hash (identifierHash). Either way the same
   * counters are reserved and settled per attempt, so known and unknown
   * identifiers cost the same. What a lockout can tell: that two identifiers
   * name the same account, to someone who has already spent that account's
   * whole budget; never whether one identifier exists.
   */
  accountKey(identifier: string, userId?: string): string {
    return userId === undefined ? `login:identifier:${this.identifierHash(identifier)}` : LoginThrottle.userKey(userId);
  }

  static userKey(userId: string): string {
    return `login:user:${userId}`;
  }

  static ipKey(ip: string): string {
    return `login:ip:${ip}`;
  }

  /**
   * Reserves one sign-in attempt against the account (an accountKey) and the
   * address, atomically, before the password is compared. Throws
   * IdentityError `throttled` when either is locked or its budget is spent by failures
   * and attempts still being compared; then nothing is counted.
   */
  async reserve(accountKey: string, ip: string): Promise<LoginReservation> {
    if (!this.#cfg.enabled) return UNTHROTTLED;
    const counters: ThrottleCounter[] = [
      { key: accountKey, policy: this.#account },
      { key: LoginThrottle.ipKey(ip), policy: this.#ip },
    ];
    const reserved = await this.#store.throttle.reserve(counters);
    if (!reserved.ok) throw IdentityError.throttled(reserved.retryAfter);
    const store = this.#store;
    let settled = false;
    return {
      get settled() {
        return settled;
      },
      // A success forgets the account's settled failures, not the address's
      // (a shared address may hold someone else's guesses).
      async settle(outcome) {
        if (settled) return 0;
        settled = true;
        return store.throttle.settle(counters, outcome, [accountKey]);
      },
    };
  }

  static tokenIpKey(ip: string): string {
    return `token:ip:${ip}`;
  }

  /**
   * Counts a refused bearer token from `ip` (under the per-address limit,
   * apart from failed logins). Throws IdentityError `throttled` when the address is
   * already locked (the refusal is then not counted), so the caller answers
   * 429 instead of its 401; returns the lockout this failure caused (0 = none).
   */
  async tokenFailure(ip: string): Promise<number> {
    if (!this.#cfg.enabled) return 0;
    const hit = await this.#store.throttle.hit(LoginThrottle.tokenIpKey(ip), this.#ip);
    if (hit.lockedFor > 0 && !hit.lockedNow) throw IdentityError.throttled(hit.lockedFor);
    return hit.lockedFor;
  }

  /**
   * A generic rate limit (mails, registrations): counts one attempt against
   * `key` and throws IdentityError `throttled` once `max` per `windowSeconds` is passed.
   */
  async limit(key: string, max: number, windowSeconds: number): Promise<void> {
    if (!this.#cfg.enabled) return;
    const hit = await this.#store.throttle.hit(key, {
      maxFailures: max + 1,
      windowSeconds,
      lockoutSeconds: windowSeconds,
      maxLockoutSeconds: windowSeconds,
    });
    if (hit.lockedFor > 0) throw IdentityError.throttled(hit.lockedFor);
  }
}
