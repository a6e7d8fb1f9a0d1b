import jwt from 'jsonwebtoken';
import type { Store, TokenRow, User } from '@polyauth/store';
import type { TokenService } from './tokens.ts';

export interface SessionTokens {
  accessToken: string;
  /** The refresh token the access token was issued from (new, or the one presented). */
  refreshToken: string;
  /** When the access token expires. */
  expiresAt: Date;
}

export type RevokeOutcome = 'revoked' | 'not_found' | 'invalid';

/**
 * Refresh-token sessions (oauth-service): an opaque refresh token stored
 * hashed, and JWT access tokens issued from it (`parent_id`). Refresh tokens
 * are not rotated; they live until revoked (here, or by a password change).
 * Revoking one kills its access tokens in the same UPDATE. Knows nothing of HTTP.
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

  /** A new refresh token and a first access token issued from it. */
  async start(userId: string, clientId: string | null): Promise<SessionTokens> {
    const refresh = await this.#tokens.issueOpaque({ api: this.#api, kind: 'refresh', userId, clientId });
    return this.#issueAccess(refresh.row, refresh.token);
  }

  /** A fresh access token from a live refresh token; undefined for a dead or unknown one. */
  async refresh(refreshToken: string, clientId: string | null): Promise<SessionTokens | undefined> {
    const row = await this.#tokens.findOpaque(this.#api, 'refresh', refreshToken);
    if (!row) return undefined;
    return this.#issueAccess(row, refreshToken, clientId);
  }

  /**
   * The user behind a live access token whose refresh token is live too (so
   * an access token issued while its refresh token was being revoked dies
   * with it), or undefined.
   */
  async authenticate(accessToken: string): Promise<{ row: TokenRow; user: User } | undefined> {
    const row = await this.#tokens.verifyJwt(this.#api, 'access', accessToken);
    if (!row) return undefined;
    if (row.parentId) {
      if (!(await this.#store.tokens.isLive(row.parentId))) return undefined;
    }
    const user = await this.#store.users.byId(row.userId);
    return user && !user.disabled ? { row, user } : undefined;
  }

  /**
   * Revokes the refresh token an access token was issued from, and every
   * access token issued from it, at once. `invalid`: the access token is not
   * one of ours or has expired; `not_found`: its refresh token is already gone.
   */
  async revoke(accessToken: string): Promise<{ outcome: RevokeOutcome; userId?: string; revoked?: number }> {
    const row = await this.#tokens.findJwt(this.#api, 'access', accessToken);
    if (!row) return { outcome: 'invalid' };
    const revoked = await this.#store.tokens.revokeFamily(row.parentId ?? row.id);
    return { outcome: revoked > 0 ? 'revoked' : 'not_found', userId: row.userId, revoked };
  }

  async #issueAccess(refresh: TokenRow, refreshToken: string, clientId: string | null = refresh.clientId): Promise<SessionTokens> {
    const access = await this.#tokens.issueJwt({
      api: this.#api,
      kind: 'access',
      userId: refresh.userId,
      clientId,
      parentId: refresh.id,
      ttl: this.#accessTtl,
    });
    // The JWT's own `exp`, so the answered expiry and the token agree to the second.
    const { exp } = jwt.decode(access.token) as jwt.JwtPayload;
    return { accessToken: access.token, refreshToken, expiresAt: new Date(exp! * 1000) };
  }
}
