import type { OneTimePurpose, Store, User } from '@polyauth/store';
import type { Logger } from 'pino';
import type { Mailer } from './mail.ts';
import type { Accounts } from './accounts.ts';
import { IdentityError } from './errors.ts';
import { randomSecret, sha256 } from './secrets.ts';
import { cutText } from './text.ts';
import type { LoginThrottle } from './throttle.ts';

export interface MailedLinksOptions {
  /** How long a mailed link stays usable, seconds. */
  linkTtlSeconds: number;
  /** Mails per email address per hour. */
  mailsPerHour: number;
  /** Mail requests (and reset confirmations) per client address per hour. */
  mailsPerHourPerIp: number;
}

export interface LinkContext {
  api: string;
  ip: string;
}

const HOUR = 3600;

/**
 * Single-use, expiring links sent by mail: password reset and email
 * verification. The raw token (256 random bits) is only in the mail; the
 * database keeps its SHA-256. Consuming a token is one conditional UPDATE, so
 * of two clicks (or a scanner and a user) exactly one acts. Knows nothing of HTTP.
 */
export class MailedLinks {
  readonly #store: Store;
  readonly #mailer: Mailer;
  readonly #accounts: Accounts;
  readonly #throttle: LoginThrottle;
  readonly #log: Logger;
  readonly #opts: MailedLinksOptions;
  /** Mails sent after the answer; awaited by `drain` (tests, shutdown). */
  readonly #pending = new Set<Promise<void>>();

  constructor(deps: { store: Store; mailer: Mailer; accounts: Accounts; throttle: LoginThrottle; log: Logger }, opts: MailedLinksOptions) {
    this.#store = deps.store;
    this.#mailer = deps.mailer;
    this.#accounts = deps.accounts;
    this.#throttle = deps.throttle;
    this.#log = deps.log;
    this.#opts = opts;
  }

  /**
   * Throttles, then, when an enabled user has this email, stores a reset token
   * and mails the link built by `link`. The mail leaves after this returns,
   * so answering takes the same time whether or not the email is registered;
   * a delivery failure is logged. Throws IdentityError `throttled` over the limits,
   * counted for unknown emails too.
   */
  async requestPasswordReset(email: string, link: (token: string) => string, ctx: LinkContext): Promise<void> {
    await this.#throttle.limit(`mail:ip:${ctx.ip}`, this.#opts.mailsPerHourPerIp, HOUR);
    await this.#throttle.limit(`mail:email:${email.trim().toLowerCase()}`, this.#opts.mailsPerHour, HOUR);
    const user = await this.#store.users.byEmail(email);
    await this.#store.audit.write({
      api: ctx.api,
      action: 'password_reset.request',
      targetUserId: user?.id ?? null,
      ip: ctx.ip,
      detail: user && !user.disabled ? null : { email: cutText(email, 254), sent: false },
    });
    if (!user || user.disabled || !user.email) return;
    const token = await this.#newToken('password_reset', user.id);
    const minutes = Math.round(this.#opts.linkTtlSeconds / 60);
    this.#later(
      this.#mailer.send({
        to: user.email,
        subject: 'Reset your password',
        text:
          `Somebody (hopefully you) asked to reset the password of the account "${user.username}".\n\n` +
          `To choose a new password, open this link within ${minutes} minutes:\n\n${link(token)}\n\n` +
          'The link works once. If you did not ask for it, ignore this mail: your password stays as it is.\n',
      }),
      { userId: user.id, purpose: 'password_reset' },
    );
  }

  /**
   * Sets a new password with a mailed reset token: consumes the token (and
   * the user's other reset tokens) and revokes every token the user holds in
   * every API, in one transaction (Accounts.setPassword). Throws IdentityError
   * `weak_password` before touching the token, `dead_link` for a dead token,
   * `throttled` over the limit.
   */
  async confirmPasswordReset(token: string, password: string, ctx: LinkContext): Promise<User> {
    await this.#throttle.limit(`reset-confirm:ip:${ctx.ip}`, this.#opts.mailsPerHourPerIp, HOUR);
    const result = await this.#accounts.setPassword(
      async (store) => {
        const consumed = await store.oneTimeTokens.consume('password_reset', sha256(token));
        if (!consumed) return undefined;
        await store.oneTimeTokens.consumeAllForUser('password_reset', consumed.userId);
        return consumed.userId;
      },
      password,
      { api: ctx.api, ip: ctx.ip },
      { action: 'user.password_reset' },
    );
    const user = result && (await this.#store.users.byId(result.userId));
    if (!user) throw IdentityError.deadLink();
    return user;
  }

  /**
   * Mails the user a verification link (built by `link`) and waits for the
   * mail server to take it. Returns false, sending nothing, when the email is
   * already verified. Throttled per email address and per client address.
   */
  async sendEmailVerification(user: User & { email: string }, link: (token: string) => string, ctx: LinkContext): Promise<boolean> {
    await this.#throttle.limit(`mail:ip:${ctx.ip}`, this.#opts.mailsPerHourPerIp, HOUR);
    await this.#throttle.limit(`mail:email:${user.email.trim().toLowerCase()}`, this.#opts.mailsPerHour, HOUR);
    if (user.emailVerifiedAt) return false;
    const token = await this.#newToken('email_verify', user.id);
    const minutes = Math.round(this.#opts.linkTtlSeconds / 60);
    await this.#mailer.send({
      to: user.email,
      subject: 'Confirm your email address',
      text:
        `To confirm that ${user.email} is the address of the account "${user.username}", ` +
        `open this link within ${minutes} minutes:\n\n${link(token)}\n\nThe link works once.\n`,
    });
    await this.#store.audit.write({ api: ctx.api, action: 'email.verify_request', actorUserId: user.id, targetUserId: user.id, ip: ctx.ip });
    return true;
  }

  /** True when the verification token is live; consumes nothing (HEAD, link previews). */
  async peekEmailVerification(token: string): Promise<boolean> {
    if (token.length > 512) return false;
    return (await this.#store.oneTimeTokens.peek('email_verify', sha256(token))) !== undefined;
  }

  /** Consumes the token and marks the email verified; false for a dead token. */
  async verifyEmail(token: string, ctx: LinkContext): Promise<boolean> {
    if (token.length > 512) return false;
    const userId = await this.#store.knex.transaction(async (trx) => {
      const consumed = await this.#store.oneTimeTokens.consume('email_verify', sha256(token), trx);
      if (!consumed) return undefined;
      await trx('users').where({ id: consumed.userId }).whereNull('email_verified_at').update({ email_verified_at: trx.fn.now(), updated_at: trx.fn.now() });
      return consumed.userId;
    });
    if (!userId) return false;
    await this.#store.audit.write({ api: ctx.api, action: 'email.verified', actorUserId: userId, targetUserId: userId, ip: ctx.ip });
    return true;
  }

  /** Waits for the mails still being sent. */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  async #newToken(purpose: OneTimePurpose, userId: string): Promise<string> {
    const token = randomSecret(32);
    const expiresAt = new Date(Date.now() + this.#opts.linkTtlSeconds * 1000);
    await this.#store.oneTimeTokens.create({ purpose, tokenHash: sha256(token), userId, expiresAt });
    return token;
  }

  #later(sending: Promise<void>, about: Record<string, string>): void {
    const p = sending.catch((err: unknown) => this.#log.error({ err, ...about }, 'mail delivery failed'));
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }
}
