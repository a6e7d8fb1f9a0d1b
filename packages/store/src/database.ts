import { mkdirSync } from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { AUTH_CHANGED_CHANNEL, AuthChanges, startDedicatedListener, syncAfterWrites } from './auth-changes.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { pgTypes } from './pg-types.ts';
import { ConnectTimeouts } from './connect-timeouts.ts';
import { pgliteStartParams } from './pglite-params.ts';
import { enforceBudgets } from './deadline.ts';
import { migrationNames, migrationSource } from './migrations/index.ts';

export interface Database {
  readonly knex: Knex;
  readonly kind: 'pglite' | 'postgres';
  /** Committed changes to token liveness, from any process (see auth-changes.ts). */
  readonly authChanges: AuthChanges;
  close(): Promise<void>;
  /** PGlite only: a snapshot of the whole database, for `loadDataDir`. */
  dump?: () => Promise<Blob>;
  /**
   * Readiness: resolves when the database answers `select 1` within
   * `timeoutMs`, else rejects with the reason. Runs on a connection of its
   * own (Postgres), so a full request pool cannot hold it up.
   */
  ping(timeoutMs: number): Promise<void>;
}

/** Where the database layer logs (a pino logger fits). */
export interface DatabaseLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

const quiet: DatabaseLog = { info: () => undefined, warn: () => undefined, debug: () => undefined };

export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
}

export interface PostgresOptions {
  url: string;
  /**
   * A direct, session-mode connection (not through a transaction pooler)
   * for the change feed's LISTEN; defaults to `url`. Given apart from `url`,
   * `url` is taken for a transaction pooler: polyauth then sets no session
   * state on its pooled connections (see `pooledTimeoutsAdvice`).
   */
  directUrl?: string;
  poolMax?: number;
  /** Server-side bound of every statement, ms (Postgres statement_timeout); 0 = none. */
  statementTimeoutMs?: number;
  /** Longest wait for a lock, ms (Postgres lock_timeout); 0 = none. */
  lockTimeoutMs?: number;
  /** Longest wait for a pooled connection outside a request's deadline, ms. */
  acquireTimeoutMs?: number;
  /**
   * Longest wait for a new connection to be set up, ms. While the database
   * is known to be down, only one attempt at a time waits this long; the
   * others give up sooner (see connect-timeouts.ts).
   */
  connectTimeoutMs?: number;
  log?: DatabaseLog;
}

export const DEFAULT_STATEMENT_TIMEOUT_MS = 5_000;
export const DEFAULT_LOCK_TIMEOUT_MS = 2_000;

/**
 * Errors that mean "the connection to the database is gone or cannot be
 * made": the socket's, the server shutting down or refusing (57P0x, 53300),
 * and SQLSTATE class 08 (connection exception), which is also how pgbouncer
 * answers when it cannot reach its server ("server login has been failing",
 * "database removed", "pgbouncer cannot connect to server": 08P01). And
 * 25006 (read-only transaction): during a failover a proxy may route a new
 * connection to the standby while it is being promoted, whose writes fail
 * until it is the primary; that is the database being away (503), not a
 * fault of the request.
 */
const CONNECTION_CODES = new Set(['25006', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE', '57P01', '57P02', '57P03', '53300']);
export function isConnectionError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  if (!e) return false;
  if (e.code && (CONNECTION_CODES.has(e.code) || /^08[0-9A-Z]{3}$/.test(e.code))) return true;
  return /Connection terminated|connection timeout|timeout expired|Client has encountered a connection error|is not currently accepting connections|Query read timeout/i.test(e.message ?? '');
}

/** Why a connection attempt or statement failed, in a few words (no stack, no SQL). */
export function reasonOf(err: unknown): string {
  const e = err as { code?: string; message?: string } | null;
  // knex prefixes a failed statement's message with the statement: keep the cause only.
  const msg = (e?.message ?? String(err)).split('\n')[0]!.split(' - ').pop()!.slice(0, 200);
  return e?.code && !msg.includes(e.code) ? `${e.code}: ${msg}` : msg;
}

/**
 * One log line per change of the database's state: `lost` (a connection
 * attempt, a readiness probe or a statement failed for want of the database)
 * and `back` (a success with no failure for a second), never one per failed
 * request or retry; during a failover, when attempts succeed and fail in
 * turn, it stays lost until they stop failing.
 */
class DatabaseState {
  #down: { since: number } | undefined;
  #lastFailure = 0;
  readonly #log: DatabaseLog;
  readonly #onBack: (() => void) | undefined;
  readonly #onLost: (() => void) | undefined;
  constructor(log: DatabaseLog, onBack?: () => void, onLost?: () => void) {
    this.#log = log;
    this.#onBack = onBack;
    this.#onLost = onLost;
  }
  /** Lost, and not back yet. */
  get down(): boolean {
    return this.#down !== undefined;
  }
  lost(err: unknown): void {
    this.#lastFailure = Date.now();
    if (this.#down) return;
    this.#down = { since: this.#lastFailure };
    this.#log.warn({ database: 'lost', reason: reasonOf(err) }, 'database lost');
    this.#onLost?.();
  }
  back(): void {
    if (!this.#down || Date.now() - this.#lastFailure < 1000) return;
    const downMs = Date.now() - this.#down.since;
    this.#down = undefined;
    this.#log.info({ database: 'back', downMs }, 'database back');
    this.#onBack?.();
  }
}

/**
 * knex writes "Acquire connection error" with a stack to the console on
 * every failed wait for a connection: sent to the log at debug instead (the
 * state change is logged once, the request's failure once, by the server).
 */
function knexLog(log: DatabaseLog): Knex.Config['log'] {
  const line = (level: 'debug' | 'warn') => (message: unknown) => {
    const text = String(message instanceof Error ? message.message : message).split('\n')[0]!;
    log[level]({ component: 'knex' }, text);
  };
  return { warn: line('debug'), error: line('warn'), deprecate: line('debug'), debug: line('debug') };
}

/** A dedicated connection for readiness, outside the pool. */
function readinessProbe(url: string, settings: { statementTimeoutMs: () => number }) {
  let client: Promise<pg.Client> | undefined;
  const drop = (c: Promise<pg.Client> | undefined) => {
    if (!c || c !== client) return;
    client = undefined;
    c.then(
      (conn) => {
        conn.on('error', () => undefined);
        (conn as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
        conn.end().catch(() => undefined);
      },
      () => undefined,
    );
  };
  const open = (timeoutMs: number): Promise<pg.Client> => {
    const conn = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: timeoutMs,
      application_name: 'polyauth-readiness',
      keepAlive: true,
      types: pgTypes,
    });
    const p = conn.connect().then(async () => {
      const ms = settings.statementTimeoutMs();
      if (ms > 0) await conn.query(`set statement_timeout = ${ms}`);
      return conn;
    });
    conn.on('error', () => drop(p));
    conn.on('end', () => drop(p));
    return p;
  };
  const once = async (timeoutMs: number): Promise<boolean> => {
    const reused = client !== undefined;
    const c = (client ??= open(timeoutMs));
    try {
      await (await c).query('select 1');
      return true;
    } catch (err) {
      drop(c);
      if (reused) return false; // a connection from before an outage: try a fresh one
      throw err;
    }
  };
  let running: Promise<void> | undefined;
  const pingOnce = async (timeoutMs: number): Promise<void> => {
      const started = Date.now();
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          drop(client); // a hung connection is not reused
          reject(new Error(`the database did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
      });
      try {
        await Promise.race([
          (async () => {
            if (!(await once(timeoutMs))) await once(Math.max(1, timeoutMs - (Date.now() - started)));
          })(),
          late,
        ]);
      } finally {
        clearTimeout(timer);
      }
  };
  return {
    /** Concurrent probes share one round trip (one statement at a time on the connection). */
    ping(timeoutMs: number): Promise<void> {
      running ??= pingOnce(timeoutMs).finally(() => {
        running = undefined;
      });
      return running;
    },
    close(): Promise<void> {
      const c = client;
      client = undefined;
      return c ? c.then((conn) => conn.end(), () => undefined).catch(() => undefined) : Promise.resolve();
    },
  };
}

export async function openPostgres({
  url,
  directUrl = url,
  poolMax = 10,
  statementTimeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS,
  lockTimeoutMs = DEFAULT_LOCK_TIMEOUT_MS,
  acquireTimeoutMs = 5000,
  connectTimeoutMs = 3000,
  log = quiet,
}: PostgresOptions): Promise<Database> {
  // Changes committed by any process arrive on one dedicated connection to
  // directUrl, started when something subscribes, live only while a NOTIFY
  // sent through the pool is heard there (auth-changes.ts). Pooled
  // connections hold no LISTEN and no named prepared statement, so `url` may
  // be a transaction pooler: a write's result is held back until the
  // listener has heard everything committed before it (syncAfterWrites), so
  // this process's caches know of its own changes before the caller does.
  let listener: { stop(): Promise<void>; databaseBack(): void } | undefined;
  const authChanges: AuthChanges = new AuthChanges({
    onFirstSubscribe: () => {
      listener = startDedicatedListener(authChanges, {
        url: directUrl,
        probe: (channel, payload) => knex.raw('select pg_notify(?, ?)', [channel, payload]),
        // a pooler after all: no more session settings on new pooled connections
        onDeaf: () => (settingsOff = true),
        deafHint:
          directUrl === url
            ? 'if DATABASE_URL is a transaction pooler such as pgbouncer in transaction mode, set DATABASE_DIRECT_URL to a direct connection; until then the caches stay off'
            : 'DATABASE_DIRECT_URL must be a direct, session-mode connection, not a transaction pooler',
      });
    },
    open: () => knex.client.pool !== undefined, // knex.destroy() clears it
  });
  // Timeouts are SET on each new connection rather than sent as startup
  // parameters, which a pooler such as pgbouncer refuses. Behind a
  // transaction pooler (a directUrl apart from url) a SET would land on
  // whichever server connection served it and stay there for its next
  // clients: then nothing is SET, and the timeouts belong to the role in the
  // database, where every server connection the pooler opens gets them
  // (pooledTimeoutsAdvice says so at start when they are missing).
  const pooled = directUrl !== url;
  // set once the change feed finds DATABASE_URL to be a transaction pooler
  // though no DATABASE_DIRECT_URL said so (the feed's onDeaf, below)
  let settingsOff = false;
  const sessionSettings = pooled
    ? ''
    : [
        statementTimeoutMs > 0 ? `set statement_timeout = ${Math.floor(statementTimeoutMs)}` : '',
        lockTimeoutMs > 0 ? `set lock_timeout = ${Math.floor(lockTimeoutMs)}` : '',
      ]
        .filter(Boolean)
        .join('; ');
  if (pooled) {
    // In the background (the database may not be up yet, which start-up
    // handles), tried a few times: a start on a busy machine can outlast a
    // connection attempt. One line either way.
    void (async () => {
      let failure = '';
      for (let attempt = 0; attempt < 3; attempt += 1) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, 5_000).unref());
        try {
          const advice = await pooledTimeoutsAdvice(directUrl, { statementTimeoutMs, lockTimeoutMs }, connectTimeoutMs);
          if (advice) log.warn({ database: 'pooled' }, advice);
          return;
        } catch (err) {
          failure = reasonOf(err);
        }
      }
      log.warn(
        { database: 'pooled', reason: failure },
        'DATABASE_URL goes through a pooler, so polyauth sets no session state on its pooled connections; the role\'s own statement and lock timeouts could not be read over DATABASE_DIRECT_URL: make sure they are set (ALTER ROLE … IN DATABASE … SET statement_timeout, lock_timeout)',
      );
    })();
  }
  // each new pooled connection's connect timeout (see below)
  const timeouts = new ConnectTimeouts(connectTimeoutMs);
  const state = new DatabaseState(
    log,
    // back from an outage: the change feed reconnects now, not at the end of its backoff
    () => listener?.databaseBack(),
    // lost: set-up times from before no longer tell how slow the database is
    () => timeouts.lost(),
  );
  const connection = {
    connectionString: url,
    keepAlive: true,
    types: pgTypes,
    // A backstop for a database that stops answering without closing the
    // connection (the server-side timeouts cannot fire then).
    ...(statementTimeoutMs > 0 ? { query_timeout: statementTimeoutMs + 2000 } : {}),
  };
  // Each new pooled connection's connect timeout is decided when the pool
  // requests it (its 'createRequest' event, below): the full one, or a
  // shorter one while the database is known to be down (connect-timeouts.ts).
  // knex asks this provider for the settings of a new connection whenever
  // the previous settings' expirationChecker says they expired, which is
  // exactly when a decision is waiting: at the start of that connection's
  // creation, right after the event. (knex also asks the checker when it
  // hands out a pooled connection, and drops the connection if it says
  // "expired": it never does then, a decision being taken at once.)
  let decided: number | undefined;
  const expirationChecker = () => decided !== undefined;
  const knex: Knex = knexFactory({
    client: 'pg',
    connection: async () => {
      const connectionTimeoutMillis = decided ?? connectTimeoutMs;
      decided = undefined;
      return { ...connection, connectionTimeoutMillis, expirationChecker };
    },
    pool: {
      min: 0,
      max: poolMax,
      // A failed connection attempt fails no request: the pool retries it
      // (every createRetryIntervalMillis) for whoever is waiting, and each
      // wait ends by itself at its deadline. With knex's default (true) the
      // error was handed to whichever request happened to be waiting, even
      // after the database was back.
      propagateCreateError: false,
      createRetryIntervalMillis: 100,
      // the pool's own bound of an attempt: the full timeout (a shorter
      // one, while the database is down, is the driver's)
      createTimeoutMillis: connectTimeoutMs,
      afterCreate: (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) => {
        // A pooled connection that dies idle (the server gone, the primary's
        // postmaster killed) says the database is down as a failed statement
        // would: the attempts that replace it get the outage's connect
        // timeouts from the start (connect-timeouts.ts). Its first error
        // only: a server that closes an idle session on purpose (57P05)
        // sends its reason first, then pg reports the close.
        conn.once('error', (err) => {
          if (isConnectionError(err)) state.lost(err);
        });
        const ready = () => {
          syncAfterWrites(conn, authChanges);
          done(null, conn);
        };
        if (!sessionSettings || settingsOff) return ready();
        conn.query(sessionSettings).then(ready, (err: Error) => done(err, conn));
      },
    },
    acquireConnectionTimeout: acquireTimeoutMs,
    log: knexLog(log),
  });
  const pool = (knex.client as { pool?: { on(event: string, fn: (...args: unknown[]) => void): void; used?: Array<{ resource: unknown }> } }).pool;
  pool?.on('createRequest', (id) => (decided = timeouts.start(id, state.down)));
  pool?.on('createFail', (id, err) => {
    timeouts.end(id, false);
    state.lost(err);
  });
  pool?.on('createSuccess', (id) => {
    timeouts.end(id, true);
    state.back();
  });
  knex.on('query-response', () => state.back());
  knex.on('query-error', (err: unknown, q: { __knexUid?: string }) => {
    if (!isConnectionError(err)) return;
    state.lost(err);
    // A statement that got no answer in time leaves its connection busy, and
    // one on a read-only server stays there: close it, so the pool drops it
    // (a new connection goes wherever the proxy routes now).
    if (/Query read timeout/.test((err as Error).message) || (err as { code?: string }).code === '25006') {
      const held = pool?.used?.find((r) => (r.resource as { __knexUid?: string }).__knexUid === q.__knexUid)?.resource as
        | { __knex__disposed?: unknown; connection?: { stream?: { destroy(): void } } }
        | undefined;
      if (held) {
        held.__knex__disposed = err;
        held.connection?.stream?.destroy();
      }
    }
  });
  enforceBudgets(knex);
  const probe = readinessProbe(url, { statementTimeoutMs: () => (pooled || settingsOff ? 0 : statementTimeoutMs) });
  return {
    knex,
    kind: 'postgres',
    authChanges,
    ping: async (timeoutMs) => {
      if (!(knex.client as { pool?: unknown }).pool) throw new Error('the database is closed');
      try {
        await probe.ping(timeoutMs);
        state.back();
      } catch (err) {
        state.lost(err);
        throw err;
      }
    },
    close: async () => {
      await probe.close();
      await listener?.stop();
      await knex.destroy();
    },
  };
}

/**
 * Behind a transaction pooler polyauth's connections carry no session
 * settings, so its statement and lock timeouts must be the role's defaults
 * in its database. Read over the direct connection (a fresh session shows
 * exactly those defaults): undefined when they are at least as strict as
 * configured, else one sentence with the statements that set them.
 */
export async function pooledTimeoutsAdvice(
  directUrl: string,
  want: { statementTimeoutMs: number; lockTimeoutMs: number },
  connectTimeoutMs = 3000,
): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: directUrl, connectionTimeoutMillis: connectTimeoutMs, types: pgTypes, application_name: 'polyauth-settings' });
  c.on('error', () => undefined);
  await c.connect();
  try {
    const { rows } = await c.query<{ name: string; setting: string; role: string; db: string }>(
      `select name, setting, current_user as role, current_database() as db from pg_settings where name in ('statement_timeout', 'lock_timeout')`,
    );
    const missing: string[] = [];
    for (const [name, wantMs] of [
      ['statement_timeout', want.statementTimeoutMs],
      ['lock_timeout', want.lockTimeoutMs],
    ] as const) {
      const have = Number(rows.find((r) => r.name === name)?.setting ?? 0); // ms; 0 = none
      if (wantMs > 0 && (have === 0 || have > wantMs)) missing.push(`${name} = ${Math.floor(wantMs)}`);
    }
    if (missing.length === 0) return undefined;
    const ident = (v: string) => `"${v.replace(/"/g, '""')}"`;
    const { role, db } = rows[0]!;
    return (
      'DATABASE_URL goes through a pooler (DATABASE_DIRECT_URL is apart from it), so polyauth sets no session state on its pooled connections, ' +
      `and this role has no timeouts of its own there: ${missing
        .map((m) => `ALTER ROLE ${ident(role)} IN DATABASE ${ident(db)} SET ${m};`)
        .join(' ')} (run as its owner or a superuser; the pooler's new server connections get them)`
    );
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Runs the pending migrations over one connection to `url` (give the direct,
 * session-mode one: DDL and the migration lock do not belong in a
 * transaction pooler), then closes it.
 */
export async function migratePostgres(url: string, log: DatabaseLog = quiet): Promise<void> {
  // knex's own logger would print a connection failure's stack on stdout;
  // the failure itself is thrown, and the caller says it in one line
  const knex = knexFactory({ client: 'pg', connection: { connectionString: url, connectionTimeoutMillis: 3000, types: pgTypes }, pool: { min: 0, max: 1 }, log: knexLog(log) });
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
 * recognised at once (data-dir-lock.ts). PGlite and its knex client are
 * loaded here, on the first open, not with the store: a server on Postgres
 * never loads them (1 MB of module source, and their start-up work).
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
    const [{ PGlite }, { default: ClientPgLite }] = await Promise.all([import('@electric-sql/pglite'), import('knex-pglite')]);
    const pglite = await PGlite.create({ dataDir, loadDataDir, startParams: pgliteStartParams(PGlite) });
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
    enforceBudgets(knex);
    return {
      knex,
      kind: 'pglite',
      authChanges,
      // One connection in-process: no network to lose, no other session to
      // hold a lock; a long statement can still hold the one connection.
      ping: async (timeoutMs) => {
        if (pglite.closed || !(knex.client as { pool?: unknown }).pool) throw new Error('the database is closed');
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            knex.raw('select 1'),
            new Promise<never>((_r, reject) => {
              timer = setTimeout(() => reject(new Error(`the database did not answer within ${timeoutMs} ms`)), timeoutMs);
            }),
          ]);
        } finally {
          clearTimeout(timer);
        }
      },
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
