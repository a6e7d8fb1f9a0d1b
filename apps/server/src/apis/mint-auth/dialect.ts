import type { mintAuth } from '@polyauth/api-types';
import type { ApiError, ErrorKind } from '../../http/errors.ts';
import { cutText } from '../../identity/text.ts';

type MintError = mintAuth.components['schemas']['Error'];

/**
 * The words mint uses for failures the router produces itself (unknown path,
 * wrong method, ...). Errors thrown by mint's handlers carry a `code` and
 * keep their own message; so do validation errors, whose message names the
 * problem.
 */
const generic: Partial<Record<ErrorKind, string>> = {
  not_found: 'The requested resource was not found on server',
  method_not_allowed: 'This method is not allowed on this resource',
  unsupported_media_type: 'Unsupported Content-Type: send application/json',
  payload_too_large: 'The request body is too large',
  too_many_requests: 'Too many attempts, try again later',
  request_timeout: 'The request was not received in time',
  header_fields_too_large: 'The request headers are too large',
  server_error: 'Internal server error',
  service_unavailable: 'The service is temporarily unavailable, try again later',
};

/** The seed's error body: `{response: "<message>"}`. */
export function mintError(err: ApiError): MintError {
  const message = err.code === undefined ? (generic[err.kind] ?? err.message) : err.message;
  return { response: cutText(message, 1000) || 'The request could not be processed' };
}
