import type { Knex } from 'knex';
import { isSealed, type SecretBox } from '../secret-box.ts';

export type Role = 'ADMIN' | 'LINGUIST' | 'PROJECT_MANAGER';
export const roles: readonly Role[] = ['ADMIN', 'LINGUIST', 'PROJECT_MANAGER'];

export interface User {
  id: string;
  username: string;
  email: string | null;
  firstName: string;
  lastName: string;
  role: Role;
  jobTitle: string | null;
  company: string | null;
  termsAcceptedAt: Date | null;
  emailVerifiedAt: Date | null;
  passwordHash: string;
  totpSecret: string | null;
  totpLastStep: number | null;
  disabled: boolean;
  lastLoginAt: Date | null;
  passwordChangedAt: Date;
  createdAt: Date;
}

export interface NewUser {
  username: string;
  email?: string | null;
  firstName?: string;
  lastName?: string;
  role?: Role;
  jobTitle?: string | null;
  company?: string | null;
  termsAcceptedAt?: Date | null;
  passwordHash: string;
}

/** A username or email that another user already holds (case-insensitively). */
export class IdentifierTakenError extends Error {
  override name = 'IdentifierTakenError';
  readonly field: 'username' | 'email';
  constructor(field: 'username' | 'email') {
    super(`${field} is already taken`);
    this.field = field;
  }
}

type Row = Record<string, unknown>;

/**
 * What `User.totpSecret` holds when the stored secret cannot be decrypted
 * (its key is not configured, or the value does not authenticate): not a
 * valid base32 secret, so no code matches it and the login fails closed,
 * still asking for the second factor.
 */
export const UNREADABLE_TOTP_SECRET = '!unreadable';

export interface UsersRepoOptions {
  /** Encrypts users.totp_secret (AES-256-GCM); without it no secret can be set or read back. */
  totpBox?: SecretBox;
  /** Told when a stored TOTP secret cannot be decrypted (logged by the server). */
  onUnreadableTotp?: (userId: string, err: Error) => void;
}

/** The additional authenticated data of a user's sealed TOTP secret: the row it belongs to. */
export function totpContext(userId: string): string {
  return `users.totp_secret:${userId}`;
}

/**
 * The plain TOTP secret of a stored value: opened when sealed, as stored when
 * it is a legacy plain row (sealed at the next start-up, see
 * `sealTotpSecrets`), UNREADABLE_TOTP_SECRET when it cannot be opened.
 */
function openTotp(userId: string, stored: string, opts: UsersRepoOptions): string {
  if (!isSealed(stored)) return stored;
  if (!opts.totpBox) {
    opts.onUnreadableTotp?.(userId, new Error('no TOTP encryption key is configured'));
    return UNREADABLE_TOTP_SECRET;
  }
  try {
    return opts.totpBox.open(stored, totpContext(userId));
  } catch (err) {
    opts.onUnreadableTotp?.(userId, err as Error);
    return UNREADABLE_TOTP_SECRET;
  }
}

export function toUser(r: Row, opts: UsersRepoOptions = {}): User {
  return {
    id: String(r.id),
    username: r.username as string,
    email: (r.email as string | null) ?? null,
    firstName: r.first_name as string,
    lastName: r.last_name as string,
    role: r.role as Role,
    jobTitle: (r.job_title as string | null) ?? null,
    company: (r.company as string | null) ?? null,
    termsAcceptedAt: (r.terms_accepted_at as Date | null) ?? null,
    emailVerifiedAt: (r.email_verified_at as Date | null) ?? null,
    passwordHash: r.password_hash as string,
    totpSecret: r.totp_secret == null ? null : openTotp(String(r.id), r.totp_secret as string, opts),
    totpLastStep: r.totp_last_step == null ? null : Number(r.totp_last_step),
    disabled: Boolean(r.disabled),
    lastLoginAt: (r.last_login_at as Date | null) ?? null,
    passwordChangedAt: r.password_changed_at as Date,
    createdAt: r.created_at as Date,
  };
}

const norm = (s: string) => s.trim().toLowerCase();

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code === '23505';
}

export function usersRepo(db: Knex, opts: UsersRepoOptions = {}) {
  const asUser = (r: Row) => toUser(r, opts);
  return {
    /**
     * Inserts the user and claims its username and email in one transaction.
     * Two racing registrations: the database lets one win and the other gets
     * IdentifierTakenError, never a half-written user.
     */
    async create(u: NewUser): Promise<User> {
      return db.transaction(async (trx) => {
          const [row] = await trx('users')
            .insert({
              username: u.username.trim(),
              email: u.email?.trim() || null,
              first_name: u.firstName ?? '',
              last_name: u.lastName ?? '',
              role: u.role ?? 'LINGUIST',
              job_title: u.jobTitle ?? null,
              company: u.company ?? null,
              terms_accepted_at: u.termsAcceptedAt ?? null,
              password_hash: u.passwordHash,
            })
            .returning('*');
          const user = asUser(row as Row);
          await claim(trx, user.id, 'username', user.username);
          if (user.email && norm(user.email) !== norm(user.username)) {
            await claim(trx, user.id, 'email', user.email);
          }
          return user;
      });
    },

    async byId(id: string): Promise<User | undefined> {
      if (!/^[1-9][0-9]{0,17}$/.test(id)) return undefined;
      const row = await db('users').where({ id }).first();
      return row ? asUser(row) : undefined;
    },

    /** Finds a user by username or email, case-insensitively. */
    async byIdentifier(identifier: string): Promise<User | undefined> {
      const row = await db('users')
        .join('user_identifiers', 'user_identifiers.user_id', 'users.id')
        .where('user_identifiers.value', norm(identifier))
        .first('users.*');
      return row ? asUser(row) : undefined;
    },

    async byEmail(email: string): Promise<User | undefined> {
      const row = await db('users')
        .join('user_identifiers', 'user_identifiers.user_id', 'users.id')
        .where('user_identifiers.value', norm(email))
        .whereRaw('lower(users.email) = ?', [norm(email)])
        .first('users.*');
      return row ? asUser(row) : undefined;
    },

    async update(
      id: string,
      patch: Partial<Pick<User, 'firstName' | 'lastName' | 'role' | 'disabled' | 'lastLoginAt' | 'emailVerifiedAt'>>,
    ): Promise<User | undefined> {
      const set: Row = { updated_at: db.fn.now() };
      if (patch.firstName !== undefined) set.first_name = patch.firstName;
      if (patch.lastName !== undefined) set.last_name = patch.lastName;
      if (patch.role !== undefined) set.role = patch.role;
      if (patch.disabled !== undefined) set.disabled = patch.disabled;
      if (patch.lastLoginAt !== undefined) set.last_login_at = patch.lastLoginAt;
      if (patch.emailVerifiedAt !== undefined) set.email_verified_at = patch.emailVerifiedAt;
      const [row] = await db('users').where({ id }).update(set).returning('*');
      return row ? asUser(row) : undefined;
    },

    /**
     * Sets several users' last login times in one statement, never moving a
     * stored time backwards (`greatest` ignores a NULL). Unknown ids are
     * skipped. Returns the stored time of each user updated, by id.
     */
    async recordLastLogins(entries: ReadonlyArray<{ userId: string; at: Date }>): Promise<Map<string, Date>> {
      const stored = new Map<string, Date>();
      const valid = entries.filter((e) => /^[1-9][0-9]{0,17}$/.test(e.userId));
      if (valid.length === 0) return stored;
      const values = valid.map(() => '(cast(? as bigint), cast(? as timestamptz))').join(', ');
      const bindings = valid.flatMap((e) => [e.userId, e.at.toISOString()]);
      const result = await db.raw(
        `update users as u
            set last_login_at = greatest(u.last_login_at, v.at), updated_at = now()
           from (values ${values}) as v(id, at)
          where u.id = v.id
      returning u.id, u.last_login_at`,
        bindings,
      );
      for (const row of (result as { rows: Row[] }).rows) stored.set(String(row.id), row.last_login_at as Date);
      return stored;
    },

    async setPasswordHash(id: string, passwordHash: string, trx: Knex = db): Promise<void> {
      await trx('users')
        .where({ id })
        .update({ password_hash: passwordHash, password_changed_at: trx.fn.now(), updated_at: trx.fn.now() });
    },

    /** Replaces the hash only if it is still the one read (a rehash after login). */
    async replacePasswordHash(id: string, oldHash: string, newHash: string): Promise<void> {
      await db('users').where({ id, password_hash: oldHash }).update({ password_hash: newHash });
    },

    /** Sets (encrypted) or removes a user's TOTP secret, resetting the replay guard. */
    async setTotp(id: string, secret: string | null): Promise<void> {
      if (secret !== null && !opts.totpBox) throw new Error('setTotp: no TOTP encryption key is configured');
      const stored = secret === null ? null : opts.totpBox!.seal(secret, totpContext(id));
      await db('users').where({ id }).update({ totp_secret: stored, totp_last_step: null, updated_at: db.fn.now() });
    },

    /**
     * Re-encrypts stored TOTP secrets under the current key, in batches of
     * `batchSize` rows by id: legacy plain rows always, and with `all` also
     * rows sealed under an older key. Each row is rewritten only if it still
     * holds the value read (compare-and-set), so a secret enrolled meanwhile,
     * or another process doing the same pass, is never overwritten. Rows no
     * configured key opens are left as they are and counted as unreadable.
     */
    async sealTotpSecrets(o: { all: boolean; batchSize?: number }): Promise<{ sealed: number; unreadable: number; total: number }> {
      const box = opts.totpBox;
      if (!box) throw new Error('sealTotpSecrets: no TOTP encryption key is configured');
      const batchSize = o.batchSize ?? 500;
      const result = { sealed: 0, unreadable: 0, total: 0 };
      let after = '0';
      for (;;) {
        const rows = (await db('users')
          .whereNotNull('totp_secret')
          .andWhere('id', '>', after)
          .orderBy('id')
          .limit(batchSize)
          .select('id', 'totp_secret')) as Array<{ id: string; totp_secret: string }>;
        for (const row of rows) {
          const id = String(row.id);
          result.total += 1;
          const stored = row.totp_secret;
          if (box.isCurrent(stored) || (isSealed(stored) && !o.all)) continue;
          let plain: string;
          try {
            plain = isSealed(stored) ? box.open(stored, totpContext(id)) : stored;
          } catch {
            result.unreadable += 1;
            continue;
          }
          const n = await db('users').where({ id, totp_secret: stored }).update({ totp_secret: box.seal(plain, totpContext(id)) });
          result.sealed += Number(n);
        }
        if (rows.length < batchSize) return result;
        after = String(rows[rows.length - 1]!.id);
      }
    },

    /**
     * Records the TOTP step just used, only if it is newer than the last one:
     * false means the code was already used (replay).
     */
    async consumeTotpStep(id: string, step: number): Promise<boolean> {
      const rows = await db('users')
        .where({ id })
        .andWhere((q) => q.whereNull('totp_last_step').orWhere('totp_last_step', '<', step))
        .update({ totp_last_step: step })
        .returning('id');
      return rows.length === 1;
    },

    async list(limit = 100): Promise<User[]> {
      const rows = await db('users').orderBy('id').limit(limit);
      return rows.map(asUser);
    },

    async count(): Promise<number> {
      const [row] = await db('users').count({ n: '*' });
      return Number((row as Row).n);
    },
  };
}

async function claim(trx: Knex.Transaction, userId: string, kind: 'username' | 'email', value: string) {
  try {
    // A savepoint keeps the transaction usable to report which field clashed.
    await trx.transaction(async (sp) => {
      await sp('user_identifiers').insert({ value: norm(value), user_id: userId, kind });
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new IdentifierTakenError(kind);
    throw err;
  }
}

export type UsersRepo = ReturnType<typeof usersRepo>;
