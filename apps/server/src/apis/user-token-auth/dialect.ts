import type { RequestHandler } from 'express';
import type { userTokenAuth } from '@polyauth/api-types';
import { ApiError, codeGuard, tooManyRequests, type ErrorDialect, type ErrorKind, type IdentityDialect } from '../../http/errors.ts';
import { cutText } from '../../identity/text.ts';

type UtaError = userTokenAuth.components['schemas']['Error'];
export type UtaCode = UtaError['error'];

/** Every code of the spec's enum (a missing or extra one does not compile), so that a code read back is checked, not cast. */
const isUtaCode = codeGuard<UtaCode>({
  bad_request: true,
  invalid_credentials: true,
  invalid_token: true,
  not_found: true,
  method_not_allowed: true,
  not_acceptable: true,
  payload_too_large: true,
  unsupported_media_type: true,
  too_many_requests: true,
  server_error: true,
  service_unavailable: true,
  request_timeout: true,
  request_header_fields_too_large: true,
});

/** A user-token-auth failure; its code, if any, one of the spec's. */
export const UtaApiError = ApiError<UtaCode>;

const BASIC_CHALLENGE = 'Basic realm="polyauth", charset="UTF-8"';

/** 401 with the Basic challenge: unknown user, wrong password, disabled account, or TOTP enrolled. */
export function invalidCredentials(): ApiError<UtaCode> {
  return new UtaApiError('unauthorized', 'Invalid username or password.', {
    code: 'invalid_credentials',
    headers: { 'WWW-Authenticate': BASIC_CHALLENGE },
  });
}

const codeOfKind: Record<ErrorKind, UtaCode> = {
  bad_request: 'bad_request',
  unauthorized: 'invalid_token',
  forbidden: 'invalid_token',
  not_found: 'not_found',
  method_not_allowed: 'method_not_allowed',
  not_acceptable: 'not_acceptable',
  request_timeout: 'request_timeout',
  conflict: 'bad_request',
  payload_too_large: 'payload_too_large',
  unsupported_media_type: 'unsupported_media_type',
  too_many_requests: 'too_many_requests',
  header_fields_too_large: 'request_header_fields_too_large',
  server_error: 'server_error',
  service_unavailable: 'service_unavailable',
};

const identity: IdentityDialect = {
  identifier_taken: (_p, e) => new UtaApiError('conflict', e.message),
  weak_password: (_p, e) => new UtaApiError('bad_request', e.message),
  throttled: (p) => tooManyRequests<UtaCode>(p.retryAfter),
  invalid_credentials: invalidCredentials,
  // user-token-auth asks for no second factor: a TOTP-enrolled account is refused as for a wrong password.
  second_factor: invalidCredentials,
  forbidden: (_p, e) => new UtaApiError('forbidden', e.message),
  not_found: (_p, e) => new UtaApiError('not_found', e.message),
  dead_link: (_p, e) => new UtaApiError('not_found', e.message),
  domain_name_taken: (_p, e) => new UtaApiError('conflict', e.message),
};

/** The spec's `Error`: `{error, message}`, `error` one of the documented codes. */
function body(err: ApiError): UtaError {
  return { error: isUtaCode(err.code) ? err.code : codeOfKind[err.kind], message: cutText(err.message, 1000) || 'The request failed.' };
}

export const utaError: ErrorDialect = { identity, body };

/** Every response names Accept in Vary: the seed says the type depends on it. */
export const VARY = { Vary: 'Accept' };

/**
 * JSON is the only type served: an Accept header that excludes it is 406.
 * No Accept, `*\/*` and `application/*` mean JSON.
 */
export const negotiateJson: RequestHandler = (req, _res, next) => {
  const accept = req.headers.accept?.trim();
  // the usual answers first; req.accepts parses the header in full
  if (!accept || accept === 'application/json' || accept === '*/*' || req.accepts('application/json')) {
    next();
    return;
  }
  next(new ApiError('not_acceptable', 'Only application/json is served: send Accept: application/json (or */*).'));
};
