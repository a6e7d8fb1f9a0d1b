import type { Knex } from 'knex';

export interface Domain {
  id: string;
  name: string;
  createdAt: Date;
}

/** Another domain already has this name (case-insensitively). */
export class DomainNameTakenError extends Error {
  override name = 'DomainNameTakenError';
  constructor(name: string) {
    super(`a domain named "${name}" already exists`);
  }
}

type Row = Record<string, unknown>;
const toDomain = (r: Row): Domain => ({ id: String(r.id), name: r.name as string, createdAt: r.created_at as Date });

export function domainsRepo(db: Knex) {
  return {
    /** Throws DomainNameTakenError when the name is taken. */
    async create(name: string): Promise<Domain> {
      try {
        // A savepoint when called inside a transaction, so it stays usable after a clash.
        const [row] = await db.transaction(async (sp) => sp('domains').insert({ name }).returning('*'));
        return toDomain(row as Row);
      } catch (err) {
        if ((err as { code?: string }).code === '23505') throw new DomainNameTakenError(name);
        throw err;
      }
    },
    async byId(id: string): Promise<Domain | undefined> {
      if (!/^[1-9][0-9]{0,17}$/.test(id)) return undefined;
      const row = await db('domains').where({ id }).first();
      return row ? toDomain(row) : undefined;
    },
    async byName(name: string): Promise<Domain | undefined> {
      const row = await db('domains').whereRaw('lower(name) = lower(?)', [name]).first();
      return row ? toDomain(row) : undefined;
    },
    async all(): Promise<Domain[]> {
      return (await db('domains').orderBy('id')).map(toDomain);
    },
    async ofUser(userId: string): Promise<Domain[]> {
      const rows = await db('domains')
        .join('domain_memberships', 'domain_memberships.domain_id', 'domains.id')
        .where('domain_memberships.user_id', userId)
        .orderBy('domains.id')
        .select('domains.*');
      return rows.map(toDomain);
    },
    async isMember(domainId: string, userId: string): Promise<boolean> {
      const row = await db('domain_memberships').where({ domain_id: domainId, user_id: userId }).first();
      return Boolean(row);
    },
    /** True when the two users share at least one domain (auth-v3's "organization"). */
    async shareDomain(a: string, b: string): Promise<boolean> {
      const row = await db('domain_memberships as m1')
        .join('domain_memberships as m2', 'm1.domain_id', 'm2.domain_id')
        .where('m1.user_id', a)
        .andWhere('m2.user_id', b)
        .first('m1.domain_id');
      return Boolean(row);
    },
    async addMember(domainId: string, userId: string): Promise<void> {
      await db('domain_memberships').insert({ domain_id: domainId, user_id: userId }).onConflict(['domain_id', 'user_id']).ignore();
    },
    async removeMember(domainId: string, userId: string): Promise<boolean> {
      const rows = await db('domain_memberships').where({ domain_id: domainId, user_id: userId }).del().returning('user_id');
      return rows.length === 1;
    },
  };
}

export type DomainsRepo = ReturnType<typeof domainsRepo>;
