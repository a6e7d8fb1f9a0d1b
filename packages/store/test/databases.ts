// Databases for the store's own tests: a migrated clone of the run's template
// (as the server tests use), or an EMPTY one for the migration tests.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openPglite, openPostgres, type Database } from '../src/index.ts';

export const onPostgres = Boolean(process.env.DATABASE_URL);

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A new Postgres database (empty, or a copy of `template`), dropped on close. */
async function freshPostgres(url: string, template?: string): Promise<Database> {
  const name = `polyauth_s_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = await openPostgres({ url, poolMax: 1, statementTimeoutMs: 0, lockTimeoutMs: 0 });
  try {
    await admin.knex.raw(`create database ${name}${template ? ` template ${template}` : ''}`);
  } finally {
    await admin.close();
  }
  const db = await openPostgres({ url: withDatabase(url, name), poolMax: 5 });
  return {
    ...db,
    close: async () => {
      await db.close();
      const again = await openPostgres({ url, poolMax: 1, statementTimeoutMs: 0, lockTimeoutMs: 0 });
      try {
        await again.knex.raw(`drop database if exists ${name} with (force)`);
      } finally {
        await again.close();
      }
    },
  };
}

/** A database of its own with every migration applied. */
export async function openMigratedDatabase(): Promise<Database> {
  const url = process.env.DATABASE_URL;
  if (url) {
    const template = process.env.POLYAUTH_TEST_TEMPLATE_DB;
    if (!template) throw new Error('DATABASE_URL is set but the global setup created no template database');
    return freshPostgres(url, template);
  }
  const snapshot = process.env.POLYAUTH_TEST_SNAPSHOT;
  if (!snapshot) throw new Error('no PGlite snapshot: run the tests through jest with test/global-setup.ts');
  return openPglite({ loadDataDir: new Blob([readFileSync(snapshot)]) });
}

/** A database with nothing in it, not even knex's migration tables. */
export async function openEmptyDatabase(): Promise<Database> {
  const url = process.env.DATABASE_URL;
  if (url) return freshPostgres(url);
  const dir = mkdtempSync(path.join(tmpdir(), 'polyauth-store-empty-'));
  const db = await openPglite({ dataDir: path.join(dir, 'pglite') });
  return {
    ...db,
    close: async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
