import createClient, { type Middleware } from 'openapi-fetch';
import type { mintAuth } from '@polyauth/api-types';
import { apiBaseUrl, PolyauthError, type BaseClientOptions, type Credentials } from './common.ts';
import { checked, type ApiClient } from './paths.ts';
import { mounts } from './mounts.ts';

type Schemas = mintAuth.components['schemas'];
export type MintAuthErrorBody = Schemas['Error'];
export type MintAccessToken = Schemas['AccessToken'];
export type MintTokenInfo = Schemas['TokenInfo'];
export type MintSignup = Omit<Schemas['SignupGrant'], 'grant_type'>;

/** An error answer of mint-auth: `{response}`. */
export class MintAuthError extends PolyauthError<MintAuthErrorBody> {
  override name = 'MintAuthError';
  declare readonly api: 'mint-auth';
}

export const MINT_AUTH_MOUNT = mounts['mint-auth'];

export interface MintAuthClientOptions extends BaseClientOptions {
  /**
   * The application's id and secret (`npm run admin -- application create`),
   * needed to sign users up; signing in needs none.
   */
  application?: { id: string; secret: string };
  /** A user token to start with (e.g. kept from an earlier session). */
  userToken?: string;
}

export interface MintAuthClient {
  /** The typed openapi-fetch client: every operation of specs/mint-auth.yaml, auth headers added. */
  readonly api: ApiClient<mintAuth.paths>;
  /** The user token in use, if signed in. */
  readonly userToken: string | undefined;
  /** Password grant (POST /auth/authorize); keeps the token and sends it on every later call. */
  signIn(credentials: Credentials): Promise<MintAccessToken>;
  /**
   * Forgets the token. mint-auth has no sign-out operation: the token stays
   * valid on the server until it expires or an administrator revokes it.
   */
  signOut(): Promise<void>;
  /** The signed-in user and token type (GET /auth/token_info). */
  currentUser(): Promise<MintTokenInfo>;
  /** Sign-up (POST /auth/register, Application authentication); keeps the new user's token. */
  register(user: MintSignup): Promise<MintAccessToken>;
}

/** `Authorization: Application <application id>:<application secret>`. */
export function applicationAuthorization(id: string, secret: string): string {
  return `Application ${id}:${secret}`;
}

/** `Authorization: UserToken <token>`. */
export function userTokenAuthorization(token: string): string {
  return `UserToken ${token}`;
}

/**
 * The spec's two header schemes as one openapi-fetch middleware, chosen per
 * operation: `Application` on POST /auth/register and on a `signup` grant
 * posted to /auth/authorize, `UserToken` on GET /auth/token_info, nothing on
 * the password grant. A request that sets its own Authorization keeps it.
 */
export function mintAuthMiddleware(creds: {
  application: () => { id: string; secret: string } | undefined;
  userToken: () => string | undefined;
}): Middleware {
  return {
    async onRequest({ request, schemaPath }) {
      if (request.headers.has('authorization')) return request;
      let value: string | undefined;
      if (schemaPath === '/auth/token_info') {
        const token = creds.userToken();
        value = token ? userTokenAuthorization(token) : undefined;
      } else if (schemaPath === '/auth/register' || (schemaPath === '/auth/authorize' && (await isSignupGrant(request)))) {
        const app = creds.application();
        value = app ? applicationAuthorization(app.id, app.secret) : undefined;
      }
      if (value) request.headers.set('authorization', value);
      return request;
    },
  };
}

async function isSignupGrant(request: Request): Promise<boolean> {
  try {
    const body = (await request.clone().json()) as { grant_type?: unknown } | null;
    return body?.grant_type === 'signup';
  } catch {
    return false;
  }
}

function fail(status: number, body: unknown): never {
  const e = body as Partial<MintAuthErrorBody> | undefined;
  throw new MintAuthError('mint-auth', status, body as MintAuthErrorBody, e?.response ?? `mint-auth answered ${status}`);
}

/** A client of mint-auth (`/mint/api/v1`). */
export function createMintAuthClient(opts: MintAuthClientOptions): MintAuthClient {
  let userToken = opts.userToken;
  const api = checked(createClient<mintAuth.paths>({ baseUrl: apiBaseUrl(opts.baseUrl, MINT_AUTH_MOUNT), fetch: opts.fetch }));
  api.use(mintAuthMiddleware({ application: () => opts.application, userToken: () => userToken }));

  return {
    api,
    get userToken() {
      return userToken;
    },
    async signIn({ username, password }) {
      const { data, error, response } = await api.POST('/auth/authorize', {
        body: { grant_type: 'password', username, password },
      });
      if (!data) fail(response.status, error);
      userToken = data.access_token;
      return data;
    },
    async register(user) {
      const { data, error, response } = await api.POST('/auth/register', { body: { grant_type: 'signup', ...user } });
      if (!data) fail(response.status, error);
      userToken = data.access_token;
      return data;
    },
    async signOut() {
      userToken = undefined;
    },
    async currentUser() {
      const { data, error, response } = await api.GET('/auth/token_info');
      if (!data) fail(response.status, error);
      return data;
    },
  };
}
