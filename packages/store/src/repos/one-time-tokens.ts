import type { Knex } from 'knex';

export type OneTimePurpose = 'email_verify' | 'password_reset';

export interface OneTimeToken {
  id: string;
  purpose: OneTimePurpose;
  userId: string;
  expiresAt: Date;
}

type Row = Record<string, unknown>;

export function oneTimeTokensRepo(db: Knex) {
  return {
    async create(t: { purpose: OneTimePurpose; tokenHash: string; userId: string; expiresAt: Date }): Promise<void> {
      await db('one_time_tokens').insert({
        purpose: t.purpose,
        token_hash: t.tokenHash,
        user_id: t.userId,
        expires_at: t.expiresAt,
      });
    },
    /** The live token, without consuming it (HEAD requests, previews). */
    async peek(purpose: OneTimePurpose, tokenHash: string): Promise<OneTimeToken | undefined> {
      const row = await db('one_time_tokens')
        .where({ purpose, token_hash: tokenHash })
        .whereNull('consumed_at')
        .andWhere('expires_at', '>', db.fn.now())
        .first();
      return row ? toOneTime(row) : undefined;
    },
    /**
     * Consumes the token in one conditional UPDATE: of two concurrent callers
     * exactly one gets it back.
     */
    async consume(purpose: OneTimePurpose, tokenHash: string, trx: Knex = db): Promise<OneTimeToken | undefined> {
      const [row] = await trx('one_time_tokens')
        .where({ purpose, token_hash: tokenHash })
        .whereNull('consumed_at')
        .andWhere('expires_at', '>', trx.fn.now())
        .update({ consumed_at: trx.fn.now() })
        .returning('*');
      return row ? toOneTime(row as Row) : undefined;
    },
    /** Invalidates the user's other outstanding tokens of this purpose. */
    async consumeAllForUser(purpose: OneTimePurpose, userId: string, trx: Knex = db): Promise<void> {
      await trx('one_time_tokens').where({ purpose, user_id: userId }).whereNull('consumed_at').update({ consumed_at: trx.fn.now() });
    },
  };
}

function toOneTime(r: Row): OneTimeToken {
  return {
    id: String(r.id),
    purpose: r.purpose as OneTimePurpose,
    userId: String(r.user_id),
    expiresAt: r.expires_at as Date,
  };
}

export type OneTimeTokensRepo = ReturnType<typeof oneTimeTokensRepo>;
