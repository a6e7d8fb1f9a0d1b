// Starts a real polyauth server on an ephemeral port over a fresh database
// cloned from the run's migrated template (see test/global-setup.ts).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { createStore, openPglite, openPostgres, type Database } from '@polyauth/store';
import { apis } from '../src/apis/index.ts';
import { loadConfig } from '../src/config.ts';
import { createApp, type AppOptions } from '../src/http/app.ts';
import { createHttpServer } from '../src/http/http-server.ts';
import { routes } from '../src/apis/routes.ts';
import { closeServices, createServices, type Services } from '../src/services.ts';

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';
/** 32 bytes, hex: every test server on one database must open the same TOTP rows. */
export const TEST_TOTP_KEY = '7e57'.repeat(16);

export interface TestServer {
  baseUrl: string;
  services: Services;
  db: Database;
  close(): Promise<void>;
}

/** A fresh, migrated database of its own: PGlite by default, Postgres with DATABASE_URL. */
export async function openTestDatabase(): Promise<Database> {
  const url = process.env.DATABASE_URL;
  if (url) {
    const template = process.env.POLYAUTH_TEST_TEMPLATE_DB;
    if (!template) throw new Error('DATABASE_URL is set but the global setup created no template database');
    const name = `polyauth_t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
    const admin = await openPostgres({ url, poolMax: 1, statementTimeoutMs: 0, lockTimeoutMs: 0 });
    await admin.knex.raw(`create database ${name} template ${template}`);
    await admin.close();
    const u = new URL(url);
    u.pathname = `/${name}`;
    const db = await openPostgres({ url: u.toString(), poolMax: 5 });
    return {
      ...db,
      close: async () => {
        await db.close();
        const again = await openPostgres({ url, poolMax: 1, statementTimeoutMs: 0, lockTimeoutMs: 0 });
        await again.knex.raw(`drop database if exists ${name} with (force)`);
        await again.close();
      },
    };
  }
  const snapshot = process.env.POLYAUTH_TEST_SNAPSHOT;
  if (!snapshot) throw new Error('no PGlite snapshot: run the tests through jest with test/global-setup.ts');
  return openPglite({ loadDataDir: new Blob([readFileSync(snapshot)]) });
}

export interface StartOptions {
  /** Serve this database instead of a fresh one; the caller keeps owning it (close() leaves it open). */
  db?: Database;
  /** The server's logger (default: pino at LOG_LEVEL, silent unless set). */
  log?: Logger;
  /** Replaces the app's APIs or extra routes. */
  app?: Partial<AppOptions>;
}

export async function startServer(env: Record<string, string> = {}, opts: StartOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'polyauth-test-'));
  const config = loadConfig({
    NODE_ENV: 'test',
    BCRYPT_COST: '4',
    BCRYPT_POOL_SIZE: '2',
    JWT_SECRET: TEST_JWT_SECRET,
    TOTP_ENCRYPTION_KEY: TEST_TOTP_KEY,
    DATA_DIR: dataDir,
    THROTTLE_REGISTRATIONS_PER_HOUR: '100000',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent',
    ...env,
  });
  const db = opts.db ?? (await openTestDatabase());
  const closeDb = opts.db ? async () => undefined : () => db.close();
  const log = opts.log ?? pino({ level: config.logLevel });
  const services = createServices(config, db, log, config.jwtSecret!);
  let app;
  try {
    app = createApp(services, { apis, routes, ...opts.app });
  } catch (err) {
    await closeServices(services);
    await closeDb();
    throw err;
  }
  const server = createHttpServer(app).listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    services,
    db,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await closeServices(services);
      await closeDb();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export { createStore };
