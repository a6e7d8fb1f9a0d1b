import { apiIds, type ApiId } from '@polyauth/api-types';
import type { Api } from '../http/api-router.ts';
import { authV3Api } from './auth-v3/index.ts';
import { mintAuthApi } from './mint-auth/index.ts';
import { mtsAuthApi } from './mts-auth/index.ts';
import { oauthServiceApi } from './oauth-service/index.ts';
import { userTokenAuthApi } from './user-token-auth/index.ts';

/**
 * Each API's folder, by its id in redocly.yaml (generated into
 * @polyauth/api-types): an API listed there without a line here, or a line
 * here for no listed API, is a compile error. Adding an API: its spec and
 * redocly.yaml entry, its folder, one line here; its mount is its spec's
 * `servers[0].url`.
 */
const byId = {
  'mts-auth': mtsAuthApi,
  'mint-auth': mintAuthApi,
  'oauth-service': oauthServiceApi,
  'user-token-auth': userTokenAuthApi,
  'auth-v3': authV3Api,
} satisfies Record<ApiId, Api>;

/** Every API the server serves, in redocly.yaml's order. */
export const apis: Api[] = apiIds.map((id) => {
  const api: Api = byId[id];
  if (api.id !== id) throw new Error(`apis/index.ts: the entry for ${id} is the API ${api.id}`);
  return api;
});
