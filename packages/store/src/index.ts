import type { Knex } from 'knex';
import { auditRepo } from './repos/audit.ts';
import { clientsRepo } from './repos/clients.ts';
import { domainsRepo } from './repos/domains.ts';
import { oneTimeTokensRepo } from './repos/one-time-tokens.ts';
import { throttleRepo } from './repos/throttle.ts';
import { tokensRepo } from './repos/tokens.ts';
import { usersRepo } from './repos/users.ts';

export * from './auth-changes.ts';
export * from './database.ts';
export * from './deadline.ts';
export * from './repos/audit.ts';
export * from './repos/clients.ts';
export * from './repos/domains.ts';
export * from './repos/one-time-tokens.ts';
export * from './repos/throttle.ts';
export * from './repos/tokens.ts';
export * from './repos/users.ts';
export type { Knex } from 'knex';

/** Every repository over one knex instance (or transaction). */
export function createStore(knex: Knex) {
  return {
    knex,
    users: usersRepo(knex),
    tokens: tokensRepo(knex),
    clients: clientsRepo(knex),
    domains: domainsRepo(knex),
    oneTimeTokens: oneTimeTokensRepo(knex),
    throttle: throttleRepo(knex),
    audit: auditRepo(knex),
  };
}

export type Store = ReturnType<typeof createStore>;
