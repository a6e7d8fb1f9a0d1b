// Type-level checks, run by `tsc` (typecheck): every line under a
// ts-expect-error directive must fail to compile, or the typecheck fails.
import type { IdentityDialect } from '../src/http/errors.ts';
import { ApiError, codeGuard } from '../src/http/errors.ts';
import { AuthV3ApiError } from '../src/apis/auth-v3/dialect.ts';
import { MtsApiError } from '../src/apis/mts-auth/dialect.ts';
import { OauthApiError } from '../src/apis/oauth-service/dialect.ts';

const answer = () => new ApiError('bad_request', 'x');

// A dialect must answer every kind of identity failure: one left out does not compile.
// @ts-expect-error dead_link is missing
export const missingKind: IdentityDialect = {
  identifier_taken: answer,
  domain_name_taken: answer,
  weak_password: answer,
  throttled: answer,
  invalid_credentials: answer,
  second_factor: answer,
  forbidden: answer,
  not_found: answer,
};

// ...and each answer gets its kind's own fields.
export const fields: IdentityDialect = {
  identifier_taken: (p) => new ApiError('conflict', `That ${p.field} is taken.`),
  domain_name_taken: answer,
  weak_password: answer,
  // @ts-expect-error retryAfter belongs to throttled, not to weak_password's neighbours
  throttled: (p) => new ApiError('too_many_requests', String(p.field)),
  invalid_credentials: answer,
  second_factor: answer,
  forbidden: answer,
  not_found: answer,
  dead_link: answer,
};

// An API's codes come from its spec's enum: a misspelt one does not compile.
// @ts-expect-error not one of mts-auth's codes
export const mts = new MtsApiError('bad_request', 'x', { code: 'invalid_grnat' });
// @ts-expect-error auth-v3's codes are its own
export const v3 = new AuthV3ApiError('unauthorized', 'x', { code: 'invalid_grant' });
// @ts-expect-error oauth-service has no code of auth-v3's
export const oauth = new OauthApiError('unauthorized', 'x', { code: 'AuthTokenInvalid' });

// A dialect's code guard names exactly its spec's codes: one left out, or one
// the spec does not have, does not compile.
type TwoCodes = 'invalid_request' | 'invalid_grant';
// @ts-expect-error invalid_grant is missing
export const guardMissing = codeGuard<TwoCodes>({ invalid_request: true });
// @ts-expect-error invalid_grnat is not one of the codes
export const guardExtra = codeGuard<TwoCodes>({ invalid_request: true, invalid_grant: true, invalid_grnat: true });
export const guard = codeGuard<TwoCodes>({ invalid_request: true, invalid_grant: true });
