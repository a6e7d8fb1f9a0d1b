import type { userTokenAuth } from '@polyauth/api-types';
import { defineApi, type HandlerContext } from '../../http/api-router.ts';
import { decodeBasic, parseAuthorization } from '../../http/auth-header.ts';
import { randomUUID } from '../../identity/secrets.ts';
import type { TokenRow } from '../../identity/tokens.ts';
import type { Services } from '../../services.ts';
import { invalidCredentials, negotiateJson, UtaApiError, utaError, VARY } from './dialect.ts';

const API = 'user-token-auth';
/** The `tokens.kind` of a UserToken. */
const KIND = 'user';
type UserToken = userTokenAuth.components['schemas']['UserToken'];

const NO_STORE = { 'Cache-Control': 'no-store' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** RFC 6750 §3: no `error` attribute when the request carried no bearer token at all. */
function invalidToken(message: string, sent: boolean) {
  return new UtaApiError('unauthorized', message, {
    code: 'invalid_token',
    headers: { 'WWW-Authenticate': sent ? 'Bearer realm="polyauth", error="invalid_token"' : 'Bearer realm="polyauth"' },
  });
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 date-time with an offset, refusing what Date would roll over (Feb 30, 24:00). */
function parseRfc3339(raw: string): Date | undefined {
  const m = RFC3339.exec(raw);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return undefined;
  if (h > 23 || mi > 59 || sec > 59) return undefined;
  const at = new Date(raw.replace(' ', 'T'));
  return Number.isNaN(at.getTime()) ? undefined : at;
}

/** The requested expirationTime, checked beyond the format the validator already enforced. */
function expirationOf(raw: string | undefined): Date | undefined {
  if (raw === undefined) return undefined;
  const at = parseRfc3339(raw);
  if (!at) {
    throw new UtaApiError('bad_request', `expirationTime must be an RFC 3339 date-time with a time-zone offset (got ${JSON.stringify(raw)}).`);
  }
  if (at.getTime() <= Date.now()) {
    throw new UtaApiError('bad_request', `expirationTime must be in the future (got ${raw}).`);
  }
  return at;
}

function toUserToken(token: string, row: TokenRow): UserToken {
  const body: UserToken = {
    token,
    enabled: row.enabled,
    creationTime: row.createdAt.toISOString(),
    version: row.version,
  };
  if (row.note !== null) body.note = row.note;
  if (row.expiresAt) body.expirationTime = row.expiresAt.toISOString();
  if (row.lastUsedAt) body.lastUsageTime = row.lastUsedAt.toISOString();
  return body;
}

export const userTokenAuthApi = defineApi({
  id: API,
  dialect: utaError,
  headers: VARY,
  before: () => [negotiateJson],
  handlers: (s: Services) => {
    const { tokens, accounts, signIns, throttle, config } = s;

    /**
     * The live UserToken of the Bearer header, recorded as used (coalesced),
     * or a 401 (429 once the address has sent too many refused tokens).
     */
    async function authenticate(ctx: HandlerContext<unknown>): Promise<TokenRow> {
      const header = ctx.req.headers.authorization;
      const auth = parseAuthorization(header);
      const sent = auth?.scheme === 'bearer' || /^\s*bearer\b/i.test(header ?? '');
      let reason: string;
      if (!header) reason = 'The Authorization: Bearer <token> header is missing.';
      else if (!sent) reason = 'The Authorization header must be Bearer <token>.';
      else if (auth?.scheme !== 'bearer' || !UUID.test(auth.credentials)) reason = 'The bearer token is malformed.';
      else {
        const row = await tokens.findOpaque(API, KIND, auth.credentials.toLowerCase());
        if (row) {
          await tokens.touch(row);
          return row;
        }
        reason = 'The token is unknown, expired, disabled or logged out.';
      }
      await throttle.tokenFailure(ctx.ip);
      throw invalidToken(reason, sent);
    }

    return {
      async login(ctx) {
        const body = ctx.body ?? {};
        const requested = expirationOf(body.expirationTime);

        const auth = parseAuthorization(ctx.req.headers.authorization);
        const basic = auth?.scheme === 'basic' ? decodeBasic(auth.credentials) : undefined;
        if (!basic) throw invalidCredentials();
        const token = randomUUID();
        const { issued } = await signIns.signIn({ api: API, identifier: basic.user, password: basic.password, ip: ctx.ip }, (user) =>
          tokens.issueOpaque({
            api: API,
            kind: KIND,
            userId: user.id,
            value: token,
            note: body.note ?? null,
            expiresAt: requested ?? null,
            ttl: config.tokens.userTokenTtl,
          }),
        );
        return { status: 200, headers: NO_STORE, body: toUserToken(token, issued.row) };
      },

      async bump(ctx) {
        const row = await authenticate(ctx);
        const at = await accounts.recordLogin(row.userId);
        return { status: 200, body: { lastLoginTime: at.toISOString() } };
      },

      async logout(ctx) {
        const row = await authenticate(ctx);
        // Of two racing logouts with one token, only one revokes it.
        if (!(await accounts.signOut(row, { api: API, ip: ctx.ip }, { action: 'token.revoke' }))) {
          throw invalidToken('The token is unknown, expired, disabled or logged out.', true);
        }
        return { status: 200, body: { success: true } };
      },
    };
  },
});
