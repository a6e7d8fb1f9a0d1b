import type { authV3 } from '@polyauth/api-types';
import type { ApiError, ErrorKind } from '../../http/errors.ts';
import { cutText } from '../../identity/text.ts';

export type AuthV3Error = authV3.components['schemas']['Error'];
export type AuthV3Code = AuthV3Error['errorCode'];

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

/** auth-v3's one error body: `{errorCode, errorDescription}`. */
export function authV3Error(err: ApiError): AuthV3Error {
  return {
    errorCode: (err.code as AuthV3Code | undefined) ?? codeOfKind[err.kind],
    errorDescription: cutText(err.message || 'The request failed.', 1000),
  };
}
