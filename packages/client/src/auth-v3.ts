import createClient, { type Client } from 'openapi-fetch';
import type { authV3 } from '@polyauth/api-types';
import { apiBaseUrl, PolyauthError, type BaseClientOptions } from './common.ts';

type Schemas = authV3.components['schemas'];
export type AuthV3Error = Schemas['Error'];
export type AuthV3User = Schemas['User'];
export type AuthV3Login = Schemas['Login'];

export const AUTH_V3_MOUNT = '/api/v3/auth';

export interface AuthV3ClientOptions extends BaseClientOptions {
  /** A token from an earlier login, to start signed in. */
  token?: string;
}

export interface AuthV3Client {
  /** The typed openapi-fetch client: every operation of specs/auth-v3.yaml. */
  readonly api: Client<authV3.paths>;
  /** The token in use, if signed in. */
  readonly token: string | undefined;
  /**
   * Logs in and keeps the token for later calls. With two-factor
   * authentication, pass the current TOTP `code`; without it the server
   * answers `AuthAccountTwoFactorProtected` (a PolyauthError, status 401).
   */
  login(userName: string, password: string, code?: string): Promise<AuthV3Login>;
  /**
   * As a signed-in ADMIN, gets a token of another user of the organization.
   * The client keeps its own token; use the returned one with `authByTokenUrl`
   * or another client.
   */
  loginOther(userName: string): Promise<AuthV3Login>;
  whoAmI(): Promise<AuthV3User>;
  /** Invalidates the token on the server and forgets it. */
  logout(): Promise<void>;
  /** The web sign-in link for a loginOther token (single use), landing on `path`. */
  authByTokenUrl(token: string, path?: string): string;
}

function fail(status: number, body: unknown): never {
  const e = body as Partial<AuthV3Error> | undefined;
  throw new PolyauthError(status, body as AuthV3Error, e?.errorDescription ?? `auth-v3 answered ${status}`);
}

/** A client of auth-v3 (`/api/v3/auth`). Every action is sent as POST with a JSON body. */
export function createAuthV3Client(opts: AuthV3ClientOptions): AuthV3Client {
  let token = opts.token;
  const root = apiBaseUrl(opts.baseUrl, '/');
  const api = createClient<authV3.paths>({ baseUrl: apiBaseUrl(opts.baseUrl, AUTH_V3_MOUNT), fetch: opts.fetch });

  const current = (): string => {
    if (!token) throw new Error('auth-v3: not signed in (call login first)');
    return token;
  };

  return {
    api,
    get token() {
      return token;
    },
    async login(userName, password, code) {
      const { data, error, response } = await api.POST('/login', {
        body: code === undefined ? { userName, password } : { userName, password, code },
      });
      if (!data) fail(response.status, error);
      token = data.token;
      return data;
    },
    async loginOther(userName) {
      const { data, error, response } = await api.POST('/loginOther', { body: { token: current(), userName } });
      if (!data) fail(response.status, error);
      return data;
    },
    async whoAmI() {
      const { data, error, response } = await api.POST('/whoAmI', { body: { token: current() } });
      if (!data) fail(response.status, error);
      return data.user;
    },
    async logout() {
      const { error, response } = await api.POST('/logout', { body: { token: current() } });
      if (response.status !== 204) fail(response.status, error);
      token = undefined;
    },
    authByTokenUrl(loginOtherToken, path = '/') {
      return `${root}/web/login/authByToken?${new URLSearchParams({ token: loginOtherToken, url: path }).toString()}`;
    },
  };
}

