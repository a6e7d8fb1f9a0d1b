import createClient, { type Middleware } from 'openapi-fetch';
import type { oauthService } from '@polyauth/api-types';
import { apiBaseUrl, FORM, formBody, NotSignedInError, PolyauthError, type BaseClientOptions, type Credentials } from './common.ts';
import { checked, type ApiClient } from './paths.ts';
import { mounts } from './mounts.ts';

type Schemas = oauthService.components['schemas'];
export type OauthServiceErrorBody = Schemas['Error'];
export type OauthServiceRegistration = Schemas['Registration'];
export type OauthServiceTokens = Schemas['TokenResponse'];

/** An error answer of oauth-service: `{error, message}`. */
export class OauthServiceError extends PolyauthError<OauthServiceErrorBody> {
  override name = 'OauthServiceError';
  declare readonly api: 'oauth-service';
}

export interface OauthServiceSession {
  accessToken: string | undefined;
  refreshToken: string | undefined;
}

export interface OauthServiceClientOptions extends BaseClientOptions {
  /** The id of your OAuth client (`npm run admin -- client create`). */
  clientId: string;
  /**
   * The client's secret, when it has one: sent with HTTP Basic
   * (`client_secret_basic`, RFC 6749 §2.3.1) on every token request, and
   * required for the password grant. Without it the client names itself by
   * `client_id` alone, as the legacy document's public client does.
   */
  clientSecret?: string;
  /** Tokens of an earlier session, to resume it. */
  session?: Partial<OauthServiceSession>;
  /** Called whenever the tokens change (sign-in, refresh, revoke), e.g. to persist them. */
  onSession?: (session: OauthServiceSession) => void;
}

export interface OauthServiceClient {
  /** The typed openapi-fetch client: every operation of specs/oauth-service.yaml, with the bearer token and automatic refresh. */
  readonly api: ApiClient<oauthService.paths>;
  readonly session: Readonly<OauthServiceSession>;
  /** Password grant (POST /token; `username` may be the email address); keeps the tokens. */
  signIn(credentials: Credentials): Promise<OauthServiceTokens>;
  /**
   * POST /revoke: revokes the refresh token and its access tokens on the
   * server; the client forgets them even when that call fails.
   */
  signOut(): Promise<void>;
  /**
   * A fresh access token from the refresh token (refresh_token grant).
   * Concurrent callers share one request. Called on its own, once, when a
   * call with the access token answers 401; a refused refresh token ends the
   * session (both tokens forgotten).
   */
  refresh(): Promise<OauthServiceTokens>;
  /** Registers (POST JSON) and keeps the new user's tokens. */
  register(user: Schemas['RegisterRequest']): Promise<OauthServiceRegistration>;
  resetPassword(email: string): Promise<void>;
  confirmResetPassword(token: string, password: string): Promise<void>;
  sendEmailLink(): Promise<void>;
  /** Uses a verification token from the mailed link (asks for JSON, not the redirect). */
  verifyEmail(token: string): Promise<void>;
}

function fail(status: number, body: unknown): never {
  const e = body as Partial<OauthServiceErrorBody> | undefined;
  throw new OauthServiceError('oauth-service', status, body as OauthServiceErrorBody, e?.message ?? `oauth-service answered ${status}`);
}

const JSON_ACCEPT = { accept: 'application/json' };

/** A client of oauth-service (`/api/oauth`), with automatic refresh. */
/** How a token request names the client: Basic with a secret, else the public client_id in the body. */
function clientAuthentication(clientId: string, secret: string | undefined): { headers: Record<string, string>; body: { client_id?: string } } {
  if (secret === undefined) return { headers: { 'content-type': FORM }, body: { client_id: clientId } };
  // RFC 6749 §2.3.1: id and secret are form-encoded, then Basic (btoa: the input is ASCII by now).
  const basic = `Basic ${btoa(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`)}`;
  return { headers: { 'content-type': FORM, authorization: basic }, body: {} };
}

export function createOauthServiceClient(opts: OauthServiceClientOptions): OauthServiceClient {
  const fetchImpl = opts.fetch ?? globalThis.fetch;
  const session: OauthServiceSession = {
    accessToken: opts.session?.accessToken,
    refreshToken: opts.session?.refreshToken,
  };
  const api = checked(createClient<oauthService.paths>({ baseUrl: apiBaseUrl(opts.baseUrl, mounts['oauth-service']), fetch: fetchImpl }));
  const client = clientAuthentication(opts.clientId, opts.clientSecret);

  function setSession(next: OauthServiceSession): void {
    session.accessToken = next.accessToken;
    session.refreshToken = next.refreshToken;
    opts.onSession?.({ ...session });
  }

  let refreshing: Promise<OauthServiceTokens> | undefined;
  async function doRefresh(): Promise<OauthServiceTokens> {
    const refreshToken = session.refreshToken;
    if (!refreshToken) throw new NotSignedInError('oauth-service', 'oauth-service: no refresh token (call signIn first)');
    const { data, error, response } = await api.POST('/token', {
      body: { grant_type: 'refresh_token', ...client.body, refresh_token: refreshToken },
      headers: client.headers,
      bodySerializer: formBody,
    });
    if (!data) {
      // A dead refresh token: the session is over.
      if (response.status === 400 && (error as Partial<OauthServiceErrorBody> | undefined)?.error === 'invalid_grant') {
        setSession({ accessToken: undefined, refreshToken: undefined });
      }
      fail(response.status, error);
    }
    setSession({ accessToken: data.access_token, refreshToken: data.refresh_token });
    return data;
  }
  function refresh(): Promise<OauthServiceTokens> {
    refreshing ??= doRefresh().finally(() => {
      refreshing = undefined;
    });
    return refreshing;
  }

  /** The requests sent with our access token, kept to be replayed once after a refresh. */
  const sent = new Map<string, { replay: Request; token: string }>();
  const auth: Middleware = {
    onRequest({ request, schemaPath, id }) {
      const token = session.accessToken;
      if (schemaPath === '/token' || !token || request.headers.has('authorization')) return request;
      request.headers.set('authorization', `Bearer ${token}`);
      sent.set(id, { replay: request.clone(), token });
      return request;
    },
    async onResponse({ response, id }) {
      const entry = sent.get(id);
      sent.delete(id);
      if (!entry || response.status !== 401 || !session.refreshToken) return response;
      try {
        // Someone else may have refreshed while this request was out.
        if (session.accessToken === entry.token) await refresh();
      } catch {
        return response;
      }
      if (!session.accessToken) return response;
      const retry = new Request(entry.replay);
      retry.headers.set('authorization', `Bearer ${session.accessToken}`);
      return fetchImpl(retry);
    },
    onError({ id }) {
      sent.delete(id);
    },
  };
  api.use(auth);

  return {
    api,
    get session() {
      return { ...session };
    },
    async register(user) {
      const { data, error, response } = await api.POST('/register', { body: user });
      if (!data) fail(response.status, error);
      setSession({ accessToken: data.access_token, refreshToken: data.refreshToken });
      return data;
    },
    async signIn({ username, password }) {
      const { data, error, response } = await api.POST('/token', {
        body: { grant_type: 'password', ...client.body, username, password },
        headers: client.headers,
        bodySerializer: formBody,
      });
      if (!data) fail(response.status, error);
      setSession({ accessToken: data.access_token, refreshToken: data.refresh_token });
      return data;
    },
    async signOut() {
      if (!session.accessToken && !session.refreshToken) return;
      try {
        if (!session.accessToken) await refresh();
        const { data, error, response } = await api.POST('/revoke');
        if (!data) fail(response.status, error);
      } finally {
        if (session.accessToken || session.refreshToken) setSession({ accessToken: undefined, refreshToken: undefined });
      }
    },
    refresh,
    async resetPassword(email) {
      const { data, error, response } = await api.POST('/reset_password', { body: { email } });
      if (!data) fail(response.status, error);
    },
    async confirmResetPassword(token, password) {
      const { data, error, response } = await api.POST('/reset_password/confirm', { body: { token, password } });
      if (!data) fail(response.status, error);
    },
    async sendEmailLink() {
      const { data, error, response } = await api.POST('/send_email_link');
      if (!data) fail(response.status, error);
    },
    async verifyEmail(token) {
      const { data, error, response } = await api.GET('/valid_email/{token}', {
        params: { path: { token } },
        headers: JSON_ACCEPT,
        redirect: 'manual',
      });
      if (!data && response.status !== 301) fail(response.status, error);
    },
  };
}
