import type { Knex } from 'knex';
import * as identity from './20261123090000_identity.ts';
import * as authChangeNotify from './20261123190000_auth_change_notify.ts';
import * as clientChangeNotify from './20261123200000_client_change_notify.ts';
import * as throttleReservations from './20261201230000_throttle_reservations.ts';

// Migrations are listed here rather than discovered on disk, so that they load
// the same way under Node, jest and a bundler. Add new files in time order.
const migrations: Record<string, Knex.Migration> = {
  '20261123090000_identity': identity,
  '20261123190000_auth_change_notify': authChangeNotify,
  '20261123200000_client_change_notify': clientChangeNotify,
  '20261201230000_throttle_reservations': throttleReservations,
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const migration = migrations[name];
    if (!migration) throw new Error(`unknown migration ${name}`);
    // A migration may rewrite a large table: the statement timeout every
    // pooled connection has (DB_STATEMENT_TIMEOUT_MS) is lifted for its
    // transaction; the lock timeout stays, so a migration waiting behind a
    // long lock fails instead of queueing every request behind itself.
    const unbounded = (step: (knex: Knex) => PromiseLike<unknown>) => async (knex: Knex) => {
      await knex.raw('set local statement_timeout = 0');
      await step(knex);
    };
    return { ...migration, up: unbounded(migration.up), ...(migration.down ? { down: unbounded(migration.down) } : {}) };
  },
};

export const migrationNames = Object.keys(migrations).sort();
