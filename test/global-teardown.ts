import { rmSync } from 'node:fs';
import { openPostgres } from '../packages/store/src/index.ts';

export default async function globalTeardown(): Promise<void> {
  const snapshot = process.env.POLYAUTH_TEST_SNAPSHOT;
  if (snapshot) rmSync(snapshot, { force: true });
  const template = process.env.POLYAUTH_TEST_TEMPLATE_DB;
  const url = process.env.DATABASE_URL;
  if (template && url) {
    const admin = await openPostgres({ url, poolMax: 1, statementTimeoutMs: 0, lockTimeoutMs: 0 });
    await admin.knex.raw(`drop database if exists ${template}`);
    await admin.close();
  }
}
