import type { Knex } from 'knex';

export type ClientKind = 'oauth' | 'application';

export interface Client {
  id: string;
  kind: ClientKind;
  clientId: string;
  secretHash: string | null;
  name: string;
  createdAt: Date;
  revokedAt: Date | null;
}

type Row = Record<string, unknown>;

function toClient(r: Row): Client {
  return {
    id: String(r.id),
    kind: r.kind as ClientKind,
    clientId: r.client_id as string,
    secretHash: (r.secret_hash as string | null) ?? null,
    name: r.name as string,
    createdAt: r.created_at as Date,
    revokedAt: (r.revoked_at as Date | null) ?? null,
  };
}

export function clientsRepo(db: Knex) {
  return {
    async create(c: { kind: ClientKind; clientId: string; secretHash: string | null; name: string }): Promise<Client> {
      const [row] = await db('clients')
        .insert({ kind: c.kind, client_id: c.clientId, secret_hash: c.secretHash, name: c.name })
        .returning('*');
      return toClient(row as Row);
    },
    async byClientId(kind: ClientKind, clientId: string): Promise<Client | undefined> {
      const row = await db('clients').where({ kind, client_id: clientId }).whereNull('revoked_at').first();
      return row ? toClient(row) : undefined;
    },
    /** True when the client with this row id exists, is of this kind and is not revoked. */
    async isLive(kind: ClientKind, id: string): Promise<boolean> {
      if (!/^[1-9][0-9]{0,18}$/.test(id)) return false;
      const row = await db('clients').where({ id, kind }).whereNull('revoked_at').first('id');
      return row !== undefined;
    },
    async list(kind?: ClientKind): Promise<Client[]> {
      const q = db('clients').orderBy('id');
      if (kind) q.where({ kind });
      return (await q).map(toClient);
    },
    async revoke(kind: ClientKind, clientId: string): Promise<boolean> {
      const rows = await db('clients')
        .where({ kind, client_id: clientId })
        .whereNull('revoked_at')
        .update({ revoked_at: db.fn.now() })
        .returning('id');
      return rows.length === 1;
    },
    async count(): Promise<number> {
      const [row] = await db('clients').count({ n: '*' });
      return Number((row as Row).n);
    },
  };
}

export type ClientsRepo = ReturnType<typeof clientsRepo>;
