import createClient from 'openapi-fetch';
import type { mtsAuth } from '@polyauth/api-types';
import {
  apiBaseUrl,
  authorizationMiddleware,
  FORM,
  formBody,
  PolyauthError,
  type BaseClientOptions,
  type Credentials,
} from './common.ts';
import { checked, type ApiClient } from './paths.ts';
import { mounts } from './mounts.ts';

type Schemas = mtsAuth.components['schemas'];
/** `{code, error, error_description}`, or, for POST /user's 406, the document's bare `"<error_message>"`. */
export type MtsAuthErrorBody = Schemas['Error'] | string;
export type MtsAuthAccessToken = Schemas['AccessToken'];
export type MtsAuthUser = Schemas['User'];
export type MtsAuthNewUser = Schemas['NewUser'];
/** POST /user's answer: the new user's id, bare, as the document shows it. */
export type MtsAuthUserId = Schemas['NewUserId'];

/** An error answer of mts-auth: `{code, error, error_description}` (a bare message string for POST /user's 406). */
export class MtsAuthError extends PolyauthError<MtsAuthErrorBody> {
  override name = 'MtsAuthError';
  declare readonly api: 'mts-auth';
}

export interface MtsAuthClientOptions extends BaseClientOptions {
  /** OAuth client id and secret (`npm run admin -- client create`). */
  clientId: string;
  clientSecret: string;
  /** An access token from an earlier sign-in, to start signed in. */
  accessToken?: string;
}

export interface MtsAuthClient {
  /** The typed openapi-fetch client: every operation of the mts-auth spec, the bearer token added. */
  readonly api: ApiClient<mtsAuth.paths>;
  /** The access token in use, if signed in. */
  readonly accessToken: string | undefined;
  /** Password grant (POST /oauth/token, the client's Basic credentials); keeps the token for later calls. */
  signIn(credentials: Credentials): Promise<MtsAuthAccessToken>;
  /**
   * Forgets the token. mts-auth has no sign-out operation: the token stays
   * valid on the server until it expires.
   */
  signOut(): Promise<void>;
  /** The signed-in user's record (GET /user, then GET /user/{id}). */
  currentUser(): Promise<MtsAuthUser>;
  /** Creates a user (POST /user); does not sign in. */
  register(user: MtsAuthNewUser): Promise<MtsAuthUserId>;
}

function fail(status: number, body: unknown): never {
  if (typeof body === 'string') throw new MtsAuthError('mts-auth', status, body, body);
  const e = body as Partial<Schemas['Error']> | undefined;
  throw new MtsAuthError('mts-auth', status, body as MtsAuthErrorBody, e?.error_description ?? `mts-auth answered ${status}`);
}

/** A client of mts-auth (mounted at `/`). */
export function createMtsAuthClient(opts: MtsAuthClientOptions): MtsAuthClient {
  let accessToken = opts.accessToken;
  const api = checked(createClient<mtsAuth.paths>({ baseUrl: apiBaseUrl(opts.baseUrl, mounts['mts-auth']), fetch: opts.fetch }));
  api.use(authorizationMiddleware(() => (accessToken ? `Bearer ${accessToken}` : undefined)));
  // RFC 6749 §2.3.1: id and secret are form-encoded, then Basic. btoa, not
  // Buffer, so the client also runs in browsers (the input is ASCII by now).
  const basic = `Basic ${btoa(`${encodeURIComponent(opts.clientId)}:${encodeURIComponent(opts.clientSecret)}`)}`;

  return {
    api,
    get accessToken() {
      return accessToken;
    },
    async signIn({ username, password }) {
      const { data, error, response } = await api.POST('/oauth/token', {
        body: { grant_type: 'password', username, password },
        headers: { authorization: basic, 'content-type': FORM },
        bodySerializer: formBody,
      });
      if (!data) fail(response.status, error);
      accessToken = data.access_token;
      return data;
    },
    async signOut() {
      accessToken = undefined;
    },
    async currentUser() {
      const me = await api.GET('/user');
      if (!me.data) fail(me.response.status, me.error);
      const { data, error, response } = await api.GET('/user/{id}', { params: { path: { id: me.data.Id } } });
      if (!data) fail(response.status, error);
      return data;
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
  };
}
