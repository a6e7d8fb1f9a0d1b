import type { Knex } from 'knex';

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

export function toUser(r: Row): User {
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
    totpSecret: (r.totp_secret as string | null) ?? null,
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

export function usersRepo(db: Knex) {
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
          const user = toUser(row as Row);
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
      return row ? toUser(row) : undefined;
    },

    /** Finds a user by username or email, case-insensitively. */
    async byIdentifier(identifier: string): Promise<User | undefined> {
      const row = await db('users')
        .join('user_identifiers', 'user_identifiers.user_id', 'users.id')
        .where('user_identifiers.value', norm(identifier))
        .first('users.*');
      return row ? toUser(row) : undefined;
    },

    async byEmail(email: string): Promise<User | undefined> {
      const row = await db('users')
        .join('user_identifiers', 'user_identifiers.user_id', 'users.id')
        .where('user_identifiers.value', norm(email))
        .whereRaw('lower(users.email) = ?', [norm(email)])
        .first('users.*');
      return row ? toUser(row) : undefined;
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
      return row ? toUser(row) : undefined;
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

    async setTotp(id: string, secret: string | null): Promise<void> {
      await db('users').where({ id }).update({ totp_secret: secret, totp_last_step: null, updated_at: db.fn.now() });
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
      return rows.map(toUser);
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
