import type { oauthService } from '@polyauth/api-types';
import type { ApiError, ErrorKind } from '../../http/errors.ts';
import { cutText } from '../../identity/text.ts';

export type OauthError = oauthService.components['schemas']['Error'];
export type OauthErrorCode = OauthError['error'];

const codeOfKind: Record<ErrorKind, OauthErrorCode> = {
  bad_request: 'invalid_request',
  unauthorized: 'unauthorized',
  forbidden: 'unauthorized',
  not_found: 'not_found',
  method_not_allowed: 'method_not_allowed',
  not_acceptable: 'unsupported_media_type',
  request_timeout: 'request_timeout',
  conflict: 'conflict',
  payload_too_large: 'payload_too_large',
  unsupported_media_type: 'unsupported_media_type',
  too_many_requests: 'too_many_requests',
  header_fields_too_large: 'request_header_fields_too_large',
  server_error: 'server_error',
  service_unavailable: 'service_unavailable',
};

const codes = new Set<string>(Object.values(codeOfKind).concat(['invalid_grant', 'invalid_client', 'unsupported_grant_type', 'registration_disabled', 'terms_not_accepted', 'database_error']));

/** oauth-service's error body: `{error, message}`, `error` from the spec's closed list. */
export function oauthError(err: ApiError): OauthError {
  const code = err.code && codes.has(err.code) ? (err.code as OauthErrorCode) : codeOfKind[err.kind];
  return { error: code, message: cutText(err.message, 1000) || 'The request failed.' };
}
