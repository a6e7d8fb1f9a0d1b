/** The generic kinds of failure; each API renders them in its own dialect. */
export type ErrorKind =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'not_acceptable'
  | 'request_timeout'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'too_many_requests'
  | 'header_fields_too_large'
  | 'server_error'
  | 'service_unavailable';

export const statusOfKind: Record<ErrorKind, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_acceptable: 406,
  request_timeout: 408,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  header_fields_too_large: 431,
  server_error: 500,
  service_unavailable: 503,
};

export interface ApiErrorOptions {
  /** HTTP status, when not the kind's usual one (e.g. mint's 404 for bad credentials). */
  status?: number;
  /** The API's own error code, when it has a more precise one than the kind. */
  code?: string;
  headers?: Record<string, string>;
}

/**
 * A failure to report to the caller. Handlers throw it; the API's dialect
 * turns it into that API's documented error body. It is an expected answer,
 * not a bug: no stack trace is captured (capturing one cost more than the
 * rest of a refused request).
 */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly kind: ErrorKind;
  readonly status: number;
  readonly code: string | undefined;
  readonly headers: Record<string, string>;

  constructor(kind: ErrorKind, message: string, opts: ApiErrorOptions = {}) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.kind = kind;
    this.status = opts.status ?? statusOfKind[kind];
    this.code = opts.code;
    this.headers = opts.headers ?? {};
  }
}

/** Turns an ApiError into the API's documented error body. */
export type ErrorDialect = (err: ApiError) => unknown;

const kindOfStatus = new Map(Object.entries(statusOfKind).map(([k, v]) => [v, k as ErrorKind]));

export function kindForStatus(status: number): ErrorKind {
  return kindOfStatus.get(status) ?? (status >= 500 ? 'server_error' : 'bad_request');
}
