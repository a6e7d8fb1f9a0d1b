import type { IdentityError, IdentityErrorKind, IdentityProblem, ProblemOf } from '../identity/errors.ts';

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

export interface ApiErrorOptions<Code extends string = string> {
  /** HTTP status, when not the kind's usual one (e.g. mint's 404 for bad credentials). */
  status?: number;
  /** The API's own error code (from its spec's enum), when it has a more precise one than the kind. */
  code?: Code;
  headers?: Record<string, string>;
}

/**
 * A failure to report to the caller. Handlers throw it; the API's dialect
 * turns it into that API's documented error body. It is an expected answer,
 * not a bug: no stack trace is captured (capturing one cost more than the
 * rest of a refused request).
 */
export class ApiError<Code extends string = string> extends Error {
  override name = 'ApiError';
  readonly kind: ErrorKind;
  readonly status: number;
  readonly code: Code | undefined;
  readonly headers: Record<string, string>;

  constructor(kind: ErrorKind, message: string, opts: ApiErrorOptions<Code> = {}) {
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

/**
 * The operation the validator matched for the request (`req.openapi.schema`),
 * as far as an error needs it; undefined fields when none was matched (an
 * unknown path, or a failure before the match).
 */
export interface MatchedOperation {
  operationId: string | undefined;
  /** `x-polyauth-invalid-status`: the status the spec gives invalid input of this operation (mts-auth POST /user: 406). */
  invalidStatus: number | undefined;
}

export const NO_OPERATION: MatchedOperation = { operationId: undefined, invalidStatus: undefined };

/**
 * How an API answers each kind of identity failure, per operation where it
 * must: one entry per kind, so a kind added to IdentityProblem is a compile
 * error in every dialect until it says how it answers it.
 */
export type IdentityDialect = {
  [K in IdentityErrorKind]: (problem: ProblemOf<K>, err: IdentityError, op: MatchedOperation) => ApiError;
};

/** An API's one error dialect: its answer to every identity failure, and its error body. */
export interface ErrorDialect {
  identity: IdentityDialect;
  /** The API's documented error body for `err`. */
  body(err: ApiError): unknown;
}

/** The ApiError an API's dialect makes of an identity failure. */
export function fromIdentity(dialect: IdentityDialect, err: IdentityError, op: MatchedOperation): ApiError {
  const answer = dialect[err.problem.kind] as (problem: IdentityProblem, err: IdentityError, op: MatchedOperation) => ApiError;
  return answer(err.problem, err, op);
}

/**
 * A type guard for a spec's closed list of error codes. Called as
 * `codeGuard<Code>({ a: true, b: true })`, the object must name every code
 * of `Code` and nothing else (a missing or extra key does not compile), so a
 * dialect checks a code it reads back instead of casting it.
 */
export function codeGuard<Code extends string>(codes: Readonly<Record<Code, true>>): (code: string | undefined) => code is Code {
  return (code): code is Code => code !== undefined && Object.hasOwn(codes, code);
}

/** 429 with Retry-After: a throttled attempt, in any API. */
export function tooManyRequests<Code extends string>(retryAfter: number, opts: ApiErrorOptions<Code> = {}): ApiError<Code> {
  return new ApiError<Code>('too_many_requests', 'Too many attempts; try again later.', {
    ...opts,
    headers: { ...opts.headers, 'Retry-After': String(retryAfter) },
  });
}

const kindOfStatus = new Map(Object.entries(statusOfKind).map(([k, v]) => [v, k as ErrorKind]));

export function kindForStatus(status: number): ErrorKind {
  return kindOfStatus.get(status) ?? (status >= 500 ? 'server_error' : 'bad_request');
}
