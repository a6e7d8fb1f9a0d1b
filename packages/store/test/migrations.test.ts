// Every migration runs both ways on an empty database: latest, down to zero,
// latest again, with the schema's objects present or absent at each step.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createStore, migrateDown, migrateLatest, migrationNames, migrationsCurrent, type Database, type Knex } from '../src/index.ts';
import { migrationSource } from '../src/migrations/index.ts';
import { onPostgres, openEmptyDatabase } from './databases.ts';

const TABLES = [
  'audit_log',
  'clients',
  'domain_memberships',
  'domains',
  'one_time_tokens',
  'throttle',
  'tokens',
  'user_identifiers',
  'users',
];
const KNEX_TABLES = ['knex_migrations', 'knex_migrations_lock'];

/** Tables, indexes, sequences, views in `public`, by name. */
async function relations(knex: Knex): Promise<string[]> {
  const { rows } = await knex.raw(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r','i','S','v','m','p') order by 1`,
  );
  return (rows as Array<{ name: string }>).map((r) => r.name);
}

async function tables(knex: Knex): Promise<string[]> {
  const { rows } = await knex.raw(
    `select table_name as name from information_schema.tables where table_schema = 'public' order by 1`,
  );
  return (rows as Array<{ name: string }>).map((r) => r.name);
}

async function constraints(knex: Knex): Promise<string[]> {
  const { rows } = await knex.raw(
    `select conname as name from pg_constraint c join pg_namespace n on n.oid = c.connamespace
      where n.nspname = 'public' order by 1`,
  );
  return (rows as Array<{ name: string }>).map((r) => r.name);
}

describe(`migrations up and down on an empty ${onPostgres ? 'Postgres' : 'PGlite'} database`, () => {
  let db: Database;
  beforeAll(async () => {
    db = await openEmptyDatabase();
  });
  afterAll(async () => {
    await db?.close();
  });

  test('every migration has an up and a down', async () => {
    expect(migrationNames.length).toBeGreaterThan(0);
    expect(await migrationSource.getMigrations([])).toEqual(migrationNames);
    for (const name of migrationNames) {
      const m = await migrationSource.getMigration(name);
      expect(typeof m.up).toBe('function');
      expect(typeof m.down).toBe('function');
    }
    expect(migrationNames).toEqual([...migrationNames].sort());
  });

  test('latest → down to zero → latest again', async () => {
    const { knex } = db;
    expect(await tables(knex)).toEqual([]);

    // up
    await migrateLatest(knex);
    expect(await tables(knex)).toEqual([...TABLES, ...KNEX_TABLES].sort());
    expect(await relations(knex)).toEqual(expect.arrayContaining(['domains_name_lower', 'users_pkey', 'tokens_token_hash_unique']));
    expect(await constraints(knex)).toEqual(expect.arrayContaining(['users_role_check', 'clients_kind_check', 'tokens_user_id_foreign']));
    expect(await migrationsCurrent(knex)).toBe(true);
    expect(await knex.migrate.currentVersion({ migrationSource })).toBe(migrationNames.at(-1)!.split('_')[0]);
    const schemaAfterFirstUp = { relations: await relations(knex), constraints: await constraints(knex) };

    // The schema works: a user, its identifiers, a token.
    const store = createStore(knex);
    const user = await store.users.create({ username: 'Migrated', email: 'migrated@example.com', passwordHash: 'x' });
    await store.tokens.insert({ api: 'mts-auth', kind: 'access', tokenHash: 'h1', userId: user.id });
    await expect(knex('users').insert({ username: 'r', password_hash: 'x', role: 'BOGUS' })).rejects.toMatchObject({ code: '23514' });

    // down to zero: nothing of ours is left, only knex's own bookkeeping
    await migrateDown(knex);
    expect(await tables(knex)).toEqual(KNEX_TABLES);
    expect((await relations(knex)).filter((r) => !r.startsWith('knex_migrations'))).toEqual([]);
    expect((await constraints(knex)).filter((c) => !c.startsWith('knex_migrations'))).toEqual([]);
    expect(Number(((await knex('knex_migrations').count({ n: '*' })) as Array<{ n: unknown }>)[0]!.n)).toBe(0);
    expect(await migrationsCurrent(knex)).toBe(false);
    expect(await knex.migrate.currentVersion({ migrationSource })).toBe('none');

    // and up again, to the very same schema, empty
    await migrateLatest(knex);
    expect(await tables(knex)).toEqual([...TABLES, ...KNEX_TABLES].sort());
    expect({ relations: await relations(knex), constraints: await constraints(knex) }).toEqual(schemaAfterFirstUp);
    expect(await migrationsCurrent(knex)).toBe(true);
    expect(await createStore(knex).users.count()).toBe(0);
    const again = await createStore(knex).users.create({ username: 'Migrated', email: 'migrated@example.com', passwordHash: 'x' });
    expect(again.username).toBe('Migrated');
  });
});
