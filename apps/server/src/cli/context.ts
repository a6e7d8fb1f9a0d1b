import { userInfo } from 'node:os';
import path from 'node:path';
import {
  DataDirInUseError,
  migrateLatest,
  migratePostgres,
  migrationsCurrent,
  openPglite,
  openPostgres,
  type AuditEntry,
  type Database,
  type Store,
} from '@polyauth/store';
import { ConfigError, loadConfig, type Config } from '../config.ts';
import { withDevelopmentTotpKey } from '../dev-secrets.ts';
import { PasswordHasher } from '../identity/passwords.ts';
import { createConfiguredStore } from '../services.ts';
import { CliError } from './output.ts';

/** Recorded as the actor of every change the CLI makes. */
export const ACTOR = 'admin-cli';

export interface CliContext {
  config: Config;
  db: Database;
  store: Store;
  /** Runs `fn` in one transaction, with repositories bound to it. */
  transaction<T>(fn: (store: Store) => Promise<T>): Promise<T>;
  /** The bcrypt pool, started on first use (most commands never hash). */
  passwords(): PasswordHasher;
  close(): Promise<void>;
}

function osUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

/** An audit entry for a change made through the CLI. */
export function auditEntry(action: string, e: { targetUserId?: string | null; detail?: Record<string, unknown> } = {}): AuditEntry {
  const by = osUser();
  return {
    api: ACTOR,
    action,
    actorUserId: null,
    targetUserId: e.targetUserId ?? null,
    detail: { actor: ACTOR, ...(by ? { osUser: by } : {}), ...e.detail },
  };
}

/**
 * Opens the database the server uses (DATABASE_URL, else the embedded PGlite
 * in DATA_DIR under the same lock) and brings its schema up to date.
 */
export async function openContext(env: NodeJS.ProcessEnv = process.env): Promise<CliContext> {
  let config: Config;
  try {
    config = withDevelopmentTotpKey(loadConfig(env));
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
  let db: Database;
  try {
    db = config.databaseUrl
      ? await openPostgres({ url: config.databaseUrl, poolMax: 2 })
      : await openPglite({ dataDir: path.resolve(config.dataDir, 'pglite') });
  } catch (err) {
    if (err instanceof DataDirInUseError) throw new CliError(err.message);
    throw new CliError(`cannot open the database: ${(err as Error).message}`);
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
    throw new CliError(`cannot open the database: ${(err as Error).message}`);
  }
  const store = createConfiguredStore(config, db.knex);
  let hasher: PasswordHasher | undefined;
  return {
    config,
    db,
    store,
    transaction: (fn) => db.knex.transaction((trx) => fn(store.withKnex(trx))),
    passwords: () => (hasher ??= new PasswordHasher({ cost: config.bcryptCost, poolSize: 1 })),
    async close() {
      await hasher?.close();
      await db.close();
    },
  };
}
