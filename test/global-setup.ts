// Prepares one migrated database for the whole run; every test file then
// clones it (PGlite: from a dumped snapshot; Postgres: CREATE DATABASE ... TEMPLATE),
// which is far faster than migrating afresh each time.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { migrateLatest, openPglite, openPostgres } from '../packages/store/src/index.ts';

export default async function globalSetup(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (url) {
    const template = `polyauth_tpl_${process.pid}_${Date.now()}`;
    const admin = await openPostgres({ url, poolMax: 1, statementTimeoutMs: 0, lockTimeoutMs: 0 });
    try {
      await admin.knex.raw(`create database ${template}`);
    } catch (err) {
      throw new Error(`DATABASE_URL is set but Postgres at it cannot be used: ${(err as Error).message}`);
    } finally {
      await admin.close();
    }
    const db = await openPostgres({ url: withDatabase(url, template), poolMax: 1, statementTimeoutMs: 0, lockTimeoutMs: 0 });
    await migrateLatest(db.knex);
    await db.close();
    process.env.POLYAUTH_TEST_TEMPLATE_DB = template;
    console.log(`\n[polyauth] tests run on Postgres (template database ${template})`);
    return;
  }
  const db = await openPglite();
  await migrateLatest(db.knex);
  const blob = await db.dump!();
  const file = path.join(tmpdir(), `polyauth-pglite-${process.pid}-${Date.now()}.tar`);
  writeFileSync(file, Buffer.from(await blob.arrayBuffer()));
  await db.close();
  process.env.POLYAUTH_TEST_SNAPSHOT = file;
  console.log('\n[polyauth] tests run on embedded PGlite (set DATABASE_URL to run them on Postgres)');
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
