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
    return migration;
  },
};

export const migrationNames = Object.keys(migrations).sort();
