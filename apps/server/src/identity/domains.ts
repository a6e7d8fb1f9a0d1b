import { DomainNameTakenError, type Domain, type Store, type User } from '@polyauth/store';
import { audited, type Caller } from './caller.ts';
import { IdentityError } from './errors.ts';

const ID = /^[1-9][0-9]{0,17}$/;

/**
 * Domains (mts-auth's domains, auth-v3's organizations) and who belongs to
 * them: what a signed-in user may see, and an administrator's changes, each
 * audited. Knows nothing of HTTP.
 */
export class Domains {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Every domain for an ADMIN; the user's own domains for anyone else. */
  visibleTo(user: Readonly<User>): Promise<Domain[]> {
    return user.role === 'ADMIN' ? this.#store.domains.all() : this.#store.domains.ofUser(user.id);
  }

  /**
   * Domain `id`, for an ADMIN or a member. Throws IdentityError `not_found`
   * or `forbidden` (not a member).
   */
  async get(user: Readonly<User>, id: string): Promise<Domain> {
    const domain = await this.#store.domains.byId(id);
    if (!domain) throw IdentityError.notFound('There is no such domain.');
    if (user.role !== 'ADMIN' && !(await this.#store.domains.isMember(domain.id, user.id))) {
      throw IdentityError.forbidden('You are not a member of this domain.');
    }
    return domain;
  }

  /** Every domain, in id order. */
  all(): Promise<Domain[]> {
    return this.#store.domains.all();
  }

  /** A domain by id or name (case-insensitive). */
  async find(ref: string): Promise<Domain | undefined> {
    const value = ref.trim();
    return (ID.test(value) ? await this.#store.domains.byId(value) : undefined) ?? (value && !value.includes('\0') ? await this.#store.domains.byName(value) : undefined);
  }

  /** Creates a domain. Throws IdentityError `domain_name_taken`. */
  async create(name: string, caller: Caller): Promise<Domain> {
    try {
      return await this.#store.knex.transaction(async (trx) => {
        const store = this.#store.withKnex(trx);
        const domain = await store.domains.create(name);
        await store.audit.write({ action: 'domain.create', ...audited(caller, null, { domainId: domain.id, name: domain.name }) });
        return domain;
      });
    } catch (err) {
      if (err instanceof DomainNameTakenError) throw new IdentityError({ kind: 'domain_name_taken' }, err.message);
      throw err;
    }
  }

  /** Adds a member; false when they already were one. */
  async addMember(domain: Domain, user: User, caller: Caller): Promise<boolean> {
    return this.#store.knex.transaction(async (trx) => {
      const store = this.#store.withKnex(trx);
      if (await store.domains.isMember(domain.id, user.id)) return false;
      await store.domains.addMember(domain.id, user.id);
      await store.audit.write({ action: 'domain.member_add', ...audited(caller, user.id, { domainId: domain.id, domain: domain.name }) });
      return true;
    });
  }

  /** Removes a member; false when they were not one. */
  async removeMember(domain: Domain, user: User, caller: Caller): Promise<boolean> {
    return this.#store.knex.transaction(async (trx) => {
      const store = this.#store.withKnex(trx);
      const removed = await store.domains.removeMember(domain.id, user.id);
      if (removed) {
        await store.audit.write({ action: 'domain.member_remove', ...audited(caller, user.id, { domainId: domain.id, domain: domain.name }) });
      }
      return removed;
    });
  }
}
