import { mkdirSync } from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { AUTH_CHANGED_CHANNEL, AuthChanges, startDedicatedListener, syncAfterWrites } from './auth-changes.ts';
import { lockDataDir } from './data-dir-lock.ts';
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
  /**
   * A direct, session-mode connection (not through a transaction pooler)
   * for the change feed's LISTEN; defaults to `url`.
   */
  directUrl?: string;
  poolMax?: number;
}

export async function openPostgres({ url, directUrl = url, poolMax = 10 }: PostgresOptions): Promise<Database> {
  // Changes committed by any process arrive on one dedicated connection to
  // directUrl, started when something subscribes, live only while a NOTIFY
  // sent through the pool is heard there (auth-changes.ts). Pooled
  // connections keep no session state (no LISTEN, no SET, no named
  // prepared statement), so `url` may be a transaction pooler: a write's
  // result is held back until the listener has heard everything committed
  // before it (syncAfterWrites), so this process's caches know of its own
  // changes before the caller does.
  let listener: { stop(): Promise<void> } | undefined;
  const authChanges: AuthChanges = new AuthChanges({
    onFirstSubscribe: () => {
      listener = startDedicatedListener(authChanges, {
        url: directUrl,
        probe: (channel, payload) => knex.raw('select pg_notify(?, ?)', [channel, payload]),
      });
    },
    open: () => knex.client.pool !== undefined, // knex.destroy() clears it
  });
  const knex: Knex = knexFactory({
    client: 'pg',
    connection: { connectionString: url, connectionTimeoutMillis: 3000 },
    pool: {
      min: 0,
      max: poolMax,
      afterCreate: (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) => {
        syncAfterWrites(conn, authChanges);
        done(null, conn);
      },
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

/**
 * Runs the pending migrations over one connection to `url` (give the direct,
 * session-mode one: DDL and the migration lock do not belong in a
 * transaction pooler), then closes it.
 */
export async function migratePostgres(url: string): Promise<void> {
  const knex = knexFactory({ client: 'pg', connection: { connectionString: url, connectionTimeoutMillis: 3000 }, pool: { min: 0, max: 1 } });
  try {
    await migrateLatest(knex);
  } finally {
    await knex.destroy();
  }
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
 * corrupting it (PGlite is single-process); a lock left by a dead process is
 * recognised at once (data-dir-lock.ts).
 */
export async function openPglite({ dataDir, loadDataDir }: PgliteOptions = {}): Promise<Database> {
  let release: (() => Promise<void>) | undefined;
  if (dataDir) {
    const dir = path.resolve(dataDir);
    mkdirSync(dir, { recursive: true });
    const lock = lockDataDir(dir);
    if (!lock) {
      throw new DataDirInUseError(
        `The embedded database in ${dir} is in use by another polyauth process. ` +
          'Stop that process, or point DATA_DIR at another directory, or set DATABASE_URL.',
      );
    }
    release = async () => lock.release();
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
