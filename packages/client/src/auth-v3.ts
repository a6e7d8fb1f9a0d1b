import createClient from 'openapi-fetch';
import type { authV3 } from '@polyauth/api-types';
import { apiBaseUrl, NotSignedInError, PolyauthError, type BaseClientOptions, type Credentials } from './common.ts';
import { checked, type ApiClient } from './paths.ts';
import { mounts } from './mounts.ts';

type Schemas = authV3.components['schemas'];
export type AuthV3ErrorBody = Schemas['Error'];
export type AuthV3User = Schemas['User'];
export type AuthV3Login = Schemas['Login'];

/** An error answer of auth-v3: `{errorCode, errorDescription}`. */
export class AuthV3Error extends PolyauthError<AuthV3ErrorBody> {
  override name = 'AuthV3Error';
  declare readonly api: 'auth-v3';
}

export const AUTH_V3_MOUNT = mounts['auth-v3'];

export interface AuthV3Credentials extends Credentials {
  /** The current TOTP code, for a user with two-factor authentication. */
  code?: string;
}

export interface AuthV3ClientOptions extends BaseClientOptions {
  /** A token from an earlier sign-in, to start signed in. */
  token?: string;
}

export interface AuthV3Client {
  /** The typed openapi-fetch client: every operation of the auth-v3 spec (the token goes in each body). */
  readonly api: ApiClient<authV3.paths>;
  /** The token in use, if signed in. */
  readonly token: string | undefined;
  /**
   * POST /login (`username` is sent as `userName`); keeps the token. With
   * two-factor authentication pass the current TOTP `code`; without it the
   * server answers `AuthAccountTwoFactorProtected` (an AuthV3Error, 401).
   */
  signIn(credentials: AuthV3Credentials): Promise<AuthV3Login>;
  /** POST /logout: invalidates the token on the server; the client forgets it even when that call fails. */
  signOut(): Promise<void>;
  /** The signed-in user (POST /whoAmI). */
  currentUser(): Promise<AuthV3User>;
  /**
   * As a signed-in ADMIN, gets a token of another user of the organization
   * (POST /loginOther). The client keeps its own token; use the returned one
   * with `authByTokenUrl` or another client.
   */
  signInAs(username: string): Promise<AuthV3Login>;
  /** The web sign-in link for a signInAs token (single use), landing on `path`. */
  authByTokenUrl(token: string, path?: string): string;
}

function fail(status: number, body: unknown): never {
  const e = body as Partial<AuthV3ErrorBody> | undefined;
  throw new AuthV3Error('auth-v3', status, body as AuthV3ErrorBody, e?.errorDescription ?? `auth-v3 answered ${status}`);
}

/** A client of auth-v3 (`/api/v3/auth`). Every action is sent as POST with a JSON body. */
export function createAuthV3Client(opts: AuthV3ClientOptions): AuthV3Client {
  let token = opts.token;
  const root = apiBaseUrl(opts.baseUrl, '/');
  const api = checked(createClient<authV3.paths>({ baseUrl: apiBaseUrl(opts.baseUrl, AUTH_V3_MOUNT), fetch: opts.fetch }));

  const current = (): string => {
    if (!token) throw new NotSignedInError('auth-v3');
    return token;
  };

  return {
    api,
    get token() {
      return token;
    },
    async signIn({ username, password, code }) {
      const { data, error, response } = await api.POST('/login', {
        body: code === undefined ? { userName: username, password } : { userName: username, password, code },
      });
      if (!data) fail(response.status, error);
      token = data.token;
      return data;
    },
    async signOut() {
      if (!token) return;
      try {
        const { error, response } = await api.POST('/logout', { body: { token } });
        if (response.status !== 204) fail(response.status, error);
      } finally {
        token = undefined;
      }
    },
    async currentUser() {
      const { data, error, response } = await api.POST('/whoAmI', { body: { token: current() } });
      if (!data) fail(response.status, error);
      return data.user;
    },
    async signInAs(userName) {
      const { data, error, response } = await api.POST('/loginOther', { body: { token: current(), userName } });
      if (!data) fail(response.status, error);
      return data;
    },
    authByTokenUrl(loginOtherToken, path = '/') {
      return `${root}/web/login/authByToken?${new URLSearchParams({ token: loginOtherToken, url: path }).toString()}`;
    },
  };
}
