import type { ApiDefinition } from '../http/api-router.ts';
import { authV3Api } from './auth-v3/index.ts';
import { mtsAuthApi } from './mts-auth/index.ts';

/** Every API the server serves. Adding an API: its spec, its folder, one line here. */
export const apis = [mtsAuthApi, authV3Api] as unknown as ApiDefinition<never>[];
