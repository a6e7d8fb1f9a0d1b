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
 * Counts failed sign-ins per account and per client address in the database,
 * so the limits hold across server instances. Unknown accounts are counted
 * like known ones: a lockout reveals nothing about who is registered.
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

  static accountKey(identifier: string): string {
    return `login:account:${identifier.trim().toLowerCase()}`;
  }

  static ipKey(ip: string): string {
    return `login:ip:${ip}`;
  }

  /** Throws ThrottledError when the account or the address is locked. */
  async check(identifier: string, ip: string): Promise<void> {
    if (!this.#cfg.enabled) return;
    const seconds = await this.#store.throttle.lockedFor([LoginThrottle.accountKey(identifier), LoginThrottle.ipKey(ip)]);
    if (seconds > 0) throw new ThrottledError(seconds);
  }

  /** Counts a failure; returns the lockout length it caused (0 = none). */
  async failure(identifier: string, ip: string): Promise<number> {
    if (!this.#cfg.enabled) return 0;
    const a = await this.#store.throttle.hit(LoginThrottle.accountKey(identifier), this.#account);
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

  async success(identifier: string): Promise<void> {
    if (!this.#cfg.enabled) return;
    await this.#store.throttle.clear(LoginThrottle.accountKey(identifier));
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
