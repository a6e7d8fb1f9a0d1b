import createClient, { type Middleware } from 'openapi-fetch';
import type { userTokenAuth } from '@polyauth/api-types';
import { apiBaseUrl, PolyauthError, type BaseClientOptions, type Credentials } from './common.ts';
import { checked, type ApiClient } from './paths.ts';
import { mounts } from './mounts.ts';

type Schemas = userTokenAuth.components['schemas'];
export type UserToken = Schemas['UserToken'];
export type UserTokenLoginRequest = Schemas['LoginRequest'];
export type UserTokenAuthErrorBody = Schemas['Error'];

/** An error answer of user-token-auth: `{error, message}`. */
export class UserTokenAuthError extends PolyauthError<UserTokenAuthErrorBody> {
  override name = 'UserTokenAuthError';
  declare readonly api: 'user-token-auth';
}

export interface UserTokenAuthClientOptions extends BaseClientOptions {
  /** A UserToken `token` from an earlier sign-in, sent as Bearer on every call. */
  token?: string;
}

export interface UserTokenAuthClient {
  /** The typed openapi-fetch client: every operation of the user-token-auth spec, the Bearer token added. */
  readonly api: ApiClient<userTokenAuth.paths>;
  /** The token in use, if signed in. */
  readonly token: string | undefined;
  /**
   * POST /login with the credentials as HTTP Basic (they are not kept);
   * keeps the new token and sends it on later calls. `settings` are the
   * token's optional note and expiration time.
   */
  signIn(credentials: Credentials, settings?: UserTokenLoginRequest): Promise<UserToken>;
  /** POST /logout: invalidates the token on the server; the client forgets it even when that call fails. */
  signOut(): Promise<void>;
  /** POST /bump: sets and answers the user's last login time. */
  bump(): Promise<Schemas['BumpResult']>;
}

/** `Basic base64(user-id:password)`, UTF-8 (RFC 7617). */
export function basicAuthorization({ username, password }: Credentials): string {
  if (username.includes(':')) throw new TypeError('a Basic user-id cannot contain a colon');
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

function fail(status: number, body: unknown): never {
  const e = body as Partial<UserTokenAuthErrorBody> | undefined;
  throw new UserTokenAuthError('user-token-auth', status, body as UserTokenAuthErrorBody, e?.message ?? `user-token-auth answered ${status}`);
}

/** A client of user-token-auth (`/auth`). */
export function createUserTokenAuthClient(opts: UserTokenAuthClientOptions): UserTokenAuthClient {
  let token = opts.token;
  const api = checked(
    createClient<userTokenAuth.paths>({
      baseUrl: apiBaseUrl(opts.baseUrl, mounts['user-token-auth']),
      fetch: opts.fetch,
      headers: { accept: 'application/json' },
    }),
  );
  // Bearer on every operation but POST /login, which takes Basic credentials.
  const bearer: Middleware = {
    onRequest({ request, schemaPath }) {
      if (token && schemaPath !== '/login' && !request.headers.has('authorization')) request.headers.set('authorization', `Bearer ${token}`);
      return request;
    },
  };
  api.use(bearer);

  return {
    api,
    get token() {
      return token;
    },
    async signIn(credentials, settings) {
      const { data, error, response } = await api.POST('/login', {
        ...(settings === undefined ? {} : { body: settings }),
        headers: { authorization: basicAuthorization(credentials) },
      });
      if (!data) fail(response.status, error);
      token = data.token;
      return data;
    },
    async signOut() {
      if (!token) return;
      try {
        const { data, error, response } = await api.POST('/logout');
        if (!data) fail(response.status, error);
      } finally {
        token = undefined;
      }
    },
    async bump() {
      const { data, error, response } = await api.POST('/bump');
      if (!data) fail(response.status, error);
      return data;
    },
  };
}
