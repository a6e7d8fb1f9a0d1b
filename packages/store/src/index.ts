import type { Knex } from 'knex';
import { auditRepo } from './repos/audit.ts';
import { clientsRepo } from './repos/clients.ts';
import { domainsRepo } from './repos/domains.ts';
import { oneTimeTokensRepo } from './repos/one-time-tokens.ts';
import { purgeRepo } from './repos/purge.ts';
import { throttleRepo } from './repos/throttle.ts';
import { tokensRepo } from './repos/tokens.ts';
import { usersRepo, type UsersRepoOptions } from './repos/users.ts';

export * from './auth-changes.ts';
export * from './connect-timeouts.ts';
export * from './database.ts';
export * from './deadline.ts';
export * from './repos/audit.ts';
export * from './repos/clients.ts';
export * from './repos/domains.ts';
export * from './repos/one-time-tokens.ts';
export * from './repos/purge.ts';
export * from './repos/throttle.ts';
export * from './repos/tokens.ts';
export * from './repos/users.ts';
export * from './secret-box.ts';
export type { Knex } from 'knex';

export type StoreOptions = UsersRepoOptions;

/**
 * Every repository over one knex instance (or transaction). `opts.totpBox`
 * encrypts users' TOTP secrets; a store made for a transaction takes the
 * same options (`withKnex`).
 */
export function createStore(knex: Knex, opts: StoreOptions = {}) {
  return {
    knex,
    /** The same repositories over another knex (a transaction), with the same options. */
    withKnex: (other: Knex) => createStore(other, opts),
    /** The id of the key new TOTP secrets are sealed with (undefined: none configured). */
    totpKeyId: opts.totpBox?.keyId,
    users: usersRepo(knex, opts),
    tokens: tokensRepo(knex),
    clients: clientsRepo(knex),
    domains: domainsRepo(knex),
    oneTimeTokens: oneTimeTokensRepo(knex),
    throttle: throttleRepo(knex),
    purge: purgeRepo(knex),
    audit: auditRepo(knex),
  };
}

export type Store = ReturnType<typeof createStore>;
