// @polyauth/client: one factory per polyauth API over openapi-fetch, with the
// same vocabulary for the same acts (signIn, signOut, currentUser, refresh)
// and one error class per API's dialect.
export * from './common.ts';
export type { ApiClient, ParamsOrBodyRequired, PathOf } from './paths.ts';
export * from './mts-auth.ts';
export * from './mint-auth.ts';
export * from './oauth-service.ts';
export * from './user-token-auth.ts';
export * from './auth-v3.ts';
/** The generated types of each API's spec (`paths`, `components`, `operations`). */
export type { authV3, mintAuth, mtsAuth, oauthService, userTokenAuth } from '@polyauth/api-types';
