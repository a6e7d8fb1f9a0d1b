import type { ApiDefinition } from '../http/api-router.ts';
import { mtsAuthApi } from './mts-auth/index.ts';
import { oauthServiceApi } from './oauth-service/index.ts';

/** Every API the server serves. Adding an API: its spec, its folder, one line here. */
export const apis = [mtsAuthApi, oauthServiceApi] as unknown as ApiDefinition<never>[];
