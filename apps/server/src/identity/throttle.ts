import type { Store, ThrottlePolicy } from '@polyauth/store';
import type { Config } from '../config.ts';

/** Too many attempts: the caller answers 429 with Retry-After. */
export class ThrottledError extends Error {
  override name = 'ThrottledError';
  readonly retryAfter: number;
  constructor(retryAfter: number) {
    super('Too many attempts; try again later.');
    this.retryAfter = retryAfter;
  }
}

/**
 * Counts failed sign-ins per account (see accountKey) and per client address
 * in the database, so the limits hold across server instances. Unknown
 * accounts are counted like known ones: a lockout reveals nothing about who
 * is registered.
 */
export class LoginThrottle {
  readonly #store: Store;
  readonly #cfg: Config['throttle'];
  readonly #account: ThrottlePolicy;
  readonly #ip: ThrottlePolicy;

  constructor(store: Store, cfg: Config['throttle']) {
    this.#store = store;
    this.#cfg = cfg;
    const base = { windowSeconds: cfg.windowSeconds, lockoutSeconds: cfg.lockoutSeconds, maxLockoutSeconds: cfg.maxLockoutSeconds };
    this.#account = { ...base, maxFailures: cfg.accountMaxFailures };
    this.#ip = { ...base, maxFailures: cfg.ipMaxFailures };
  }

  /**
   * The per-account counter. An identifier that names an account counts
   * against that account (its user id), so its username, its email and any
   * case or spacing of them share one budget; one that names no account
   * counts against itself, trimmed and lowercased as identifiers are
   * matched. Either way one counter is read and one written per attempt, so
   * known and unknown identifiers cost the same. What a lockout can tell:
   * that two identifiers name the same account, to someone who has already
   * spent that account's whole budget; never whether one identifier exists.
   */
  static accountKey(identifier: string, userId?: string): string {
    return userId === undefined ? `login:account:${identifier.trim().toLowerCase()}` : `login:user:${userId}`;
  }

  static ipKey(ip: string): string {
    return `login:ip:${ip}`;
  }

  /** Throws ThrottledError when the account (an accountKey) or the address is locked. */
  async check(accountKey: string, ip: string): Promise<void> {
    if (!this.#cfg.enabled) return;
    const seconds = await this.#store.throttle.lockedFor([accountKey, LoginThrottle.ipKey(ip)]);
    if (seconds > 0) throw new ThrottledError(seconds);
  }

  /** Counts a failure; returns the lockout length it caused (0 = none). */
  async failure(accountKey: string, ip: string): Promise<number> {
    if (!this.#cfg.enabled) return 0;
    const a = await this.#store.throttle.hit(accountKey, this.#account);
    const b = await this.#store.throttle.hit(LoginThrottle.ipKey(ip), this.#ip);
    return Math.max(a, b);
  }

  static tokenIpKey(ip: string): string {
    return `token:ip:${ip}`;
  }

  /**
   * Counts a refused bearer token from `ip` (under the per-address limit,
   * apart from failed logins). Throws ThrottledError when the address is
   * already locked, so the caller answers 429 instead of its 401; returns
   * the lockout this failure caused (0 = none).
   */
  async tokenFailure(ip: string): Promise<number> {
    if (!this.#cfg.enabled) return 0;
    const key = LoginThrottle.tokenIpKey(ip);
    const locked = await this.#store.throttle.lockedFor([key]);
    if (locked > 0) throw new ThrottledError(locked);
    return this.#store.throttle.hit(key, this.#ip);
  }

  async success(accountKey: string): Promise<void> {
    if (!this.#cfg.enabled) return;
    await this.#store.throttle.clear(accountKey);
  }

  /**
   * A generic rate limit (mails, registrations): counts one attempt against
   * `key` and throws ThrottledError once `max` per `windowSeconds` is passed.
   */
  async limit(key: string, max: number, windowSeconds: number): Promise<void> {
    if (!this.#cfg.enabled) return;
    const locked = await this.#store.throttle.lockedFor([key]);
    if (locked > 0) throw new ThrottledError(locked);
    const seconds = await this.#store.throttle.hit(key, {
      maxFailures: max + 1,
      windowSeconds,
      lockoutSeconds: windowSeconds,
      maxLockoutSeconds: windowSeconds,
    });
    if (seconds > 0) throw new ThrottledError(seconds);
  }
}
