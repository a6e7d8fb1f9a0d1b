import type { Router } from 'express';
import type { Services } from '../services.ts';
import { authV3WebRouter } from './auth-v3/web.ts';
import { OAUTH_SERVICE_METADATA_ROOT_PATH, oauthServiceMetadataRouter } from './oauth-service/metadata.ts';

/**
 * Routers served outside any API's mount, before the APIs: auth-v3's /web
 * pages, and oauth-service's RFC 8414 metadata where RFC 8414 §3.1 puts it
 * for an issuer with a path.
 */
export const routes: Array<{ path: string; router: (services: Services) => Router }> = [
  { path: '/web', router: authV3WebRouter },
  { path: OAUTH_SERVICE_METADATA_ROOT_PATH, router: oauthServiceMetadataRouter },
];
