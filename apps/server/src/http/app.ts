import { timingSafeEqual } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import express, { type Express, type Router } from 'express';
import expressStaticGzip from 'express-static-gzip';
import { migrationsCurrent } from '../identity/database.ts';
import { docsDistDir, specsDir } from '../paths.ts';
import type { Services } from '../services.ts';
import { buildApiRouter, type Api } from './api-router.ts';
import type { RenderRefusal } from './http-server.ts';
import { InFlight } from './in-flight.ts';
import { createMetrics } from './metrics.ts';
import { requestLog } from './request-log.ts';
import { securityHeaders } from './security-headers.ts';
import { series } from './series.ts';
import { isDocsPath, isServicePath, SERVICE_PATHS } from './service-paths.ts';

export interface AppOptions {
  apis: Api[];
  /** Extra routers mounted before the APIs (e.g. auth-v3's /web pages). */
  routes?: Array<{ path: string; router: (services: Services) => Router }>;
}

// The Redoc pages (apps/docs) are self-contained: Redoc's bundle is inlined as
// a module script, styled-components injects inline styles, and Redoc runs its
// search and samples in workers started from blob: URLs. Nothing else is allowed,
// in particular nothing from another origin.
const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self' 'unsafe-inline'",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Builds the Express app: request id, log, metrics and security headers;
 * each API under its mount, longest mount first; the service routes
 * (health, metrics, specs, docs, /web) for their own paths only; and the
 * root API (mts-auth) last. No side effects (beyond the parsed-spec cache,
 * http/spec-cache.ts): the caller owns the database, the listener and the
 * process signals.
 */
export function createApp(services: Services, opts: AppOptions): Express {
  const { config } = services;
  const app = express();
  app.locals.inFlight = new InFlight();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.trustProxy === false ? false : /^\d+$/.test(config.trustProxy) ? Number(config.trustProxy) : config.trustProxy);
  app.set('query parser', 'simple');
  // Paths are case-sensitive (RFC 3986), the mounts too; the validator, which
  // routes each request to its operation, reads this setting.
  app.set('case sensitive routing', true);

  const metrics = createMetrics(opts.apis.map((a) => ({ id: a.id, mount: a.mount })));
  const strictHeaders = securityHeaders();
  const docsHeaders = securityHeaders({ contentSecurityPolicy: false }, { 'Content-Security-Policy': DOCS_CSP });
  app.use(
    series([
      requestLog(app, services.log),
      metrics.middleware,
      (req, res, next) => (isDocsPath(req.path) ? docsHeaders : strictHeaders)(req, res, next),
    ]),
  );

  // Every API but the root one comes first: their mounts are outside the
  // service paths, so their requests never walk the service routes.
  const byMount = [...opts.apis].sort((a, b) => b.mount.length - a.mount.length);
  for (const api of byMount.filter((a) => a.mount !== '/')) {
    if (isServicePath(api.mount)) throw new Error(`${api.id}: mount ${api.mount} collides with the service routes`);
    app.use(api.mount, buildApiRouter(api, services));
  }

  // The service routes, entered only for their own paths.
  const service = express.Router();
  // Liveness: the process answers. Never touches the database (a load
  // balancer must not restart a server because its database is away).
  service.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Readiness, within READY_TIMEOUT_MS whatever the database does: `select 1`
  // on a connection of its own (a full request pool cannot hold it up), and
  // once, that every migration has run (true for good once seen).
  let migrationsSeenCurrent = false;
  const readyTimeoutMs = config.readyTimeoutMs;
  service.get('/readyz', async (_req, res) => {
    const { db } = services;
    const started = Date.now();
    res.setHeader('Cache-Control', 'no-store');
    try {
      await db.ping(readyTimeoutMs);
      if (!migrationsSeenCurrent) {
        let timer: NodeJS.Timeout | undefined;
        const left = Math.max(1, readyTimeoutMs - (Date.now() - started));
        migrationsSeenCurrent = await Promise.race([
          migrationsCurrent(db.knex),
          new Promise<never>((_r, reject) => {
            timer = setTimeout(() => reject(new Error(`the database did not answer within ${readyTimeoutMs} ms`)), left);
          }),
        ]).finally(() => clearTimeout(timer));
        if (!migrationsSeenCurrent) {
          res.status(503).json({ status: 'migrations pending', database: db.kind, reason: 'the database schema is older than this server' });
          return;
        }
      }
      res.status(200).json({ status: 'ready', database: db.kind });
    } catch (err) {
      // Fixed phrases: no address, code or SQL leaves the server.
      const message = (err as Error).message ?? '';
      const reason = /did not answer within|is closed/.test(message) ? message : 'the database cannot be reached';
      res.status(503).json({ status: 'database unavailable', database: db.kind, reason });
    }
  });
  // Metrics name every API's traffic and error rates: behind METRICS_TOKEN
  // when it is set, and not served in production without it.
  const metricsToken = config.metricsToken === undefined ? undefined : Buffer.from(`Bearer ${config.metricsToken}`);
  service.get('/metrics', async (req, res) => {
    if (metricsToken === undefined && config.env === 'production') {
      res.status(404).json({ error: 'not_found', message: 'Metrics are off: set METRICS_TOKEN to serve them.' });
      return;
    }
    if (metricsToken !== undefined && !sameBytes(Buffer.from(req.get('authorization') ?? ''), metricsToken)) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="polyauth metrics"').json({ error: 'unauthorized', message: 'GET /metrics needs Authorization: Bearer <METRICS_TOKEN>.' });
      return;
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // Every spec the docs describe, served or not yet: the docs index links them all.
  const specFiles = new Set(existsSync(specsDir) ? readdirSync(specsDir).filter((f) => /^[a-z0-9][a-z0-9-]*\.yaml$/.test(f)) : []);
  service.get('/specs/:file', (req, res) => {
    const file = req.params.file;
    if (!specFiles.has(file)) {
      res.status(404).json({ error: 'not_found', message: 'There is no such spec.' });
      return;
    }
    res.type('application/yaml').sendFile(path.join(specsDir, file));
  });
  if (existsSync(docsDistDir)) {
    // The pages' .br and .gz siblings, built with them, for clients that accept them.
    service.use(
      '/docs',
      expressStaticGzip(docsDistDir, {
        enableBrotli: true,
        orderPreference: ['br', 'gzip'],
        index: 'index.html',
        serveStatic: { redirect: true, fallthrough: true },
      }),
    );
  }
  service.use('/docs', (_req, res) => {
    res
      .status(404)
      .type('text/plain')
      .send(existsSync(docsDistDir) ? 'Not found.\n' : 'The docs are not built: run `npm run build:docs`.\n');
  });

  for (const r of opts.routes ?? []) {
    if (!isServicePath(r.path)) throw new Error(`route ${r.path} is not under a service path (${SERVICE_PATHS})`);
    service.use(r.path, r.router(services));
  }
  app.use((req, res, next) => (isServicePath(req.path) ? service(req, res, next) : next()));

  // The root API (mts-auth) last: its router answers everything else.
  for (const api of byMount.filter((a) => a.mount === '/')) app.use('/', buildApiRouter(api, services));
  app.locals.renderRefusal = refusalRenderer(byMount);
  return app;
}

/** Constant-time for equal lengths; a length mismatch says only that it is wrong. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * For requests Node refuses before Express (http-server.ts): the error body
 * of the API the path belongs to, matched as the app dispatches (the other
 * APIs' mounts, then the service paths, then the root API, which also
 * answers when the path could not be read).
 */
function refusalRenderer(byMount: Api[]): RenderRefusal {
  return (path, error) => {
    const api =
      path === undefined
        ? byMount.find((a) => a.mount === '/')
        : (byMount.find((a) => a.mount !== '/' && (path === a.mount || path.startsWith(`${a.mount}/`))) ??
          (isServicePath(path) ? undefined : byMount.find((a) => a.mount === '/')));
    if (!api) return { contentType: 'text/plain; charset=utf-8', body: `${error.message}\n`, headers: [] };
    return {
      contentType: 'application/json; charset=utf-8',
      body: JSON.stringify(api.dialect.body(error)),
      headers: Object.entries(api.headers ?? {}),
    };
  };
}
