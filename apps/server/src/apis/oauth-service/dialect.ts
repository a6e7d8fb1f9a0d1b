import type { oauthService } from '@polyauth/api-types';
import { ApiError, codeGuard, tooManyRequests, type ErrorDialect, type ErrorKind, type IdentityDialect } from '../../http/errors.ts';
import { cutText } from '../../identity/text.ts';

export type OauthError = oauthService.components['schemas']['Error'];
export type OauthErrorCode = OauthError['error'];

/** Every code of the spec's enum (a missing or extra one does not compile), so that a code read back is checked, not cast. */
const isOauthCode = codeGuard<OauthErrorCode>({
  invalid_request: true,
  invalid_grant: true,
  invalid_client: true,
  unsupported_grant_type: true,
  unauthorized: true,
  not_found: true,
  method_not_allowed: true,
  conflict: true,
  registration_disabled: true,
  terms_not_accepted: true,
  payload_too_large: true,
  unsupported_media_type: true,
  too_many_requests: true,
  database_error: true,
  server_error: true,
  service_unavailable: true,
  request_timeout: true,
  request_header_fields_too_large: true,
});

/** An oauth-service failure; its code, if any, one of the spec's. */
export const OauthApiError = ApiError<OauthErrorCode>;

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

const wrongPassword = () => new OauthApiError('bad_request', 'The username or password is incorrect.', { code: 'invalid_grant' });

const identity: IdentityDialect = {
  identifier_taken: (p) => new OauthApiError('conflict', `The ${p.field} is already taken.`),
  weak_password: (_p, e) => new OauthApiError('bad_request', e.message),
  throttled: (p) => tooManyRequests<OauthErrorCode>(p.retryAfter),
  invalid_credentials: wrongPassword,
  // oauth-service asks for no second factor: a TOTP-enrolled account is refused as for a wrong password.
  second_factor: wrongPassword,
  forbidden: (_p, e) => new OauthApiError('forbidden', e.message),
  not_found: (_p, e) => new OauthApiError('not_found', e.message),
  dead_link: () => new OauthApiError('bad_request', 'The reset link is unknown, expired or already used.', { code: 'invalid_grant' }),
  domain_name_taken: (_p, e) => new OauthApiError('conflict', e.message),
};

/** oauth-service's error body: `{error, message}`, `error` from the spec's closed list. */
function body(err: ApiError): OauthError {
  return { error: isOauthCode(err.code) ? err.code : codeOfKind[err.kind], message: cutText(err.message, 1000) || 'The request failed.' };
}

export const oauthError: ErrorDialect = { identity, body };
