import type { mtsAuth } from '@polyauth/api-types';
import type { Domain, User } from '@polyauth/store';
import { defineApi, type HandlerContext } from '../../http/api-router.ts';
import { basicClientCredentials, bearerToken } from '../../http/auth-header.ts';
import { ApiError } from '../../http/errors.ts';
import { IdentifierTakenError } from '../../identity/accounts.ts';
import { PasswordPolicyError } from '../../identity/passwords.ts';
import type { Services } from '../../services.ts';
import { mtsBody } from './body.ts';
import { mtsError } from './dialect.ts';

const API = 'mts-auth';
type Schemas = mtsAuth.components['schemas'];

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

function invalidClient(): ApiError {
  return new ApiError('unauthorized', 'Client authentication failed.', {
    code: 'invalid_client',
    headers: { 'WWW-Authenticate': 'Basic realm="polyauth", charset="UTF-8"' },
  });
}

function invalidToken(): ApiError {
  return new ApiError('unauthorized', 'The access token is missing, invalid, expired or revoked.', {
    headers: { 'WWW-Authenticate': 'Bearer realm="polyauth", error="invalid_token"' },
  });
}

/** The seed's `User`, with its literal keys. */
function toUserBody(user: User, activeDomains: boolean): Schemas['User'] {
  return {
    FirstName: user.firstName,
    LastName: user.lastName,
    Email: user.email ?? '',
    ActiveDomains: activeDomains,
  };
}

/** The seed's `Domain`, with its literal keys. */
function toDomainBody(d: Domain): Schemas['Domain'] {
  return { Id: d.id, Name: d.name, Created_At: d.createdAt.toISOString() };
}

export const mtsAuthApi = defineApi({
  id: API,
  dialect: mtsError,
  before: mtsBody,
  handlers: (s: Services) => {
    const { store, tokens, accounts, clients, throttle, config, users } = s;

    /**
     * The live token row, or a 401. One indexed read: findLive already
     * refuses tokens of disabled or deleted users.
     */
    async function authenticatedToken(ctx: HandlerContext<unknown>) {
      const token = bearerToken(ctx.req.headers.authorization);
      const row = token ? await tokens.verifyJwt(API, 'access', token) : undefined;
      if (!row) throw invalidToken();
      return row;
    }

    /** The signed-in user and token, or a 401. */
    async function authenticate(ctx: HandlerContext<unknown>) {
      const row = await authenticatedToken(ctx);
      const user = await users.byId(row.userId);
      if (!user) throw invalidToken();
      return { row, user };
    }

    /** Only the user themself or an ADMIN may touch a user record. */
    function assertMayAccess(me: User, id: string): void {
      if (me.id !== id && me.role !== 'ADMIN') {
        throw new ApiError('forbidden', 'You may only access your own user record.');
      }
    }

    return {
      async authorizationServerMetadata() {
        return {
          status: 200,
          body: {
            issuer: config.publicUrl,
            token_endpoint: `${config.publicUrl}/oauth/token`,
            grant_types_supported: ['password'],
            response_types_supported: [],
            response_modes_supported: [],
            token_endpoint_auth_methods_supported: ['client_secret_basic'],
            service_documentation: `${config.publicUrl}/docs/mts-auth.html`,
          },
        };
      },

      async issueToken(ctx) {
        const basic = basicClientCredentials(ctx.req.headers.authorization);
        const client = basic && basic.secret ? await clients.verify('oauth', basic.clientId, basic.secret) : undefined;
        if (!client) throw invalidClient();

        const { username, password } = ctx.body;
        const result = await accounts.signIn({ api: API, identifier: username, password, ip: ctx.ip });
        if (!result.ok) {
          throw new ApiError('bad_request', 'The username or password is incorrect.', { code: 'invalid_grant' });
        }
        const issued = await tokens.issueJwt({
          api: API,
          kind: 'access',
          userId: result.user.id,
          clientId: client.id,
          ttl: config.tokens.accessTtl,
        });
        return {
          status: 200,
          headers: NO_STORE,
          body: { access_token: issued.token, token_type: 'Bearer', expires_in: config.tokens.accessTtl },
        };
      },

      async getCurrentUser(ctx) {
        // The hot path: the id is on the token row, no second read.
        const row = await authenticatedToken(ctx);
        return { status: 200, body: { Id: row.userId } };
      },

      async createUser(ctx) {
        const { firstName, lastName, email, password } = ctx.body;
        await throttle.limit(`register:ip:${ctx.ip}`, config.throttle.registrationsPerHour, 3600);
        try {
          const user = await accounts.register(
            { username: email, email, firstName, lastName, password },
            { api: API, ip: ctx.ip },
          );
          return { status: 201, headers: { Location: `/user/${user.id}` }, body: user.id };
        } catch (err) {
          if (err instanceof PasswordPolicyError) throw new ApiError('not_acceptable', err.message);
          if (err instanceof IdentifierTakenError) {
            throw new ApiError('not_acceptable', 'That email address is already registered.');
          }
          throw err;
        }
      },

      async getUser(ctx) {
        const { user: me } = await authenticate(ctx);
        assertMayAccess(me, ctx.params.id);
        const user = ctx.params.id === me.id ? me : await users.byId(ctx.params.id);
        if (!user) throw new ApiError('not_found', 'There is no such user.');
        return { status: 200, body: toUserBody(user, await users.inAnyDomain(user.id)) };
      },

      async updateUser(ctx) {
        const { user: me, row } = await authenticate(ctx);
        assertMayAccess(me, ctx.params.id);
        const target = ctx.params.id === me.id ? me : await store.users.byId(ctx.params.id);
        if (!target) throw new ApiError('not_found', 'There is no such user.');
        const { firstName, lastName, password } = ctx.body;
        if (password !== undefined) {
          await accounts.changePassword(target.id, password, {
            api: API,
            ip: ctx.ip,
            actorUserId: me.id,
            // The caller's own token stays valid when they change their own password.
            keepTokenId: target.id === me.id ? row.id : undefined,
          });
        }
        const updated =
          firstName !== undefined || lastName !== undefined
            ? await store.users.update(target.id, { firstName, lastName })
            : await store.users.byId(target.id);
        if (!updated) throw new ApiError('not_found', 'There is no such user.');
        const domains = await store.domains.ofUser(updated.id);
        return { status: 200, body: toUserBody(updated, domains.length > 0) };
      },

      async listDomains(ctx) {
        const { user } = await authenticate(ctx);
        const domains = user.role === 'ADMIN' ? await store.domains.all() : await store.domains.ofUser(user.id);
        if (domains.length === 0) throw new ApiError('not_found', 'The user belongs to no domain.');
        return {
          status: 200,
          body: domains.map(toDomainBody),
        };
      },

      async getDomain(ctx) {
        const { user } = await authenticate(ctx);
        const domain = await store.domains.byId(ctx.params.id);
        if (!domain) throw new ApiError('not_found', 'There is no such domain.');
        if (user.role !== 'ADMIN' && !(await store.domains.isMember(domain.id, user.id))) {
          throw new ApiError('forbidden', 'You are not a member of this domain.');
        }
        return { status: 200, body: toDomainBody(domain) };
      },
    };
  },
});
