import type { Request } from 'express';
import type { Client } from '@polyauth/store';
import { basicClientCredentials } from '../../http/auth-header.ts';
import { OauthApiError } from './dialect.ts';
import type { ClientCredentials } from '../../identity/clients.ts';

/** RFC 6749 §2.3 / RFC 8414 names of the ways a client can name itself. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

export interface AuthenticatedClient {
  client: Client;
  method: ClientAuthMethod;
}

const CHALLENGE = { 'WWW-Authenticate': 'Basic realm="polyauth", charset="UTF-8"' };

/** 401 invalid_client with a Basic challenge (RFC 6749 §5.2). */
export function invalidClient(message = 'Client authentication failed.'): InstanceType<typeof OauthApiError> {
  return new OauthApiError('unauthorized', message, { code: 'invalid_client', headers: CHALLENGE });
}

function twoMethods(message: string): InstanceType<typeof OauthApiError> {
  return new OauthApiError('bad_request', `More than one client authentication method in one request: ${message}`);
}

/**
 * Who the client is, by exactly one method (RFC 6749 §2.3): HTTP Basic
 * (`client_secret_basic`), `client_id` + `client_secret` in the body
 * (`client_secret_post`), or the seed's public `client_id` alone (`none`).
 * Two methods at once are 400 invalid_request; a presented secret that is
 * wrong, or any credentials for an unknown client, are 401 invalid_client;
 * an unknown public `client_id` alone is the seed's 400 invalid_client.
 */
export async function authenticateClient(
  clients: ClientCredentials,
  req: Request,
  body: { client_id?: string; client_secret?: string },
): Promise<AuthenticatedClient> {
  const header = req.headers.authorization;
  if (header !== undefined && header !== '') {
    const basic = basicClientCredentials(header);
    if (!basic) throw invalidClient('Client authentication failed: send Authorization: Basic base64(client_id:client_secret).');
    if (body.client_secret !== undefined) throw twoMethods('an Authorization header and client_secret in the body.');
    if (body.client_id !== undefined && body.client_id !== basic.clientId) {
      throw twoMethods('the body names another client_id than the Authorization header.');
    }
    const client = await clients.verify('oauth', basic.clientId, basic.secret);
    if (!client) throw invalidClient();
    return { client, method: 'client_secret_basic' };
  }
  if (body.client_secret !== undefined) {
    if (body.client_id === undefined) throw new OauthApiError('bad_request', 'client_secret needs client_id.');
    const client = await clients.verify('oauth', body.client_id, body.client_secret);
    if (!client) throw invalidClient();
    return { client, method: 'client_secret_post' };
  }
  if (body.client_id === undefined) {
    throw new OauthApiError('bad_request', 'client_id is required (or client authentication with HTTP Basic).');
  }
  const client = await clients.find('oauth', body.client_id);
  if (!client) throw new OauthApiError('bad_request', 'Unknown client_id.', { code: 'invalid_client' });
  return { client, method: 'none' };
}
