import { IdentifierTakenError } from '@polyauth/store';
import { PasswordPolicyError } from '../identity/passwords.ts';
import { ThrottledError } from '../identity/throttle.ts';
import { ApiError, kindForStatus } from './errors.ts';
import { cutText } from '../identity/text.ts';
import { HostileInputError } from './hostile-input.ts';

const DB_DOWN_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08006',
  '53300', // too_many_connections
]);

/** True for errors that mean "the database cannot be reached right now". */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; name?: string; message?: string } | null;
  if (!e) return false;
  if (e.name === 'KnexTimeoutError') return true;
  if (e.code && DB_DOWN_CODES.has(e.code)) return true;
  const msg = e.message ?? '';
  // 55000 is also raised for unrelated states; only at connect time does it mean "not now".
  return /Connection terminated|connection timeout|PGlite is clos|Client has encountered a connection error|is not currently accepting connections|Unable to acquire a connection/i.test(
    msg,
  );
}

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
 * Maps anything thrown while serving a request to an ApiError. Unknown errors
 * become a bare 500: their details are logged by the caller, never sent.
 * Returns `internal: true` for those so they are logged at error level.
 */
export function toApiError(err: unknown): { error: ApiError; internal: boolean } {
  if (err instanceof ApiError) return { error: err, internal: false };
  if (err instanceof ThrottledError) {
    return {
      error: new ApiError('too_many_requests', 'Too many attempts; try again later.', {
        headers: { 'Retry-After': String(err.retryAfter) },
      }),
      internal: false,
    };
  }
  if (err instanceof HostileInputError) return { error: new ApiError('bad_request', err.message), internal: false };
  if (err instanceof PasswordPolicyError) return { error: new ApiError('bad_request', err.message), internal: false };
  if (err instanceof IdentifierTakenError) {
    return { error: new ApiError('conflict', `That ${err.field} is already registered.`), internal: false };
  }
  if (isDatabaseUnavailable(err)) {
    return {
      error: new ApiError('service_unavailable', 'The service is temporarily unavailable; try again shortly.', {
        headers: { 'Retry-After': '5' },
      }),
      internal: true,
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
