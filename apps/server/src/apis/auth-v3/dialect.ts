import type { authV3 } from '@polyauth/api-types';
import { ApiError, codeGuard, tooManyRequests, type ErrorDialect, type ErrorKind, type IdentityDialect } from '../../http/errors.ts';
import { cutText } from '../../identity/text.ts';

export type AuthV3Error = authV3.components['schemas']['Error'];
export type AuthV3Code = AuthV3Error['errorCode'];

/** Every code of the spec's enum (a missing or extra one does not compile), so that a code read back is checked, not cast. */
const isAuthV3Code = codeGuard<AuthV3Code>({
  InvalidRequest: true,
  AuthInvalidCredentials: true,
  AuthAccountTwoFactorProtected: true,
  AuthTokenInvalid: true,
  AuthForbidden: true,
  AuthUserNotFound: true,
  NotFound: true,
  MethodNotAllowed: true,
  PayloadTooLarge: true,
  UnsupportedMediaType: true,
  AuthTooManyAttempts: true,
  InternalError: true,
  ServiceUnavailable: true,
  RequestTimeout: true,
  RequestHeaderFieldsTooLarge: true,
});

/** An auth-v3 failure; its code, if any, one of the spec's. */
export const AuthV3ApiError = ApiError<AuthV3Code>;

const codeOfKind: Record<ErrorKind, AuthV3Code> = {
  bad_request: 'InvalidRequest',
  unauthorized: 'AuthTokenInvalid',
  forbidden: 'AuthForbidden',
  not_found: 'NotFound',
  method_not_allowed: 'MethodNotAllowed',
  // Never raised by auth-v3; mapped so that any status still has a documented code.
  not_acceptable: 'InvalidRequest',
  request_timeout: 'RequestTimeout',
  conflict: 'InvalidRequest',
  payload_too_large: 'PayloadTooLarge',
  unsupported_media_type: 'UnsupportedMediaType',
  too_many_requests: 'AuthTooManyAttempts',
  header_fields_too_large: 'RequestHeaderFieldsTooLarge',
  server_error: 'InternalError',
  service_unavailable: 'ServiceUnavailable',
};

const identity: IdentityDialect = {
  identifier_taken: (_p, e) => new AuthV3ApiError('conflict', e.message),
  weak_password: (_p, e) => new AuthV3ApiError('bad_request', e.message),
  throttled: (p) => tooManyRequests<AuthV3Code>(p.retryAfter),
  invalid_credentials: () => new AuthV3ApiError('unauthorized', 'The user name or password is wrong.', { code: 'AuthInvalidCredentials' }),
  second_factor: () =>
    new AuthV3ApiError('unauthorized', 'Two-factor authentication is enabled for this account: send the current code.', {
      code: 'AuthAccountTwoFactorProtected',
    }),
  // loginOther: only an ADMIN, for a user of their organization
  forbidden: (_p, e) => new AuthV3ApiError('forbidden', e.message, { code: 'AuthForbidden' }),
  not_found: (_p, e) => new AuthV3ApiError('not_found', e.message, { code: 'AuthUserNotFound' }),
  dead_link: (_p, e) => new AuthV3ApiError('unauthorized', e.message, { code: 'AuthTokenInvalid' }),
  domain_name_taken: (_p, e) => new AuthV3ApiError('conflict', e.message),
};

/** auth-v3's one error body: `{errorCode, errorDescription}`. */
function body(err: ApiError): AuthV3Error {
  return {
    errorCode: isAuthV3Code(err.code) ? err.code : codeOfKind[err.kind],
    errorDescription: cutText(err.message || 'The request failed.', 1000),
  };
}

export const authV3Error: ErrorDialect = { identity, body };
