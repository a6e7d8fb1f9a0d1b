import type { RequestHandler } from 'express';
import type { userTokenAuth } from '@polyauth/api-types';
import { ApiError, type ErrorKind } from '../../http/errors.ts';
import { cutText } from '../../identity/text.ts';

type UtaError = userTokenAuth.components['schemas']['Error'];
type UtaCode = UtaError['error'];

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

const codes = new Set<string>(Object.values(codeOfKind).concat('invalid_credentials'));

/** The spec's `Error`: `{error, message}`, `error` one of the documented codes. */
export function utaError(err: ApiError): UtaError {
  const code = err.code && codes.has(err.code) ? (err.code as UtaCode) : codeOfKind[err.kind];
  return { error: code, message: cutText(err.message, 1000) || 'The request failed.' };
}

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
