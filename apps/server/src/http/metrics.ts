import type { RequestHandler } from 'express';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isServicePath } from './service-paths.ts';

/** A Prometheus registry per app (no global state, so tests can build many). */
export function createMetrics(mounts: Array<{ id: string; mount: string }>) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'polyauth_http_requests_total',
    help: 'HTTP requests by API, method and status',
    labelNames: ['api', 'method', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'polyauth_http_request_duration_seconds',
    help: 'HTTP request duration by API',
    labelNames: ['api'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const ordered = [...mounts].sort((a, b) => b.mount.length - a.mount.length);
  const apiOf = (url: string) =>
    ordered.find((m) => m.mount === '/' || url === m.mount || url.startsWith(`${m.mount}/`))?.id ?? 'other';

  const middleware: RequestHandler = (req, res, next) => {
    const end = duration.startTimer();
    res.on('finish', () => {
      const path = req.originalUrl.split('?')[0] ?? '/';
      const api = isServicePath(path) ? 'service' : apiOf(path);
      requests.inc({ api, method: req.method, status: String(res.statusCode) });
      end({ api });
    });
    next();
  };
  return { registry, middleware };
}
