import type { authV3 } from '@polyauth/api-types';
import type { TokenRow, User } from '@polyauth/store';
import { defineApi, type Reply } from '../../http/api-router.ts';
import { randomHex } from '../../identity/secrets.ts';
import type { Services } from '../../services.ts';
import { AuthV3ApiError, authV3Error } from './dialect.ts';
import { AUTH_V3, AUTH_V3_TOKEN_KIND, parseAuthV3Token } from './token.ts';
import { rfc3339Seconds } from '../../http/rfc3339.ts';

type Ops = authV3.operations;
type Schemas = authV3.components['schemas'];

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

const tokenInvalid = () => new AuthV3ApiError('unauthorized', 'The token is invalid or has expired.', { code: 'AuthTokenInvalid' });

function toUser(u: User): Schemas['User'] {
  return { id: Number(u.id), firstName: u.firstName, lastName: u.lastName, userName: u.username, role: u.role };
}

/** `<userId>-<32 lowercase hex>`: 128 random bits after the user id. */
function newTokenValue(userId: string): string {
  return `${userId}-${randomHex(16)}`;
}

export const authV3Api = defineApi({
  id: AUTH_V3,
  dialect: authV3Error,
  headers: NO_STORE,
  handlers: (s: Services) => {
    const { tokens, accounts, signIns, config, users, impersonation } = s;

    /** Whole seconds, so the `expires` answered is exactly the one stored. */
    const expiry = () => new Date((Math.floor(Date.now() / 1000) + config.tokens.authV3Ttl) * 1000);

    /** The live auth-v3 token and its user, or 401 AuthTokenInvalid. */
    async function authenticate(token: string): Promise<{ row: TokenRow; user: User }> {
      const parsed = parseAuthV3Token(token);
      const row = parsed ? await tokens.findOpaque(AUTH_V3, AUTH_V3_TOKEN_KIND, token) : undefined;
      if (!parsed || !row || row.userId !== parsed.userId) throw tokenInvalid();
      const user = await users.byId(row.userId);
      if (!user || user.disabled) throw tokenInvalid();
      await tokens.touch(row);
      return { row, user };
    }

    type LoggedIn = Reply<Ops['loginPost']> & { status: 200 };
    function loggedIn(user: User, token: string, expiresAt: Date): LoggedIn {
      return { status: 200, body: { user: toUser(user), token, expires: rfc3339Seconds(expiresAt) } };
    }

    async function login(p: Schemas['LoginRequest'], ip: string): Promise<LoggedIn> {
      const expiresAt = expiry();
      const { user, issued } = await signIns.signIn(
        { api: AUTH_V3, identifier: p.userName, password: p.password, ip, secondFactor: { code: p.code } },
        (u) => tokens.issueOpaque({ api: AUTH_V3, kind: AUTH_V3_TOKEN_KIND, userId: u.id, expiresAt, value: newTokenValue(u.id) }),
      );
      return loggedIn(user, issued.token, expiresAt);
    }

    async function loginOther(p: Schemas['LoginOtherRequest'], ip: string): Promise<LoggedIn> {
      const { row, user } = await authenticate(p.token);
      const expiresAt = expiry();
      const { target, issued } = await impersonation.issue({
        api: AUTH_V3,
        kind: AUTH_V3_TOKEN_KIND,
        actor: user,
        actorToken: row,
        targetIdentifier: p.userName,
        expiresAt,
        ip,
        tokenValue: newTokenValue,
      });
      return loggedIn(target, issued.token, expiresAt);
    }

    async function logout(p: Schemas['TokenRequest'], ip: string): Promise<{ status: 204; body: undefined }> {
      const { row } = await authenticate(p.token);
      if (!(await accounts.signOut(row, { api: AUTH_V3, ip }))) throw tokenInvalid();
      return { status: 204, body: undefined };
    }

    async function whoAmI(p: Schemas['TokenRequest']): Promise<{ status: 200; body: Schemas['WhoAmI'] }> {
      const { user } = await authenticate(p.token);
      return { status: 200, body: { user: toUser(user) } };
    }

    return {
      login: (ctx) => login(ctx.query, ctx.ip),
      loginPost: (ctx) => login(ctx.body, ctx.ip),
      loginOther: (ctx) => loginOther(ctx.query, ctx.ip),
      loginOtherPost: (ctx) => loginOther(ctx.body, ctx.ip),
      logout: (ctx) => logout(ctx.query, ctx.ip),
      logoutPost: (ctx) => logout(ctx.body, ctx.ip),
      whoAmI: (ctx) => whoAmI(ctx.query),
      whoAmIPost: (ctx) => whoAmI(ctx.body),
    };
  },
});
