// The server itself, loaded by main.mjs: reads the environment, opens the
// database, listens, and handles signals (the one module with side effects
// besides its entry point).
import { once } from 'node:events';
import path from 'node:path';
import pino from 'pino';
import { migrateLatest, migratePostgres, openPglite, openPostgres, type Database } from '@polyauth/store';
import { apis } from './apis/index.ts';
import { routes } from './apis/routes.ts';
import { firstRunBootstrap } from './bootstrap.ts';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { createApp } from './http/app.ts';
import { settleUrlParseDeprecation } from './http/url-parse-warning.ts';
import { createHttpServer } from './http/http-server.ts';
import { inFlightOf, trackConnections } from './http/in-flight.ts';
import { developmentJwtSecret, withDevelopmentTotpKey } from './dev-secrets.ts';
import { closeServices, createServices, startServices } from './services.ts';

let stopping = false;

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
    if (config.databaseUrl) {
      // migrations over the direct connection (DATABASE_DIRECT_URL, else DATABASE_URL)
      await migratePostgres(config.databaseDirectUrl ?? config.databaseUrl);
      db = await openPostgres({
        url: config.databaseUrl,
        directUrl: config.databaseDirectUrl,
        statementTimeoutMs: config.database.statementTimeoutMs,
        lockTimeoutMs: config.database.lockTimeoutMs,
        acquireTimeoutMs: config.requestDeadlineMs,
        log,
      });
    } else {
      db = await openPglite({ dataDir: path.resolve(config.dataDir, 'pglite') });
      await migrateLatest(db.knex);
    }
  } catch (err) {
    console.error(`polyauth: cannot open the database: ${(err as Error).message}`);
    process.exit(1);
  }

  // One line per change of the change feed's state: while it is lost the
  // caches are off and every check goes to the database.
  db.authChanges.watch((on, reason) => {
    if (stopping) return;
    if (on) log.info({ event: 'feed back', reason }, 'change feed live: token and user caches on');
    else log.warn({ event: 'feed lost', reason }, 'change feed lost: token and user caches off, every check goes to the database');
  });
  const services = createServices(config, db, log, developmentJwtSecret(config));
  try {
    await startServices(services);
  } catch (err) {
    log.fatal({ err }, 'start-up failed');
    process.exit(1);
  }
  // Process-wide, so here and not in createApp (which has no side effects).
  settleUrlParseDeprecation();
  const app = createApp(services, { apis, routes });

  // Listen before the first-run bootstrap: on a taken port nothing is created
  // (its one-time credentials would be shown and then lost).
  const server = createHttpServer(app).listen(config.port, config.host);
  const drainer = trackConnections(server);
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

  // Graceful stop (SIGTERM from a deploy, docker, systemd, a process
  // manager; SIGINT from a terminal): stop accepting, answer what was read
  // (with Connection: close), close keep-alive sockets between requests,
  // let handlers whose client hung up end, write what is written behind,
  // close the database; all within SHUTDOWN_TIMEOUT_MS.
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const started = performance.now();
    const deadline = started + config.shutdownTimeoutMs;
    // the database and the write-behind flush keep a quarter (at most 2 s) of it
    const drainBy = deadline - Math.min(2_000, config.shutdownTimeoutMs / 4);
    const hard = setTimeout(() => {
      log.error({ signal, timeoutMs: config.shutdownTimeoutMs }, 'graceful stop did not end within SHUTDOWN_TIMEOUT_MS; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    hard.unref();
    log.info({ signal, connections: drainer.connections, timeoutMs: config.shutdownTimeoutMs }, 'stopping: answering what was read, then exiting');
    const drained = await drainer.drain(drainBy);
    // Handlers whose client hung up may still be running (a login in
    // bcrypt): let them finish before the pool and the database close.
    const idle = await (inFlightOf(app)?.idle(Math.max(0, drainBy - performance.now())) ?? true);
    if (!drained || !idle) log.warn({ signal }, 'requests still open at the drain deadline were closed');
    try {
      await closeServices(services);
      await db.close();
    } catch (err) {
      log.warn({ err }, 'closing the services failed');
    }
    log.info({ signal, drainMs: Math.round(performance.now() - started), drained: drained && idle }, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

await main();
