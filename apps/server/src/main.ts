// The only module with side effects: reads the environment, opens the
// database, listens, and handles signals.
import { once } from 'node:events';
import path from 'node:path';
import pino from 'pino';
import { migrateLatest, openPglite, openPostgres, type Database } from '@polyauth/store';
import { apis } from './apis/index.ts';
import { routes } from './apis/routes.ts';
import { firstRunBootstrap } from './bootstrap.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createApp } from './http/app.ts';
import { createHttpServer } from './http/http-server.ts';
import { inFlightOf } from './http/in-flight.ts';
import { developmentJwtSecret, withDevelopmentTotpKey } from './dev-secrets.ts';
import { closeServices, createServices, startServices } from './services.ts';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  console.error(`polyauth needs Node.js 24 or newer; this is ${process.version}. Start it with \`npm start\`.`);
  process.exit(1);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = withDevelopmentTotpKey(loadConfig());
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const pretty = process.stdout.isTTY && config.env !== 'production';
  const log = pino({
    level: config.logLevel,
    transport: pretty ? { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } : undefined,
  });

  let db: Database;
  try {
    db = config.databaseUrl
      ? await openPostgres({
          url: config.databaseUrl,
          statementTimeoutMs: config.database.statementTimeoutMs,
          lockTimeoutMs: config.database.lockTimeoutMs,
          acquireTimeoutMs: config.requestDeadlineMs,
          log,
        })
      : await openPglite({ dataDir: path.resolve(config.dataDir, 'pglite') });
    await migrateLatest(db.knex);
  } catch (err) {
    console.error(`polyauth: cannot open the database: ${(err as Error).message}`);
    process.exit(1);
  }

  const services = createServices(config, db, log, developmentJwtSecret(config));
  try {
    await startServices(services);
  } catch (err) {
    log.fatal({ err }, 'start-up failed');
    process.exit(1);
  }
  const app = createApp(services, { apis, routes });

  // Listen before the first-run bootstrap: on a taken port nothing is created
  // (its one-time credentials would be shown and then lost).
  const server = createHttpServer(app).listen(config.port, config.host);
  try {
    await once(server, 'listening');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? 'the address is already in use (another polyauth, or set PORT/HOST)' : e.code === 'EACCES' ? 'permission denied' : e.message;
    console.error(`polyauth: cannot listen on ${config.host}:${config.port}: ${why}`);
    await closeServices(services);
    await db.close();
    process.exit(1);
  }
  server.on('error', (err) => log.error({ err }, 'server error'));
  await firstRunBootstrap(services, (text) => process.stdout.write(`${text}\n`));
  log.info({ url: config.publicUrl, database: db.kind, apis: apis.map((a) => `${a.id} ${a.mount}`) }, 'polyauth is listening');
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing in-flight requests');
    const force = setTimeout(() => {
      log.warn('in-flight requests did not finish in 10 s; closing them');
      server.closeAllConnections();
    }, 10_000);
    force.unref();
    server.close(async () => {
      // Handlers whose client hung up may still be running (a login in
      // bcrypt): let them finish before the pool and the database close.
      if (!(await (inFlightOf(app)?.idle(10_000) ?? true))) {
        log.warn('handlers still running after 10 s; closing anyway');
      }
      await closeServices(services);
      await db.close();
      log.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

await main();
