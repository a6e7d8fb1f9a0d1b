import type { Api } from '../http/api-router.ts';
import { authV3Api } from './auth-v3/index.ts';
import { mintAuthApi } from './mint-auth/index.ts';
import { mtsAuthApi } from './mts-auth/index.ts';
import { oauthServiceApi } from './oauth-service/index.ts';
import { userTokenAuthApi } from './user-token-auth/index.ts';

/** Every API the server serves. Adding an API: its spec (and redocly.yaml entry), its folder, one line here;
 * its mount is its spec's `servers[0].url`. */
export const apis: Api[] = [
  mtsAuthApi,
  mintAuthApi,
  oauthServiceApi,
  userTokenAuthApi,
  authV3Api,
];
