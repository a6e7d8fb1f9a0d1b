import { mkdirSync } from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { PGlite } from '@electric-sql/pglite';
import lockfile from 'proper-lockfile';
import pg from 'pg';
import { AUTH_CHANGED_CHANNEL, AuthChanges, listenOn, startDedicatedListener } from './auth-changes.ts';
import { migrationNames, migrationSource } from './migrations/index.ts';

export interface Database {
  readonly knex: Knex;
  readonly kind: 'pglite' | 'postgres';
  /** Committed changes to token liveness, from any process (see auth-changes.ts). */
  readonly authChanges: AuthChanges;
  close(): Promise<void>;
  /** PGlite only: a snapshot of the whole database, for `loadDataDir`. */
  dump?: () => Promise<Blob>;
}

export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
}

// bigint (int8) and numeric come back as strings from pg; keep ids as strings
// everywhere (they may exceed 2^53) and let counts be normalised by callers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);

export interface PostgresOptions {
  url: string;
  poolMax?: number;
}

export async function openPostgres({ url, poolMax = 10 }: PostgresOptions): Promise<Database> {
  // Changes committed by other processes arrive on a dedicated connection,
  // started when something subscribes. Every pooled connection LISTENs too:
  // Postgres hands a session its own notifications before its COMMIT returns,
  // so a change written through this pool is heard before the write resolves.
  let listener: { stop(): Promise<void> } | undefined;
  const authChanges: AuthChanges = new AuthChanges({
    onFirstSubscribe: () => {
      listener = startDedicatedListener(authChanges, { url });
    },
    open: () => knex.client.pool !== undefined, // knex.destroy() clears it
  });
  const knex: Knex = knexFactory({
    client: 'pg',
    connection: { connectionString: url, connectionTimeoutMillis: 3000 },
    pool: {
      min: 0,
      max: poolMax,
      afterCreate: (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) =>
        listenOn(conn, authChanges, (err) => done(err, conn)),
    },
    acquireConnectionTimeout: 5000,
  });
  return {
    knex,
    kind: 'postgres',
    authChanges,
    close: async () => {
      await listener?.stop();
      await knex.destroy();
    },
  };
}

export interface PgliteOptions {
  /** Directory of the embedded database; omit for an in-memory one. */
  dataDir?: string;
  /** A `dumpDataDir()` snapshot to start from (tests clone a migrated one). */
  loadDataDir?: Blob | File;
}

/**
 * Opens the embedded PGlite database. A lock beside the data directory makes a
 * second process on the same directory fail with a clear message instead of
 * corrupting it (PGlite is single-process).
 */
export async function openPglite({ dataDir, loadDataDir }: PgliteOptions = {}): Promise<Database> {
  let release: (() => Promise<void>) | undefined;
  if (dataDir) {
    const dir = path.resolve(dataDir);
    mkdirSync(dir, { recursive: true });
    try {
      release = await lockfile.lock(dir, {
        lockfilePath: `${dir}.lock`,
        stale: 15_000,
        update: 5_000,
        onCompromised: (err) => {
          // Another process took the lock over: writing on would corrupt the data.
          console.error(`polyauth: lost the lock on ${dir}: ${err.message}; exiting`);
          process.exit(1);
        },
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
        throw new DataDirInUseError(
          `The embedded database in ${dir} is in use by another polyauth process. ` +
            'Stop that process, or point DATA_DIR at another directory, or set DATABASE_URL.',
        );
      }
      throw err;
    }
  }
  try {
    const pglite = await PGlite.create({ dataDir, loadDataDir });
    // One process, one connection: a notification is delivered before the
    // query (or COMMIT) that caused it resolves, so the feed is always live.
    const authChanges: AuthChanges = new AuthChanges({ open: () => !pglite.closed });
    await pglite.listen(AUTH_CHANGED_CHANNEL, (payload) => authChanges.emit(payload));
    authChanges.setLive(true);
    const knex = knexFactory({
      client: ClientPgLite as unknown as typeof Knex.Client,
      dialect: 'postgres',
      connection: () => ({ pglite }) as object,
    } as Knex.Config);
    return {
      knex,
      kind: 'pglite',
      authChanges,
      dump: async () => (await pglite.dumpDataDir('none')) as Blob,
      close: async () => {
        await knex.destroy(); // knex-pglite closes the PGlite instance with its pool
        if (!pglite.closed) await pglite.close();
        await release?.();
      },
    };
  } catch (err) {
    await release?.();
    throw err;
  }
}

export async function migrateLatest(knex: Knex): Promise<void> {
  await knex.migrate.latest({ migrationSource });
}

export async function migrateDown(knex: Knex): Promise<void> {
  await knex.migrate.rollback({ migrationSource }, true);
}

/** True when every known migration has run (used by /readyz). */
export async function migrationsCurrent(knex: Knex): Promise<boolean> {
  const [, pending] = (await knex.migrate.list({ migrationSource })) as [unknown[], unknown[]];
  return pending.length === 0;
}

export { migrationNames };
