import type { RequestHandler } from 'express';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isServicePath } from './service-paths.ts';

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * A Prometheus registry per app (no global state, so tests can build many):
 * the process's default metrics, requests by API, method and status, and
 * their duration by API.
 *
 * The request count is kept in a plain map, one entry per (api, method,
 * status), and handed to prom-client when /metrics is read (the counter's
 * `collect`): prom-client's `inc` hashes the label set on every call, which
 * cost a cheap route more than all of its token check. The histogram is
 * prom-client's, observed with one label object per API made at start-up.
 * Node's parser accepts only the methods it knows, so the map stays small.
 */
export function createMetrics(mounts: Array<{ id: string; mount: string }>) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const counts = new Map<string, { labels: { api: string; method: string; status: string }; n: number }>();
  new Counter({
    name: 'polyauth_http_requests_total',
    help: 'HTTP requests by API, method and status',
    labelNames: ['api', 'method', 'status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, n } of counts.values()) this.inc(labels, n);
    },
  });
  const duration = new Histogram({
    name: 'polyauth_http_request_duration_seconds',
    help: 'HTTP request duration by API',
    labelNames: ['api'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });

  const ordered = [...mounts].sort((a, b) => b.mount.length - a.mount.length);
  const apiLabels = new Map<string, { api: string }>(['service', 'other', ...ordered.map((m) => m.id)].map((api) => [api, { api }]));
  const apiOf = (path: string): string => {
    if (isServicePath(path)) return 'service';
    for (const m of ordered) {
      if (m.mount === '/' || path === m.mount || (path.startsWith(m.mount) && path.charCodeAt(m.mount.length) === 47 /* / */)) return m.id;
    }
    return 'other';
  };

  const record = (url: string, method: string, status: number, seconds: number): void => {
    const q = url.indexOf('?');
    const api = apiOf(q === -1 ? url : url.slice(0, q));
    const key = `${api} ${method} ${status}`;
    const entry = counts.get(key);
    if (entry) entry.n += 1;
    else counts.set(key, { labels: { api, method, status: String(status) }, n: 1 });
    duration.observe(apiLabels.get(api)!, seconds);
  };

  const middleware: RequestHandler = (req, res, next) => {
    const started = performance.now();
    res.on('finish', () => record(req.originalUrl, req.method, res.statusCode, (performance.now() - started) / 1000));
    next();
  };
  return { registry, middleware };
}
