import type { mtsAuth } from '@polyauth/api-types';
import type { ApiError, ErrorKind } from '../../http/errors.ts';
import { cutText } from '../../identity/text.ts';

type MtsError = mtsAuth.components['schemas']['Error'];
type MtsCode = MtsError['error'];

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

/**
 * The seed's OauthErrResponse: `{code, error, error_description}`; except
 * POST /user's 406 (the only 406 mts-auth sends), which the seed writes as
 * the bare `"<error_message>"`: the message as a JSON string.
 */
export function mtsError(err: ApiError): MtsError | string {
  if (err.status === 406) return err.message;
  return {
    code: err.status,
    error: (err.code as MtsCode | undefined) ?? codeOfKind[err.kind],
    error_description: cutText(err.message, 1000),
  };
}
