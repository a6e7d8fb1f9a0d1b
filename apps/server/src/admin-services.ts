// The admin CLI's composition root: opens the server's database and builds
// the use-cases the commands call (the server's is services.ts).
import path from 'node:path';
import { DataDirInUseError, migrateLatest, migratePostgres, migrationsCurrent, openPglite, openPostgres, type Database } from '@polyauth/store';
import type { Config } from './config.ts';
import { Accounts } from './identity/accounts.ts';
import { ClientCredentials } from './identity/clients.ts';
import { Domains } from './identity/domains.ts';
import { LastLoginRecorder } from './identity/last-login.ts';
import { PasswordHasher } from './identity/passwords.ts';
import { createConfiguredStore } from './services.ts';

/** The use-cases the admin CLI calls, over the server's database. */
export interface AdminServices {
  config: Config;
  accounts: Accounts;
  domains: Domains;
  clients: ClientCredentials;
  /** Stops the bcrypt pool, if a command started it, and closes the database. */
  close(): Promise<void>;
}

/** The database could not be opened; the message says why, fit for the operator. */
export class AdminOpenError extends Error {
  override name = 'AdminOpenError';
}

/**
 * Opens the database the server uses (DATABASE_URL, else the embedded PGlite
 * in DATA_DIR under the same lock) and brings its schema up to date. The
 * bcrypt pool starts only when a command hashes a password.
 */
export async function openAdminServices(config: Config): Promise<AdminServices> {
  let db: Database;
  try {
    db = config.databaseUrl
      ? await openPostgres({ url: config.databaseUrl, poolMax: 2 })
      : await openPglite({ dataDir: path.resolve(config.dataDir, 'pglite') });
  } catch (err) {
    if (err instanceof DataDirInUseError) throw new AdminOpenError(err.message);
    throw new AdminOpenError(`cannot open the database: ${(err as Error).message}`);
  }
  try {
    // One direct round trip first: a database that cannot be reached is named
    // by its own error (ECONNREFUSED, a wrong password), not by a pool timeout.
    await db.ping(5_000);
    // Reading the list is cheaper than `latest`, which takes the migration lock;
    // on Postgres the migrations run over the direct connection (DATABASE_DIRECT_URL).
    if (!(await migrationsCurrent(db.knex))) {
      if (config.databaseUrl) await migratePostgres(config.databaseDirectUrl ?? config.databaseUrl);
      else await migrateLatest(db.knex);
    }
  } catch (err) {
    await db.close().catch(() => undefined);
    throw new AdminOpenError(`cannot open the database: ${(err as Error).message}`);
  }
  const store = createConfiguredStore(config, db.knex);
  let hasher: PasswordHasher | undefined;
  const passwords = () => (hasher ??= new PasswordHasher({ cost: config.bcryptCost, poolSize: 1 }));
  // The CLI signs nobody in: last login times are only read, never buffered.
  const logins = new LastLoginRecorder(store, { flushMs: 0 });
  return {
    config,
    accounts: new Accounts(store, passwords, logins),
    domains: new Domains(store),
    clients: new ClientCredentials(store),
    async close() {
      await logins.close();
      await hasher?.close();
      await db.close();
    },
  };
}
