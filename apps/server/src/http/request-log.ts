import { randomUUID } from 'node:crypto';
import type { Express, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { redactUrl } from './log-redact.ts';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
const NOT_LOGGED = new Set(['/healthz', '/metrics']);

/** The caller's X-Request-Id when it is a sane token, else a new UUID; echoed in the response. */
function requestId(req: Request, res: Response): string {
  const incoming = req.headers['x-request-id'];
  const id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}

/** What a log line says of a request: no headers (cookies, credentials), secrets in URLs masked. */
function describeRequest(req: { id: unknown; method: string; url: string; remoteAddress?: string }) {
  return { id: req.id, method: req.method, url: redactUrl(req.url), remoteAddress: req.remoteAddress };
}

const LOG = Symbol('polyauth.requestLogger');

/**
 * Request ids, `req.log` (a child logger carrying the request) and one log
 * line per answered request: `info` below 500, `error` from 500 on
 * ("request completed" / "request errored", with status and response time),
 * none for /healthz and /metrics.
 *
 * When the logger's level lets `info` lines through, this is pino-http. When
 * it does not (LOG_LEVEL=warn and up), pino-http would still build a child
 * logger per request, serializing the request, only to drop every line but
 * the 5xx ones; the lean path instead writes just those lines and creates
 * `req.log` on first use (a handler that logs), so a cheap route pays only
 * for its request id. The level is read once: it is fixed at start-up.
 */
export function requestLog(app: Express, log: Logger): RequestHandler {
  if (log.isLevelEnabled('info')) {
    return pinoHttp({
      logger: log,
      genReqId: requestId,
      serializers: {
        req: describeRequest,
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : 'info'),
      autoLogging: { ignore: (req) => NOT_LOGGED.has(req.url ?? '') },
    });
  }

  Object.defineProperty(app.request, 'log', {
    configurable: true,
    get(this: Request & { [LOG]?: Logger }): Logger {
      return (this[LOG] ??= log.child({
        req: describeRequest({ id: this.id, method: this.method, url: this.originalUrl ?? this.url, remoteAddress: this.socket?.remoteAddress }),
      }));
    },
    set(this: Request & { [LOG]?: Logger }, value: Logger) {
      this[LOG] = value;
    },
  });
  const errorsEnabled = log.isLevelEnabled('error');
  return (req, res, next) => {
    req.id = requestId(req, res);
    if (errorsEnabled && !NOT_LOGGED.has(req.url)) {
      const started = Date.now();
      res.on('finish', () => {
        if (res.statusCode >= 500) {
          req.log.error({ res: { statusCode: res.statusCode }, responseTime: Date.now() - started }, 'request errored');
        }
      });
    }
    next();
  };
}
