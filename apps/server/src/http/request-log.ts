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

/** Why a request was answered 503, set by the error handler for the request's log line. */
export function setUnavailableReason(res: Response, reason: string): void {
  (res.locals as { unavailable?: string }).unavailable = reason;
}
const unavailableReasonOf = (res: { locals?: object }) => (res.locals as { unavailable?: string } | undefined)?.unavailable;

/**
 * Request ids, `req.log` (a child logger carrying the request) and one log
 * line per answered request: `info` below 500, `error` from 500 on
 * ("request completed" / "request errored", with status and response time),
 * none for /healthz and /metrics. A 503 (the database cannot serve right
 * now) is `warn`, "request failed" with its reason and no stack: it is the
 * one line logged for it.
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
      customLogLevel: (_req, res, err) => (res.statusCode === 503 ? 'warn' : err || res.statusCode >= 500 ? 'error' : 'info'),
      customErrorMessage: (_req, res) => (res.statusCode === 503 ? 'request failed' : 'request errored'),
      customErrorObject: (_req, res, _err, val: Record<string, unknown>) =>
        res.statusCode === 503 ? { res: val.res, responseTime: val.responseTime, reason: unavailableReasonOf(res) ?? 'service unavailable' } : val,
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
  const warningsEnabled = log.isLevelEnabled('warn');
  return (req, res, next) => {
    req.id = requestId(req, res);
    if (errorsEnabled && !NOT_LOGGED.has(req.url)) {
      const started = Date.now();
      res.on('finish', () => {
        if (res.statusCode === 503) {
          if (warningsEnabled) {
            req.log.warn(
              { res: { statusCode: 503 }, responseTime: Date.now() - started, reason: unavailableReasonOf(res) ?? 'service unavailable' },
              'request failed',
            );
          }
        } else if (res.statusCode >= 500) {
          req.log.error({ res: { statusCode: res.statusCode }, responseTime: Date.now() - started }, 'request errored');
        }
      });
    }
    next();
  };
}
