import createClient, { type Client } from 'openapi-fetch';
import type { mtsAuth } from '@polyauth/api-types';
import { apiBaseUrl, authorizationMiddleware, FORM, formBody, PolyauthError, type BaseClientOptions } from './common.ts';

type Schemas = mtsAuth.components['schemas'];
export type MtsAuthError = Schemas['Error'];

export interface MtsAuthClientOptions extends BaseClientOptions {
  /** OAuth client id and secret (`npm run admin -- client create`). */
  clientId: string;
  clientSecret: string;
}

export interface MtsAuthClient {
  /** The typed openapi-fetch client: every operation of specs/mts-auth.yaml. */
  readonly api: Client<mtsAuth.paths>;
  /** The access token in use, if signed in. */
  readonly accessToken: string | undefined;
  /** Password grant; keeps the token and sends it on every later call. */
  login(username: string, password: string): Promise<Schemas['AccessToken']>;
  /** Forgets the token (it stays valid on the server until it expires). */
  logout(): void;
  /** POST /user; resolves to the new user's id (the seed's bare `"<user_id>"`). */
  register(user: Schemas['NewUser']): Promise<Schemas['NewUserId']>;
  /** GET /user: the seed's `UserId`, `{ Id }`. */
  me(): Promise<Schemas['UserId']>;
}

/**
 * Throws the answer as a PolyauthError. Its body is the seed's
 * OauthErrResponse, or, for POST /user's 406, the seed's bare
 * `"<error_message>"` string.
 */
function fail(status: number, body: unknown): never {
  if (typeof body === 'string') throw new PolyauthError<MtsAuthError | string>(status, body, body);
  const e = body as Partial<MtsAuthError> | undefined;
  throw new PolyauthError<MtsAuthError | string>(status, body as MtsAuthError, e?.error_description ?? `mts-auth answered ${status}`);
}

export function createMtsAuthClient(opts: MtsAuthClientOptions): MtsAuthClient {
  let accessToken: string | undefined;
  const api = createClient<mtsAuth.paths>({ baseUrl: apiBaseUrl(opts.baseUrl, '/'), fetch: opts.fetch });
  api.use(authorizationMiddleware(() => (accessToken ? `Bearer ${accessToken}` : undefined)));
  // RFC 6749 §2.3.1: id and secret are form-encoded, then Basic. btoa, not
  // Buffer, so the client also runs in browsers (the input is ASCII by now).
  const basic = `Basic ${btoa(`${encodeURIComponent(opts.clientId)}:${encodeURIComponent(opts.clientSecret)}`)}`;

  return {
    api,
    get accessToken() {
      return accessToken;
    },
    async login(username, password) {
      const { data, error, response } = await api.POST('/oauth/token', {
        body: { grant_type: 'password', username, password },
        headers: { authorization: basic, 'content-type': FORM },
        bodySerializer: formBody,
      });
      if (!data) fail(response.status, error);
      accessToken = data.access_token;
      return data;
    },
    logout() {
      accessToken = undefined;
    },
    async register(user) {
      const { data, error, response } = await api.POST('/user', {
        body: user,
        headers: { 'content-type': FORM },
        bodySerializer: formBody,
      });
      if (!data) fail(response.status, error);
      return data;
    },
    async me() {
      const { data, error, response } = await api.GET('/user');
      if (!data) fail(response.status, error);
      return data;
    },
  };
}
