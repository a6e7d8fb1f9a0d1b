import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { oauthService } from '@polyauth/api-types';
import { apiBaseUrl, FORM, formBody, PolyauthError, type BaseClientOptions } from './common.ts';

type Schemas = oauthService.components['schemas'];
export type OauthServiceError = Schemas['Error'];
export type OauthServiceRegistration = Schemas['Registration'];
export type OauthServiceTokens = Schemas['TokenResponse'];

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
   * `client_id` alone, as the seed's public client does.
   */
  clientSecret?: string;
  /** Tokens of an earlier session, to resume it. */
  session?: Partial<OauthServiceSession>;
  /** Called whenever the tokens change (sign-in, refresh, revoke), e.g. to persist them. */
  onSession?: (session: OauthServiceSession) => void;
}

export interface OauthServiceClient {
  /** The typed openapi-fetch client: every operation of specs/oauth-service.yaml, with the bearer token and automatic refresh. */
  readonly api: Client<oauthService.paths>;
  readonly session: Readonly<OauthServiceSession>;
  /** Registers (POST JSON) and keeps the new user's tokens. */
  register(user: Schemas['RegisterRequest']): Promise<OauthServiceRegistration>;
  /** Password grant (username or email); keeps the tokens. */
  login(username: string, password: string): Promise<OauthServiceTokens>;
  /**
   * A fresh access token from the refresh token. Concurrent callers share one
   * request. Called on its own when a call answers 401.
   */
  refresh(): Promise<OauthServiceTokens>;
  /** Revokes the refresh token and its access tokens on the server, and forgets them. */
  revoke(): Promise<void>;
  /** Forgets the tokens (they stay valid on the server: see `revoke`). */
  logout(): void;
  resetPassword(email: string): Promise<void>;
  confirmResetPassword(token: string, password: string): Promise<void>;
  sendEmailLink(): Promise<void>;
  /** Uses a verification token from the mailed link (asks for JSON, not the redirect). */
  verifyEmail(token: string): Promise<void>;
}

function fail(status: number, body: unknown): never {
  const e = body as Partial<OauthServiceError> | undefined;
  throw new PolyauthError(status, body as OauthServiceError, e?.message ?? `oauth-service answered ${status}`);
}

const JSON_ACCEPT = { accept: 'application/json' };

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
  const api = createClient<oauthService.paths>({ baseUrl: apiBaseUrl(opts.baseUrl, '/api/oauth'), fetch: fetchImpl });
  const client = clientAuthentication(opts.clientId, opts.clientSecret);

  function setSession(next: OauthServiceSession): void {
    session.accessToken = next.accessToken;
    session.refreshToken = next.refreshToken;
    opts.onSession?.({ ...session });
  }

  let refreshing: Promise<OauthServiceTokens> | undefined;
  async function doRefresh(): Promise<OauthServiceTokens> {
    const refreshToken = session.refreshToken;
    if (!refreshToken) throw new PolyauthError(401, undefined, 'No refresh token: sign in first.');
    const { data, error, response } = await api.POST('/token', {
      body: { grant_type: 'refresh_token', ...client.body, refresh_token: refreshToken },
      headers: client.headers,
      bodySerializer: formBody,
    });
    if (!data) {
      // A dead refresh token: the session is over.
      if (response.status === 400 && (error as Partial<OauthServiceError> | undefined)?.error === 'invalid_grant') {
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
    async login(username, password) {
      const { data, error, response } = await api.POST('/token', {
        body: { grant_type: 'password', ...client.body, username, password },
        headers: client.headers,
        bodySerializer: formBody,
      });
      if (!data) fail(response.status, error);
      setSession({ accessToken: data.access_token, refreshToken: data.refresh_token });
      return data;
    },
    refresh,
    async revoke() {
      const { data, error, response } = await api.POST('/revoke');
      if (!data) fail(response.status, error);
      setSession({ accessToken: undefined, refreshToken: undefined });
    },
    logout() {
      setSession({ accessToken: undefined, refreshToken: undefined });
    },
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
