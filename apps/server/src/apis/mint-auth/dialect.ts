import type { mintAuth } from '@polyauth/api-types';
import { ApiError, tooManyRequests, type ErrorDialect, type ErrorKind, type IdentityDialect } from '../../http/errors.ts';
import { cutText } from '../../identity/text.ts';

type MintError = mintAuth.components['schemas']['Error'];

/**
 * mint's error body has no code; these name, inside polyauth, the failures
 * whose message is mint's own (a handler's), as opposed to the generic words
 * below.
 */
export type MintCode = 'unauthorized' | 'bad_credentials' | 'username_taken' | 'token_rejected';

/** A mint-auth failure with its own message. */
export const MintApiError = ApiError<MintCode>;

/** Messages of the contract (specs/mint-auth.yaml). */
export const messages = {
  applicationRequired: 'Authentication required: Authorization: Application <application id>:<application secret>',
  applicationMalformed:
    'Malformed Authorization header: expected Application <application id>:<application secret> (id and secret separated by a colon)',
  applicationInvalid: 'Application authentication failed: unknown application id or wrong secret',
  userTokenRequired: 'Authentication required: Authorization: UserToken <user token>',
  tokenRejected: 'The token has expired or was cancelled, please sign in again',
  badCredentials: 'The password does not match, suggest reset?',
  usernameTaken: 'The username has already existed',
} as const;

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

const badCredentials = () => new MintApiError('not_found', messages.badCredentials, { code: 'bad_credentials' });

const identity: IdentityDialect = {
  identifier_taken: () => new MintApiError('forbidden', messages.usernameTaken, { code: 'username_taken' }),
  weak_password: (_p, e) => new MintApiError('bad_request', e.message),
  throttled: (p) => tooManyRequests<MintCode>(p.retryAfter),
  invalid_credentials: badCredentials,
  // mint asks for no second factor: a TOTP-enrolled account is refused as for a wrong password.
  second_factor: badCredentials,
  forbidden: (_p, e) => new MintApiError('forbidden', e.message),
  not_found: (_p, e) => new MintApiError('not_found', e.message),
  dead_link: (_p, e) => new MintApiError('not_found', e.message),
  domain_name_taken: (_p, e) => new MintApiError('conflict', e.message),
};

/** The seed's error body: `{response: "<message>"}`. */
function body(err: ApiError): MintError {
  const message = err.code === undefined ? (generic[err.kind] ?? err.message) : err.message;
  return { response: cutText(message, 1000) || 'The request could not be processed' };
}

export const mintError: ErrorDialect = { identity, body };
