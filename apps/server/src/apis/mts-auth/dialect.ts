import type { mtsAuth } from '@polyauth/api-types';
import { ApiError, codeGuard, tooManyRequests, type ErrorDialect, type ErrorKind, type IdentityDialect, type MatchedOperation } from '../../http/errors.ts';
import { cutText } from '../../identity/text.ts';

type MtsError = mtsAuth.components['schemas']['Error'];
/** The spec's closed list of `error` codes. */
export type MtsCode = MtsError['error'];

/** Every code of the spec's enum (a missing or extra one does not compile), so that a code read back is checked, not cast. */
const isMtsCode = codeGuard<MtsCode>({
  invalid_request: true,
  invalid_client: true,
  invalid_grant: true,
  unsupported_grant_type: true,
  invalid_token: true,
  forbidden: true,
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

/** An mts-auth failure; its code, if any, one of the spec's. */
export const MtsApiError = ApiError<MtsCode>;

const codeOfKind: Record<ErrorKind, MtsCode> = {
  bad_request: 'invalid_request',
  unauthorized: 'invalid_token',
  forbidden: 'forbidden',
  not_found: 'not_found',
  method_not_allowed: 'method_not_allowed',
  not_acceptable: 'not_acceptable',
  request_timeout: 'request_timeout',
  conflict: 'not_acceptable',
  payload_too_large: 'payload_too_large',
  unsupported_media_type: 'unsupported_media_type',
  too_many_requests: 'too_many_requests',
  header_fields_too_large: 'request_header_fields_too_large',
  server_error: 'server_error',
  service_unavailable: 'service_unavailable',
};

/** Invalid input of an operation whose spec gives it its own status (POST /user: 406), else `usual`. */
function invalidInput(op: MatchedOperation, usual: 'bad_request' | 'conflict', message: string): ApiError {
  if (op.invalidStatus === 406) return new MtsApiError('not_acceptable', message);
  return new MtsApiError(usual, message);
}

const identity: IdentityDialect = {
  // Only registration (POST /user, where the username is the email) can find an identifier taken.
  identifier_taken: (_p, _e, op) => invalidInput(op, 'conflict', 'That email address is already registered.'),
  weak_password: (_p, e, op) => invalidInput(op, 'bad_request', e.message),
  throttled: (p) => tooManyRequests<MtsCode>(p.retryAfter),
  invalid_credentials: () => new MtsApiError('bad_request', 'The username or password is incorrect.', { code: 'invalid_grant' }),
  // mts-auth asks for no second factor: a TOTP-enrolled account is refused as for a wrong password.
  second_factor: () => new MtsApiError('bad_request', 'The username or password is incorrect.', { code: 'invalid_grant' }),
  forbidden: (_p, e) => new MtsApiError('forbidden', e.message),
  not_found: (_p, e) => new MtsApiError('not_found', e.message),
  dead_link: (_p, e) => new MtsApiError('not_found', e.message),
  domain_name_taken: (_p, e) => new MtsApiError('conflict', e.message),
};

/**
 * The seed's OauthErrResponse: `{code, error, error_description}`; except
 * POST /user's 406 (the only 406 mts-auth sends), which the seed writes as
 * the bare `"<error_message>"`: the message as a JSON string.
 */
function body(err: ApiError): MtsError | string {
  if (err.status === 406) return err.message;
  return {
    code: err.status,
    error: isMtsCode(err.code) ? err.code : codeOfKind[err.kind],
    error_description: cutText(err.message, 1000),
  };
}

export const mtsError: ErrorDialect = { identity, body };
