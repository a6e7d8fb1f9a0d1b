import bcrypt from 'bcryptjs';
import { Piscina } from 'piscina';
import { IdentityError } from './errors.ts';
import { randomSecret } from './secrets.ts';

/** bcrypt reads at most 72 bytes; anything longer would be silently cut. */
export const MAX_PASSWORD_BYTES = 72;
export const MIN_PASSWORD_LENGTH = 8;

/** Throws IdentityError `weak_password` with a message fit to show the user. */
export function checkPasswordPolicy(password: string, minLength = MIN_PASSWORD_LENGTH): void {
  if (password.length < minLength) {
    throw IdentityError.weakPassword(`The password must be at least ${minLength} characters long.`);
  }
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw IdentityError.weakPassword(`The password must be at most ${MAX_PASSWORD_BYTES} bytes long in UTF-8.`);
  }
}

/** A task for the worker pool (password-worker.mjs). */
export type PasswordTask = { op: 'hash'; password: string; cost: number } | { op: 'compare'; password: string; hash: string };

/** A password check cut off because the server is stopping (its deadline passed): a 503, not a bug. */
export class ServerStoppingError extends Error {
  override name = 'ServerStoppingError';
  constructor() {
    super('the server is stopping');
  }
}

/**
 * bcrypt hashing and comparison in a worker pool. Unknown users are compared
 * against a dummy hash of the same cost, so a login costs the same whether or
 * not the account exists.
 */
export class PasswordHasher {
  readonly cost: number;
  readonly #pool: Piscina<PasswordTask, string | boolean>;
  #dummyHash: Promise<string> | undefined;
  #closing = false;

  constructor(opts: { cost: number; poolSize: number }) {
    this.cost = opts.cost;
    this.#pool = new Piscina({
      filename: new URL('./password-worker.mjs', import.meta.url).href,
      minThreads: 1,
      maxThreads: opts.poolSize,
      idleTimeout: 60_000,
    });
  }

  get poolSize(): number {
    return this.#pool.options.maxThreads;
  }

  async hash(password: string): Promise<string> {
    return (await this.#run({ op: 'hash', password, cost: this.cost })) as string;
  }

  async compare(password: string, hash: string): Promise<boolean> {
    return (await this.#run({ op: 'compare', password, hash })) as boolean;
  }

  async #run(task: PasswordTask): Promise<string | boolean> {
    if (this.#closing) throw new ServerStoppingError();
    try {
      return await this.#pool.run(task);
    } catch (err) {
      // the pool was destroyed under it at the shutdown deadline
      if (this.#closing) throw new ServerStoppingError();
      throw err;
    }
  }

  /** Burns the same time as a real comparison, for a user that does not exist. */
  async compareDummy(password: string): Promise<false> {
    this.#dummyHash ??= this.hash(randomSecret(16));
    await this.compare(password, await this.#dummyHash);
    return false;
  }

  /** True when the hash was made with another cost and should be redone. */
  needsRehash(hash: string): boolean {
    try {
      return bcrypt.getRounds(hash) !== this.cost;
    } catch {
      return true;
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#pool.destroy();
  }
}
