import express, { type Router } from 'express';
import { mounts, type oauthService } from '@polyauth/api-types';
import type { Config } from '../../config.ts';
import type { Services } from '../../services.ts';

export const OAUTH_SERVICE_MOUNT = mounts['oauth-service'];

/**
 * Where RFC 8414 §3.1 puts the metadata of an issuer with a path: the
 * well-known segment inserted between the host and the issuer's path (the
 * same document is also served under the mount, where clients that append
 * the segment look).
 */
export const OAUTH_SERVICE_METADATA_ROOT_PATH = `/.well-known/oauth-authorization-server${OAUTH_SERVICE_MOUNT}`;

/** oauth-service's RFC 8414 authorization-server metadata: what it really serves. */
export function oauthServiceMetadata(config: Config): oauthService.components['schemas']['AuthorizationServerMetadata'] {
  const issuer = `${config.publicUrl}${OAUTH_SERVICE_MOUNT}`;
  return {
    issuer,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/introspect`,
    grant_types_supported: ['refresh_token', 'password'],
    response_types_supported: [],
    response_modes_supported: [],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    service_documentation: `${config.publicUrl}/docs/oauth-service.html`,
  };
}

/** The metadata at its RFC 8414 §3.1 location, outside the API's mount. */
export function oauthServiceMetadataRouter(services: Services): Router {
  const router = express.Router({ strict: true });
  router.get('/', (_req, res) => {
    res.json(oauthServiceMetadata(services.config));
  });
  return router;
}
