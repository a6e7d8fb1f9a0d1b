import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import express, { type Express, type Router } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import { migrationsCurrent } from '@polyauth/store';
import { docsDistDir, specsDir } from '../paths.ts';
import type { Services } from '../services.ts';
import { buildApiRouter, type ApiDefinition } from './api-router.ts';
import { InFlight } from './in-flight.ts';
import { redactUrl } from './log-redact.ts';
import { createMetrics } from './metrics.ts';
import { settleUrlParseDeprecation } from './url-parse-warning.ts';
import { randomUUID } from 'node:crypto';

export interface AppOptions {
  apis: ApiDefinition<never>[];
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
 * Builds the Express app: service routes, docs, then each API under its mount,
 * longest mount first and the root API (mts-auth) last. No side effects: the
 * caller owns the database, the listener and the process signals.
 */
export function createApp(services: Services, opts: AppOptions): Express {
  const { config } = services;
  settleUrlParseDeprecation();
  const app = express();
  app.locals.inFlight = new InFlight();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.trustProxy === false ? false : /^\d+$/.test(config.trustProxy) ? Number(config.trustProxy) : config.trustProxy);
  app.set('query parser', 'simple');

  app.use(
    pinoHttp({
      logger: services.log,
      genReqId: (req, res) => {
        const incoming = req.headers['x-request-id'];
        const id = typeof incoming === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      // Only what helps to follow a request: no headers (cookies, credentials),
      // and secrets in URLs masked.
      serializers: {
        req: (req: { id: unknown; method: string; url: string; remoteAddress?: string }) => ({
          id: req.id,
          method: req.method,
          url: redactUrl(req.url),
          remoteAddress: req.remoteAddress,
        }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
    }),
  );
  const metrics = createMetrics(opts.apis.map((a) => ({ id: a.id, mount: a.mount })));
  app.use(metrics.middleware);

  const strictHelmet = helmet();
  const docsHelmet = helmet({ contentSecurityPolicy: false });
  app.use((req, res, next) => {
    if (req.path.startsWith('/docs')) {
      docsHelmet(req, res, () => {
        res.setHeader('Content-Security-Policy', DOCS_CSP);
        next();
      });
    } else {
      strictHelmet(req, res, next);
    }
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await services.db.knex.raw('select 1');
      const current = await migrationsCurrent(services.db.knex);
      res.status(current ? 200 : 503).json({ status: current ? 'ready' : 'migrations pending', database: services.db.kind });
    } catch {
      res.status(503).json({ status: 'database unavailable', database: services.db.kind });
    }
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // Every spec the docs describe, served or not yet: the docs index links them all.
  const specFiles = new Set(existsSync(specsDir) ? readdirSync(specsDir).filter((f) => /^[a-z0-9][a-z0-9-]*\.yaml$/.test(f)) : []);
  app.get('/specs/:file', (req, res) => {
    const file = req.params.file;
    if (!specFiles.has(file)) {
      res.status(404).json({ error: 'not_found', message: 'There is no such spec.' });
      return;
    }
    res.type('application/yaml').sendFile(path.join(specsDir, file));
  });
  if (existsSync(docsDistDir)) {
    app.use('/docs', express.static(docsDistDir, { index: 'index.html', redirect: true, fallthrough: true }));
  }
  app.use('/docs', (_req, res) => {
    res
      .status(404)
      .type('text/plain')
      .send(existsSync(docsDistDir) ? 'Not found.\n' : 'The docs are not built: run `npm run build:docs`.\n');
  });

  for (const r of opts.routes ?? []) app.use(r.path, r.router(services));

  const byMount = [...opts.apis].sort((a, b) => b.mount.length - a.mount.length);
  for (const api of byMount) {
    app.use(api.mount, buildApiRouter(api, services));
  }
  return app;
}
