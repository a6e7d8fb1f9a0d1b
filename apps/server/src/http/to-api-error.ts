import { DeadlineExceededError, isConnectionError } from '../identity/database.ts';
import { IdentityError } from '../identity/errors.ts';
import { ServerStoppingError } from '../identity/passwords.ts';
import { ApiError, fromIdentity, kindForStatus, NO_OPERATION, tooManyRequests, type IdentityDialect, type MatchedOperation } from './errors.ts';
import { cutText } from '../identity/text.ts';
import { HostileInputError } from './hostile-input.ts';

const DB_BUSY_CODES = new Set([
  '57014', // query_canceled: statement_timeout (DB_STATEMENT_TIMEOUT_MS)
  '55P03', // lock_not_available: lock_timeout (DB_LOCK_TIMEOUT_MS)
]);

/**
 * True for errors that mean "the database cannot serve this right now": it
 * cannot be reached, a statement or a lock wait ran out of time, or the
 * request's deadline passed while it waited for a connection.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string } | null;
  if (!e) return false;
  if (err instanceof DeadlineExceededError || e.name === 'KnexTimeoutError') return true;
  if (e.code && DB_BUSY_CODES.has(e.code)) return true;
  if (isConnectionError(err)) return true;
  return /PGlite is clos|Unable to acquire a connection/i.test(e.message ?? '');
}

/** Retry-After of a 503: about how long a failover or a lock takes to clear. */
export const UNAVAILABLE_RETRY_AFTER = '5';

interface ValidatorErrorItem {
  path?: string;
  message?: string;
}

function describeValidation(items: ValidatorErrorItem[] | undefined, fallback: string): string {
  if (!items || items.length === 0) return fallback;
  const parts = items.slice(0, 5).map((i) => {
    const where = (i.path ?? '').replace(/^\.?(body|query|path|headers)\.?/, (_m, loc: string) => `${loc} `).trim();
    return where ? `${where}: ${i.message ?? 'is invalid'}` : (i.message ?? 'is invalid');
  });
  const more = items.length > 5 ? ` (and ${items.length - 5} more)` : '';
  return cutText(`${parts.join('; ')}${more}`, 500);
}

/**
 * Identity failures outside every API (auth-v3's /web pages): the kind's
 * usual status, the use-case's own words.
 */
export const plainIdentity: IdentityDialect = {
  identifier_taken: (_p, e) => new ApiError('conflict', e.message),
  domain_name_taken: (_p, e) => new ApiError('conflict', e.message),
  weak_password: (_p, e) => new ApiError('bad_request', e.message),
  throttled: (p) => tooManyRequests(p.retryAfter),
  invalid_credentials: (_p, e) => new ApiError('unauthorized', e.message),
  second_factor: (_p, e) => new ApiError('unauthorized', e.message),
  forbidden: (_p, e) => new ApiError('forbidden', e.message),
  not_found: (_p, e) => new ApiError('not_found', e.message),
  dead_link: (_p, e) => new ApiError('not_found', e.message),
};

/**
 * Maps anything thrown while serving a request to an ApiError: identity
 * failures as the API's dialect answers them for the matched operation
 * (`identity`, `op`), the rest by what they are. Unknown errors
 * become a bare 500: their details are logged by the caller, never sent.
 * Returns `internal: true` for those so they are logged at error level.
 * A database that cannot serve is not a bug: 503, `internal: false`, and
 * `unavailable` says why in a few words, for the request's one log line.
 */
export function toApiError(
  err: unknown,
  identity: IdentityDialect = plainIdentity,
  op: MatchedOperation = NO_OPERATION,
): { error: ApiError; internal: boolean; unavailable?: string } {
  if (err instanceof ApiError) return { error: err, internal: false };
  if (err instanceof IdentityError) return { error: fromIdentity(identity, err, op), internal: false };
  if (err instanceof HostileInputError) return { error: new ApiError('bad_request', err.message), internal: false };
  if (err instanceof ServerStoppingError) {
    return {
      error: new ApiError('service_unavailable', 'The service is restarting; try again shortly.', { headers: { 'Retry-After': '1' } }),
      internal: false,
      unavailable: err.message,
    };
  }
  if (isDatabaseUnavailable(err)) {
    return {
      error: new ApiError('service_unavailable', 'The service is temporarily unavailable; try again shortly.', {
        headers: { 'Retry-After': UNAVAILABLE_RETRY_AFTER },
      }),
      internal: false,
      unavailable: unavailableReason(err),
    };
  }
  const e = err as { type?: string; status?: number; statusCode?: number; errors?: ValidatorErrorItem[]; message?: string; path?: string; headers?: Record<string, string> };
  // body-parser
  switch (e.type) {
    case 'entity.parse.failed':
      return { error: new ApiError('bad_request', 'The request body is not valid JSON.'), internal: false };
    case 'entity.too.large':
    case 'parameters.too.many':
      return { error: new ApiError('payload_too_large', 'The request body is too large.'), internal: false };
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return { error: new ApiError('unsupported_media_type', 'The request body encoding is not supported.'), internal: false };
    case 'request.aborted':
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return { error: new ApiError('bad_request', 'The request body could not be read.'), internal: false };
  }
  const status = e.status ?? e.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && Array.isArray(e.errors)) {
    // express-openapi-validator: the request does not match the spec
    const kind = kindForStatus(status);
    const messages: Partial<Record<typeof kind, string>> = {
      not_found: 'There is no such resource.',
      method_not_allowed: 'That method is not allowed on this resource.',
      unsupported_media_type: 'The request body must be sent with a content type this operation accepts.',
      payload_too_large: 'The request body is too large.',
    };
    const headers: Record<string, string> = {};
    if (e.headers?.Allow) headers.Allow = e.headers.Allow;
    return {
      error: new ApiError(kind, messages[kind] ?? `Invalid request: ${describeValidation(e.errors, e.message ?? 'invalid')}`, { status, headers }),
      internal: false,
    };
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { error: new ApiError(kindForStatus(status), 'The request could not be processed.', { status }), internal: false };
  }
  return { error: new ApiError('server_error', 'An unexpected error occurred.'), internal: true };
}

/** A 503's cause for the log: a code and a first line, never a stack or SQL. */
export function unavailableReason(err: unknown): string {
  if (err instanceof DeadlineExceededError) return 'request deadline passed waiting for the database';
  const e = err as { code?: string; name?: string; message?: string };
  if (e.code === '57014') return 'statement timeout';
  if (e.code === '55P03') return 'lock timeout';
  if (e.name === 'KnexTimeoutError') return 'no database connection free in time';
  // knex prefixes a failed statement's message with the statement: keep the cause only.
  const first = (e.message ?? '').split('\n')[0]!.split(' - ').pop()!.slice(0, 120);
  return e.code ? `${e.code} ${first}` : first || 'database unavailable';
}
