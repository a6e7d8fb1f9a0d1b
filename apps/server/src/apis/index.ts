import type { ApiDefinition } from '../http/api-router.ts';
import { authV3Api } from './auth-v3/index.ts';
import { mintAuthApi } from './mint-auth/index.ts';
import { mtsAuthApi } from './mts-auth/index.ts';
import { oauthServiceApi } from './oauth-service/index.ts';
import { userTokenAuthApi } from './user-token-auth/index.ts';

/** Every API the server serves. Adding an API: its spec, its folder, one line here. */
export const apis = [
  mtsAuthApi,
  mintAuthApi,
  oauthServiceApi,
  userTokenAuthApi,
  authV3Api,
] as unknown as ApiDefinition<never>[];
