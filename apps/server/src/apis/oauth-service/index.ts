import type { oauthService } from '@polyauth/api-types';
import type { User } from '@polyauth/store';
import { defineApi, type Handler, type HandlerContext } from '../../http/api-router.ts';
import { bearerToken } from '../../http/auth-header.ts';
import { ApiError } from '../../http/errors.ts';
import { isDatabaseUnavailable } from '../../http/to-api-error.ts';
import { IdentityError } from '../../identity/errors.ts';
import type { SessionTokens } from '../../identity/refresh-sessions.ts';
import type { Services } from '../../services.ts';
import { oauthBody } from './body.ts';
import { authenticateClient, invalidClient } from './client-auth.ts';
import { OauthApiError, oauthError } from './dialect.ts';
import { OAUTH_SERVICE_MOUNT, oauthServiceMetadata } from './metadata.ts';
import { rfc3339Seconds } from '../../http/rfc3339.ts';

const API = 'oauth-service';
const MOUNT = OAUTH_SERVICE_MOUNT;
type Ops = oauthService.operations;
type Schemas = oauthService.components['schemas'];

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

function unauthorized() {
  return new OauthApiError('unauthorized', 'Authentication required: Authorization: Bearer <access_token> with a live access token.', {
    headers: { 'WWW-Authenticate': 'Bearer realm="polyauth", error="invalid_token"' },
  });
}

function invalidGrant(message: string) {
  return new OauthApiError('bad_request', message, { code: 'invalid_grant' });
}

function toUserBody(user: User): Schemas['User'] {
  return {
    id: user.id,
    username: user.username,
    email: user.email ?? '',
    ...(user.jobTitle ? { role: user.jobTitle } : {}),
    ...(user.company ? { company: user.company } : {}),
    email_verified: user.emailVerifiedAt !== null,
    created_at: rfc3339Seconds(user.createdAt),
  };
}

function tokenBody(t: SessionTokens): Schemas['TokenResponse'] {
  return {
    access_token: t.accessToken,
    refresh_token: t.refreshToken,
    expire_at: rfc3339Seconds(t.expiresAt),
    expires_in: t.expiresIn,
    token_type: 'Bearer',
  };
}

/**
 * The seed's 500 for a write the database refused is `database_error`; an
 * unreachable database stays 503 and anything else `server_error` (logged,
 * never detailed).
 */
function guard<Op>(handler: Handler<Op>): Handler<Op> {
  return async (ctx) => {
    try {
      return await handler(ctx);
    } catch (err) {
      if (err instanceof ApiError || err instanceof IdentityError) throw err;
      const code = (err as { code?: unknown } | null)?.code;
      if (!isDatabaseUnavailable(err) && typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
        ctx.req.log?.error({ err }, 'database write refused');
        throw new OauthApiError('server_error', 'The database failed to store the change.', { code: 'database_error' });
      }
      throw err;
    }
  };
}

export const oauthServiceApi = defineApi({
  id: API,
  dialect: oauthError,
  before: oauthBody,
  handlers: (s: Services) => {
    const { tokens, accounts, signIns, clients, throttle, config, users, sessions, links } = s;
    const verifyLink = (token: string) => `${config.publicUrl}${MOUNT}/valid_email/${token}`;
    const resetLink = (token: string) => {
      const page = new URL(config.oauthService.resetPasswordPage, `${config.publicUrl}/`);
      page.searchParams.set('token', token);
      return page.toString();
    };

    async function authenticate(ctx: HandlerContext<unknown>) {
      const token = bearerToken(ctx.req.headers.authorization);
      const session = token ? await sessions.authenticate(token) : undefined;
      if (!session) throw unauthorized();
      return session;
    }

    type Introspection = Schemas['IntrospectionResponse'];
    /**
     * RFC 7662: the same live checks as every other endpoint (the session JWT
     * and its session row, the refresh token's row, through the live-token
     * cache), so a revocation anywhere is `active: false` at once.
     */
    async function introspect(token: string, hint: string | undefined): Promise<Introspection> {
      const looksLikeJwt = /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);
      const asAccess = async (): Promise<Introspection | undefined> => {
        if (!looksLikeJwt) return undefined;
        const live = await sessions.authenticate(token);
        const claims = live && tokens.decodeSessionJwt(API, token);
        if (!live || !claims) return undefined;
        return { active: true, token_type: 'Bearer', sub: live.user.id, username: live.user.username, aud: API, exp: claims.exp };
      };
      const asRefresh = async (): Promise<Introspection | undefined> => {
        const row = await tokens.findOpaque(API, 'refresh', token);
        const user = row && (await users.byId(row.userId));
        if (!row || !user || user.disabled) return undefined;
        return {
          active: true,
          token_type: 'refresh_token',
          sub: user.id,
          username: user.username,
          aud: API,
          ...(row.expiresAt ? { exp: Math.floor(row.expiresAt.getTime() / 1000) } : {}),
        };
      };
      const order = hint === 'refresh_token' ? [asRefresh, asAccess] : [asAccess, asRefresh];
      for (const attempt of order) {
        const found = await attempt();
        if (found) return found;
      }
      return { active: false };
    }

    type RegisterFields = Schemas['RegisterRequest'];
    async function register(fields: RegisterFields, ip: string) {
      if (!config.oauthService.registrationEnabled) {
        throw new OauthApiError('server_error', 'Registration of new users is disabled.', { code: 'registration_disabled' });
      }
      await throttle.limit(`register:ip:${ip}`, config.throttle.registrationsPerHour, 3600);
      if (fields.accept_terms !== 1) {
        throw new OauthApiError('bad_request', 'The terms must be accepted (accept_terms=1).', { code: 'terms_not_accepted' });
      }
      const user = await accounts.register(
        {
          username: fields.username,
          email: fields.email,
          password: fields.password,
          jobTitle: fields.role ?? null,
          company: fields.company ?? null,
          termsAcceptedAt: new Date(),
        },
        { api: API, ip },
      );
      const session = await sessions.start(user.id, null);
      await signIns.issuedAtRegistration(user, session, { api: API, ip });
      return {
        status: 200 as const,
        headers: NO_STORE,
        body: { user: toUserBody(user), access_token: session.accessToken, refreshToken: session.refreshToken },
      };
    }

    return {
      register: guard<Ops['register']>(async (ctx) => register(ctx.query, ctx.ip)),

      registerPost: guard<Ops['registerPost']>(async (ctx) => register(ctx.body, ctx.ip)),

      token: guard<Ops['token']>(async (ctx) => {
        const body = ctx.body;
        const { client, method } = await authenticateClient(clients, ctx.req, body);
        // The refresh-token grant is the seed's, open to its public client_id;
        // a client with a secret must use it for the password grant (RFC 6749 §4.3.2).
        if (body.grant_type !== 'refresh_token' && method === 'none' && client.secretHash) {
          throw invalidClient('This client has a secret: authenticate with it (HTTP Basic or client_secret) for the password grant.');
        }
        if (body.grant_type !== 'password') {
          const session = await sessions.refresh(body.refresh_token, client.id);
          if (!session) throw invalidGrant('The refresh token is unknown or was revoked.');
          return { status: 200, headers: NO_STORE, body: tokenBody(session) };
        }
        const { issued: session } = await signIns.signIn({ api: API, identifier: body.username, password: body.password, ip: ctx.ip }, (user) =>
          sessions.start(user.id, client.id),
        );
        return { status: 200, headers: NO_STORE, body: tokenBody(session) };
      }),

      introspect: guard<Ops['introspect']>(async (ctx) => {
        // RFC 7662 §2.1: the caller must authenticate; nothing at all is invalid_client too (RFC 6749 §5.2)
        if (!ctx.req.headers.authorization && ctx.body.client_id === undefined && ctx.body.client_secret === undefined) {
          throw invalidClient('Introspection needs client authentication: HTTP Basic or client_id with client_secret.');
        }
        const { method } = await authenticateClient(clients, ctx.req, ctx.body);
        if (method === 'none') throw invalidClient('Introspection needs client authentication: HTTP Basic or client_id with client_secret.');
        return { status: 200, headers: NO_STORE, body: await introspect(ctx.body.token, ctx.body.token_type_hint) };
      }),

      authorizationServerMetadata: async () => ({ status: 200 as const, body: oauthServiceMetadata(config) }),

      revoke: guard<Ops['revoke']>(async (ctx) => {
        const token = bearerToken(ctx.req.headers.authorization);
        const result = token ? await sessions.revoke(token, { api: API, ip: ctx.ip }) : { outcome: 'invalid' as const };
        if (result.outcome === 'invalid') throw unauthorized();
        if (result.outcome === 'not_found') throw new OauthApiError('not_found', 'The token was not found: it was already revoked.');
        return { status: 200, body: { success: true } };
      }),

      resetPassword: guard<Ops['resetPassword']>(async (ctx) => {
        await links.requestPasswordReset(ctx.body.email, resetLink, { api: API, ip: ctx.ip });
        return { status: 200, body: { success: true } };
      }),

      confirmResetPassword: guard<Ops['confirmResetPassword']>(async (ctx) => {
        await links.confirmPasswordReset(ctx.body.token, ctx.body.password, { api: API, ip: ctx.ip });
        return { status: 200, body: { success: true } };
      }),

      sendEmailLink: guard<Ops['sendEmailLink']>(async (ctx) => {
        const { user } = await authenticate(ctx);
        if (!user.email) throw new OauthApiError('bad_request', 'The account has no email address to verify.');
        await links.sendEmailVerification({ ...user, email: user.email }, verifyLink, { api: API, ip: ctx.ip });
        return { status: 200, body: { success: true } };
      }),

      validEmail: guard<Ops['validEmail']>(async (ctx) => {
        if (!(await links.verifyEmail(ctx.params.token, { api: API, ip: ctx.ip }))) {
          throw new OauthApiError('not_found', 'The verification link is unknown, expired or already used.');
        }
        const accept = ctx.req.headers.accept ?? '';
        if (/application\/json/i.test(accept) && !/text\/html/i.test(accept)) {
          return { status: 200, body: { success: true } };
        }
        return { status: 301, headers: { Location: config.oauthService.emailVerifiedRedirect, 'Cache-Control': 'no-store' }, body: undefined };
      }),

      validEmailHead: guard<Ops['validEmailHead']>(async (ctx) => {
        const live = await links.peekEmailVerification(ctx.params.token);
        return live ? { status: 200, headers: { 'Cache-Control': 'no-store' }, body: undefined } : { status: 404, body: undefined };
      }),
    };
  },
});
