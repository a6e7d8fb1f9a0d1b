import type { Knex } from 'knex';

export interface TokenRow {
  id: string;
  api: string;
  kind: string;
  userId: string;
  clientId: string | null;
  parentId: string | null;
  actorUserId: string | null;
  note: string | null;
  enabled: boolean;
  version: number;
  expiresAt: Date | null;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface NewToken {
  api: string;
  kind: string;
  tokenHash: string;
  userId: string;
  clientId?: string | null;
  parentId?: string | null;
  actorUserId?: string | null;
  note?: string | null;
  expiresAt?: Date | null;
}

type Row = Record<string, unknown>;
const str = (v: unknown) => (v == null ? null : String(v));

function toToken(r: Row): TokenRow {
  return {
    id: String(r.id),
    api: r.api as string,
    kind: r.kind as string,
    userId: String(r.user_id),
    clientId: str(r.client_id),
    parentId: str(r.parent_id),
    actorUserId: str(r.actor_user_id),
    note: (r.note as string | null) ?? null,
    enabled: Boolean(r.enabled),
    version: Number(r.version),
    expiresAt: (r.expires_at as Date | null) ?? null,
    createdAt: r.created_at as Date,
    lastUsedAt: (r.last_used_at as Date | null) ?? null,
  };
}

export function tokensRepo(db: Knex) {
  return {
    async insert(t: NewToken): Promise<TokenRow> {
      const [row] = await db('tokens')
        .insert({
          api: t.api,
          kind: t.kind,
          token_hash: t.tokenHash,
          user_id: t.userId,
          client_id: t.clientId ?? null,
          parent_id: t.parentId ?? null,
          actor_user_id: t.actorUserId ?? null,
          note: t.note ?? null,
          expires_at: t.expiresAt ?? null,
        })
        .returning('*');
      return toToken(row as Row);
    },

    /**
     * The live token with this hash, for this API and kind: not revoked, not
     * expired, enabled, and its user not disabled. One indexed read.
     */
    async findLive(api: string, kind: string, tokenHash: string): Promise<TokenRow | undefined> {
      const row = await db('tokens')
        .join('users', 'users.id', 'tokens.user_id')
        .where({ 'tokens.token_hash': tokenHash, 'tokens.api': api, 'tokens.kind': kind, 'tokens.enabled': true })
        .whereNull('tokens.revoked_at')
        .andWhere((q) => q.whereNull('tokens.expires_at').orWhere('tokens.expires_at', '>', db.fn.now()))
        .andWhere('users.disabled', false)
        .first('tokens.*');
      return row ? toToken(row) : undefined;
    },

    /**
     * The live token with this row id, for this API and kind (same rules as
     * findLive); for a JWT that names its session row instead of having one.
     */
    async findLiveById(api: string, kind: string, id: string): Promise<TokenRow | undefined> {
      if (!/^[1-9][0-9]{0,18}$/.test(id)) return undefined;
      const row = await db('tokens')
        .join('users', 'users.id', 'tokens.user_id')
        .where({ 'tokens.id': id, 'tokens.api': api, 'tokens.kind': kind, 'tokens.enabled': true })
        .whereNull('tokens.revoked_at')
        .andWhere((q) => q.whereNull('tokens.expires_at').orWhere('tokens.expires_at', '>', db.fn.now()))
        .andWhere('users.disabled', false)
        .first('tokens.*');
      return row ? toToken(row) : undefined;
    },

    /** Revokes one token and every token issued from it. Returns how many. */
    async revokeFamily(id: string): Promise<number> {
      const rows = await db('tokens')
        .where((q) => q.where({ id }).orWhere({ parent_id: id }))
        .whereNull('revoked_at')
        .update({ revoked_at: db.fn.now() })
        .returning('id');
      return rows.length;
    },

    /**
     * Consumes a single-use token: revokes it only if still live. True for the
     * one caller that won.
     */
    async consume(id: string): Promise<boolean> {
      const rows = await db('tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: db.fn.now() }).returning('id');
      return rows.length === 1;
    },

    /** Revokes every live token of a user in every API, except `exceptId`. */
    async revokeAllForUser(userId: string, exceptId?: string, trx: Knex = db): Promise<number> {
      const q = trx('tokens').where({ user_id: userId }).whereNull('revoked_at');
      if (exceptId) q.whereNot({ id: exceptId });
      const rows = await q.update({ revoked_at: trx.fn.now() }).returning('id');
      return rows.length;
    },

    /** Revokes every live token of a user issued by one API (admin revocation). */
    async revokeAllForUserInApi(userId: string, api: string): Promise<number> {
      const rows = await db('tokens')
        .where({ user_id: userId, api })
        .whereNull('revoked_at')
        .update({ revoked_at: db.fn.now() })
        .returning('id');
      return rows.length;
    },

    /** Revokes every live token issued through a client or application (by its row id). */
    async revokeAllForClient(clientRowId: string): Promise<number> {
      const rows = await db('tokens')
        .where({ client_id: clientRowId })
        .whereNull('revoked_at')
        .update({ revoked_at: db.fn.now() })
        .returning('id');
      return rows.length;
    },

    /** Records a use; callers coalesce so this is not a write per request. */
    async touch(id: string, at: Date): Promise<void> {
      await db('tokens').where({ id }).update({ last_used_at: at });
    },

    async byId(id: string): Promise<TokenRow | undefined> {
      const row = await db('tokens').where({ id }).first();
      return row ? toToken(row) : undefined;
    },
  };
}

export type TokensRepo = ReturnType<typeof tokensRepo>;
