import type { Store, TokenRow, User } from '@polyauth/store';
import { audited, type Caller } from './caller.ts';
import type { TokenService } from './tokens.ts';

export interface SessionTokens {
  accessToken: string;
  /** The refresh token the access token was issued from (new, or the one presented). */
  refreshToken: string;
  /** When the access token expires. */
  expiresAt: Date;
  /** Its lifetime in seconds (RFC 6749 §5.1 `expires_in`). */
  expiresIn: number;
  /** The session (refresh token) row the access token belongs to. */
  row: TokenRow;
}

export type RevokeOutcome = 'revoked' | 'not_found' | 'invalid';

/**
 * Refresh-token sessions (oauth-service): an opaque refresh token stored
 * hashed (the session row), and JWT access tokens issued from it that have
 * no row of their own: `sid` names the session row, `cid` the client, `jti`
 * makes each one unique. An access token is good while its signature and
 * `exp` are and its session row is live, so revoking the session row (here,
 * by a password change, a disabled account, an admin's token or client
 * revocation) kills every access token issued from it at once. Neither
 * issuing nor checking one writes; both are served from the live-token
 * cache, which the database's change notifications keep exact. Refresh
 * tokens are not rotated; they live until revoked. Knows nothing of HTTP.
 */
export class RefreshSessions {
  readonly #tokens: TokenService;
  readonly #store: Store;
  readonly #api: string;
  readonly #accessTtl: number;

  constructor(tokens: TokenService, store: Store, opts: { api: string; accessTtl: number }) {
    this.#tokens = tokens;
    this.#store = store;
    this.#api = opts.api;
    this.#accessTtl = opts.accessTtl;
  }

  /** A new refresh token (one row) and a first access token issued from it. */
  async start(userId: string, clientId: string | null): Promise<SessionTokens> {
    const refresh = await this.#tokens.issueOpaque({ api: this.#api, kind: 'refresh', userId, clientId });
    return this.#issueAccess(refresh.row, refresh.token, clientId);
  }

  /**
   * A fresh access token from a live refresh token; undefined for a dead or
   * unknown one. Inserts nothing; records the use with the coalesced touch.
   */
  async refresh(refreshToken: string, clientId: string | null): Promise<SessionTokens | undefined> {
    const row = await this.#tokens.findOpaque(this.#api, 'refresh', refreshToken);
    if (!row) return undefined;
    await this.#tokens.touch(row);
    return this.#issueAccess(row, refreshToken, clientId);
  }

  /**
   * The session and user behind a live access token whose refresh token is
   * live too, or undefined.
   */
  async authenticate(accessToken: string): Promise<{ row: TokenRow; user: User } | undefined> {
    const row = await this.#tokens.verifySessionJwt(this.#api, 'refresh', accessToken);
    if (!row) return undefined;
    const user = await this.#store.users.byId(row.userId);
    return user && !user.disabled ? { row, user } : undefined;
  }

  /**
   * Revokes the refresh token an access token was issued from, which kills
   * every access token issued from it at once. `invalid`: the access token
   * is not one of ours or has expired; `not_found`: its refresh token is
   * already gone. A revocation is audited (`token.revoke`).
   */
  async revoke(accessToken: string, caller: Caller): Promise<{ outcome: RevokeOutcome; userId?: string; revoked?: number }> {
    const claims = this.#tokens.decodeSessionJwt(this.#api, accessToken);
    if (!claims) return { outcome: 'invalid' };
    const session = await this.#store.tokens.byId(claims.sid);
    if (!session || session.api !== this.#api || session.kind !== 'refresh' || session.userId !== claims.sub) {
      return { outcome: 'not_found', userId: claims.sub, revoked: 0 };
    }
    // revokeFamily also ends access-token rows a session may still have from
    // before access tokens stopped having rows of their own
    const revoked = await this.#store.tokens.revokeFamily(session.id);
    if (revoked > 0) {
      await this.#store.audit.write({ action: 'token.revoke', ...audited(caller, session.userId, { revokedTokens: revoked }) });
    }
    return { outcome: revoked > 0 ? 'revoked' : 'not_found', userId: session.userId, revoked };
  }

  #issueAccess(refresh: TokenRow, refreshToken: string, clientId: string | null): SessionTokens {
    const access = this.#tokens.signSessionJwt({ api: this.#api, userId: refresh.userId, sessionId: refresh.id, clientId, ttl: this.#accessTtl });
    return { accessToken: access.token, refreshToken, expiresAt: access.expiresAt, expiresIn: this.#accessTtl, row: refresh };
  }
}
