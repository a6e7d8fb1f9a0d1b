import type { mtsAuth } from '@polyauth/api-types';
import type { Domain, User } from '@polyauth/store';
import { defineApi, type HandlerContext } from '../../http/api-router.ts';
import { basicClientCredentials, bearerToken } from '../../http/auth-header.ts';
import type { Services } from '../../services.ts';
import { mtsBody } from './body.ts';
import { MtsApiError, mtsError } from './dialect.ts';

const API = 'mts-auth';
type Schemas = mtsAuth.components['schemas'];

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

function invalidClient() {
  return new MtsApiError('unauthorized', 'Client authentication failed.', {
    code: 'invalid_client',
    headers: { 'WWW-Authenticate': 'Basic realm="polyauth", charset="UTF-8"' },
  });
}

function invalidToken() {
  return new MtsApiError('unauthorized', 'The access token is missing, invalid, expired or revoked.', {
    headers: { 'WWW-Authenticate': 'Bearer realm="polyauth", error="invalid_token"' },
  });
}

/** The seed's `User`, with its literal keys. */
function toUserBody(user: Readonly<User>, activeDomains: boolean): Schemas['User'] {
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
    const { tokens, accounts, signIns, profiles, domains, clients, throttle, config, users } = s;

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
        const { issued } = await signIns.signIn({ api: API, identifier: username, password, ip: ctx.ip }, (user) =>
          tokens.issueJwt({ api: API, kind: 'access', userId: user.id, clientId: client.id, ttl: config.tokens.accessTtl }),
        );
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
        const user = await accounts.register({ username: email, email, firstName, lastName, password }, { api: API, ip: ctx.ip });
        return { status: 201, headers: { Location: `/user/${user.id}` }, body: user.id };
      },

      async getUser(ctx) {
        const { user: me } = await authenticate(ctx);
        const { user, inAnyDomain } = await profiles.read(me, ctx.params.id);
        return { status: 200, body: toUserBody(user, inAnyDomain) };
      },

      async updateUser(ctx) {
        const { user: me, row } = await authenticate(ctx);
        const { firstName, lastName, password } = ctx.body;
        const { user, inAnyDomain } = await profiles.update(me, row, ctx.params.id, { firstName, lastName, password }, { api: API, ip: ctx.ip });
        return { status: 200, body: toUserBody(user, inAnyDomain) };
      },

      async listDomains(ctx) {
        const { user } = await authenticate(ctx);
        const visible = await domains.visibleTo(user);
        if (visible.length === 0) throw new MtsApiError('not_found', 'The user belongs to no domain.');
        return { status: 200, body: visible.map(toDomainBody) };
      },

      async getDomain(ctx) {
        const { user } = await authenticate(ctx);
        return { status: 200, body: toDomainBody(await domains.get(user, ctx.params.id)) };
      },
    };
  },
});
