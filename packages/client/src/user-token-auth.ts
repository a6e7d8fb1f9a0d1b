import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { userTokenAuth } from '@polyauth/api-types';
import { apiBaseUrl, PolyauthError, type BaseClientOptions } from './common.ts';

type Schemas = userTokenAuth.components['schemas'];
export type UserToken = Schemas['UserToken'];
export type UserTokenLoginRequest = Schemas['LoginRequest'];
export type UserTokenAuthError = Schemas['Error'];

export interface UserTokenAuthCredentials {
  /** The username or email address of any polyauth user. */
  username: string;
  password: string;
}

export interface UserTokenAuthClientOptions extends BaseClientOptions {
  /** Sent as HTTP Basic on POST /login. */
  credentials?: UserTokenAuthCredentials;
  /** A UserToken `token` from an earlier login, sent as Bearer on every other call. */
  token?: string;
}

export interface UserTokenAuthClient {
  /** The typed openapi-fetch client: every operation of specs/user-token-auth.yaml, with both auth middlewares. */
  readonly api: Client<userTokenAuth.paths>;
  /** The token in use, if logged in. */
  readonly token: string | undefined;
  /** Sets the credentials used by the next login. */
  setCredentials(credentials: UserTokenAuthCredentials | undefined): void;
  /** POST /login with the credentials; keeps the token and sends it on later calls. */
  login(settings?: UserTokenLoginRequest): Promise<UserToken>;
  /** POST /bump: sets and answers the user's last login time. */
  bump(): Promise<Schemas['BumpResult']>;
  /** POST /logout: invalidates the token on the server and forgets it. */
  logout(): Promise<Schemas['LogoutResult']>;
}

/** `Basic base64(user-id:password)`, UTF-8 (RFC 7617). */
export function basicAuthorization({ username, password }: UserTokenAuthCredentials): string {
  if (username.includes(':')) throw new TypeError('a Basic user-id cannot contain a colon');
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return `Basic ${btoa(binary)}`;
}

/**
 * openapi-fetch middleware for user-token-auth: Basic credentials on
 * POST /login, the Bearer token on every other operation. A request that
 * sets its own Authorization header keeps it.
 */
export function userTokenAuthMiddleware(state: {
  credentials: () => UserTokenAuthCredentials | undefined;
  token: () => string | undefined;
}): Middleware {
  return {
    onRequest({ request, schemaPath }) {
      if (request.headers.has('authorization')) return request;
      if (schemaPath === '/login') {
        const credentials = state.credentials();
        if (credentials) request.headers.set('authorization', basicAuthorization(credentials));
      } else {
        const token = state.token();
        if (token) request.headers.set('authorization', `Bearer ${token}`);
      }
      return request;
    },
  };
}

function fail(status: number, body: unknown): never {
  const e = body as Partial<UserTokenAuthError> | undefined;
  throw new PolyauthError(status, body as UserTokenAuthError, e?.message ?? `user-token-auth answered ${status}`);
}

export function createUserTokenAuthClient(opts: UserTokenAuthClientOptions): UserTokenAuthClient {
  let credentials = opts.credentials;
  let token = opts.token;
  const api = createClient<userTokenAuth.paths>({
    baseUrl: apiBaseUrl(opts.baseUrl, '/auth'),
    fetch: opts.fetch,
    headers: { accept: 'application/json' },
  });
  api.use(userTokenAuthMiddleware({ credentials: () => credentials, token: () => token }));

  return {
    api,
    get token() {
      return token;
    },
    setCredentials(c) {
      credentials = c;
    },
    async login(settings) {
      if (!credentials) throw new TypeError('login needs credentials: pass them to the factory or to setCredentials');
      const { data, error, response } = await api.POST('/login', settings === undefined ? {} : { body: settings });
      if (!data) fail(response.status, error);
      token = data.token;
      return data;
    },
    async bump() {
      const { data, error, response } = await api.POST('/bump');
      if (!data) fail(response.status, error);
      return data;
    },
    async logout() {
      const { data, error, response } = await api.POST('/logout');
      if (!data) fail(response.status, error);
      token = undefined;
      return data;
    },
  };
}
