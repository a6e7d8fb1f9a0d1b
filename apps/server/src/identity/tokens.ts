import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Store, TokenRow } from '@polyauth/store';
import { randomId, randomSecret, sha256 } from './secrets.ts';
import type { TokenCache } from './token-cache.ts';

export type { TokenRow };

export interface IssuedToken {
  token: string;
  row: TokenRow;
  expiresAt: Date | null;
  /** Seconds until expiry, when it expires. */
  expiresIn: number | undefined;
}

export interface OpaqueOptions {
  api: string;
  kind: string;
  userId: string;
  /** Seconds until expiry; undefined = never. */
  ttl?: number | undefined;
  expiresAt?: Date | null;
  clientId?: string | null;
  parentId?: string | null;
  actorUserId?: string | null;
  note?: string | null;
  /** The raw token; default 256 random bits, base64url. */
  value?: string;
}

const ISSUER = 'polyauth';

export interface SessionJwt {
  token: string;
  jti: string;
  expiresAt: Date;
}

export interface SessionClaims {
  /** The session token's row id. */
  sid: string;
  /** The user id. */
  sub: string;
  jti: string;
  /** Seconds since the epoch. */
  exp: number;
  /** The row id of the OAuth client the token was issued through, if any. */
  clientId: string | null;
}

/**
 * Issues and checks tokens of every API. Only SHA-256 hashes are stored.
 * JWT access tokens (mts-auth, oauth-service) are rejected on signature,
 * audience or expiry before any database read, then looked up by `jti` so
 * that revocation takes effect at once. Live rows may come from a TokenCache,
 * which the database's change notifications keep exact (see token-cache.ts).
 */
export class TokenService {
  readonly #key: KeyObject;
  readonly #store: Store;
  readonly #granularityMs: number;
  /** token id → last time written, so lastUsedAt is not a write per request. */
  readonly #lastTouched = new Map<string, number>();
  readonly #cache: TokenCache | undefined;

  constructor(store: Store, opts: { jwtSecret: string; lastUsedGranularitySeconds: number; cache?: TokenCache }) {
    if (Buffer.byteLength(opts.jwtSecret) < 32) throw new Error('the JWT secret must be at least 32 bytes');
    this.#key = createSecretKey(Buffer.from(opts.jwtSecret, 'utf8'));
    this.#store = store;
    this.#granularityMs = opts.lastUsedGranularitySeconds * 1000;
    this.#cache = opts.cache;
  }

  /** The live row with this hash (not revoked, not expired, enabled, user not disabled). */
  #findLive(api: string, kind: string, tokenHash: string): Promise<TokenRow | undefined> {
    if (!this.#cache) return this.#store.tokens.findLive(api, kind, tokenHash);
    return this.#cache.get(cacheKey(api, kind, tokenHash), () => this.#store.tokens.findLive(api, kind, tokenHash));
  }

  async issueOpaque(o: OpaqueOptions): Promise<IssuedToken> {
    const token = o.value ?? randomSecret();
    const expiresAt = o.expiresAt ?? (o.ttl ? new Date(Date.now() + o.ttl * 1000) : null);
    const row = await this.#store.tokens.insert({
      api: o.api,
      kind: o.kind,
      tokenHash: sha256(token),
      userId: o.userId,
      clientId: o.clientId ?? null,
      parentId: o.parentId ?? null,
      actorUserId: o.actorUserId ?? null,
      note: o.note ?? null,
      expiresAt,
    });
    return { token, row, expiresAt, expiresIn: expiresAt ? secondsUntil(expiresAt) : undefined };
  }

  async findOpaque(api: string, kind: string, token: string): Promise<TokenRow | undefined> {
    if (!token || token.length > 512) return undefined;
    return this.#findLive(api, kind, sha256(token));
  }

  /** A signed JWT whose `jti` is stored (hashed) as a token row of `api`. */
  async issueJwt(o: Omit<OpaqueOptions, 'value' | 'expiresAt'> & { ttl: number }): Promise<IssuedToken> {
    const jti = randomSecret(16);
    const issued = await this.issueOpaque({ ...o, value: jti });
    const token = jwt.sign({}, this.#key, {
      algorithm: 'HS256',
      audience: o.api,
      issuer: ISSUER,
      subject: o.userId,
      jwtid: jti,
      expiresIn: o.ttl,
    });
    return { ...issued, token };
  }

  /** The live row of a JWT of `api`, or undefined for any bad, expired or revoked token. */
  async verifyJwt(api: string, kind: string, token: string): Promise<TokenRow | undefined> {
    if (!token || token.length > 2048) return undefined;
    if (!this.#cache?.enabled) return (await this.#verifyJwtUncached(api, kind, token))?.row;
    // The whole JWT is the key: the very string whose signature, audience,
    // issuer and subject were checked, served until its own exp at the latest.
    // Checking them again would cost more than the rest of the request.
    return this.#cache.get(`jwt\n${api}\n${kind}\n${sha256(token)}`, () => this.#verifyJwtUncached(api, kind, token));
  }

  async #verifyJwtUncached(api: string, kind: string, token: string): Promise<{ row: TokenRow; notAfter: number } | undefined> {
    let claims: jwt.JwtPayload;
    try {
      claims = jwt.verify(token, this.#key, { algorithms: ['HS256'], audience: api, issuer: ISSUER }) as jwt.JwtPayload;
    } catch {
      return undefined;
    }
    if (typeof claims.jti !== 'string') return undefined;
    const row = await this.#store.tokens.findLive(api, kind, sha256(claims.jti));
    if (!row || row.userId !== claims.sub) return undefined;
    return { row, notAfter: typeof claims.exp === 'number' ? claims.exp * 1000 : Infinity };
  }

  /**
   * A signed JWT with no row of its own (oauth-service access tokens): `sid`
   * is the row id of the session token it is issued from, `cid` the row id of
   * the OAuth client it is issued through (if any), `jti` 128 random bits.
   * It lives while its session row and client do, until its own `exp`.
   * Issuing one writes nothing.
   */
  signSessionJwt(o: { api: string; userId: string; sessionId: string; clientId: string | null; ttl: number }): SessionJwt {
    const jti = randomId(12);
    const exp = Math.floor(Date.now() / 1000) + o.ttl;
    // Compact, so it stays well under the 256 characters other APIs accept as
    // a token (cross-API probes must get their "invalid token" answer): no
    // `typ` header (optional, RFC 7519 §5.1), no `iat` (`exp` is what counts),
    // a 96-bit jti (unique among 2^48 tokens, never stored or looked up).
    // The claims are given as the payload, in this order, so jsonwebtoken
    // signs exactly them.
    const claims = { sid: o.sessionId, ...(o.clientId ? { cid: o.clientId } : {}), exp, aud: o.api, iss: ISSUER, sub: o.userId, jti };
    const token = jwt.sign(claims, this.#key, { algorithm: 'HS256', noTimestamp: true, header: { alg: 'HS256', typ: undefined } });
    return { token, jti, expiresAt: new Date(exp * 1000) };
  }

  /**
   * The claims of a session JWT of `api` whose signature, audience, issuer and
   * expiry are good; nothing about whether its session is still live.
   * Undefined for a bad or expired token, or a JWT without a `sid`.
   */
  decodeSessionJwt(api: string, token: string): SessionClaims | undefined {
    if (!token || token.length > 2048) return undefined;
    let claims: jwt.JwtPayload;
    try {
      claims = jwt.verify(token, this.#key, { algorithms: ['HS256'], audience: api, issuer: ISSUER }) as jwt.JwtPayload;
    } catch {
      return undefined;
    }
    const { sid, cid, sub, jti, exp } = claims as jwt.JwtPayload & { sid?: unknown; cid?: unknown };
    if (typeof sid !== 'string' || typeof sub !== 'string' || typeof jti !== 'string' || typeof exp !== 'number') return undefined;
    if (cid !== undefined && typeof cid !== 'string') return undefined;
    return { sid, sub, jti, exp, clientId: cid ?? null };
  }

  /**
   * The live session row (a `sessionKind` token of `api`) behind a session
   * JWT, or undefined: bad signature, audience, issuer or expiry, session
   * revoked, expired or of another user, user disabled, or client revoked.
   * Served from the cache by the JWT's hash (no signature check on a hit,
   * never past its exp) and, for a JWT seen for the first time, the session
   * row by its id, so neither a refresh nor a check reads the database while
   * the session is cached; every revocation is announced (token-cache.ts).
   */
  async verifySessionJwt(api: string, sessionKind: string, token: string): Promise<TokenRow | undefined> {
    if (!token || token.length > 2048) return undefined;
    if (!this.#cache?.enabled) return (await this.#verifySessionJwtUncached(api, sessionKind, token))?.row;
    return this.#cache.get(`sjwt\n${api}\n${sessionKind}\n${sha256(token)}`, () => this.#verifySessionJwtUncached(api, sessionKind, token));
  }

  async #verifySessionJwtUncached(api: string, sessionKind: string, token: string): Promise<{ row: TokenRow; notAfter: number } | undefined> {
    const claims = this.decodeSessionJwt(api, token);
    if (!claims) return undefined;
    const row = await this.findLiveById(api, sessionKind, claims.sid);
    if (!row || row.userId !== claims.sub) return undefined;
    if (claims.clientId && !(await this.#clientLive(claims.clientId))) return undefined;
    return { row, notAfter: claims.exp * 1000 };
  }

  /** Whether the OAuth client with this row id is live; through the cache (every client change empties it). */
  async #clientLive(id: string): Promise<boolean> {
    const load = async () => ((await this.#store.clients.isLive('oauth', id)) ? true : undefined);
    return (await (this.#cache ? this.#cache.getShared(`client-id\n${id}`, load) : load())) ?? false;
  }

  /** The live row with this id (same rules as by hash), through the cache. */
  findLiveById(api: string, kind: string, id: string): Promise<TokenRow | undefined> {
    if (!this.#cache) return this.#store.tokens.findLiveById(api, kind, id);
    return this.#cache.get(`id\n${api}\n${kind}\n${id}`, () => this.#store.tokens.findLiveById(api, kind, id));
  }

  /**
   * Records that a token was used, writing at most once per granularity
   * window per token (per process; several instances each coalesce).
   */
  async touch(row: TokenRow, now = new Date()): Promise<Date> {
    const last = Math.max(this.#lastTouched.get(row.id) ?? 0, row.lastUsedAt?.getTime() ?? 0);
    if (now.getTime() - last < this.#granularityMs) return new Date(last);
    this.#lastTouched.set(row.id, now.getTime());
    if (this.#lastTouched.size > 100_000) this.#lastTouched.clear();
    await this.#store.tokens.touch(row.id, now);
    // a cached row must read as the database would (lastUsedAt is not announced)
    this.#cache?.patch(row, { lastUsedAt: now });
    return now;
  }
}

function cacheKey(api: string, kind: string, tokenHash: string): string {
  return `${api}\n${kind}\n${tokenHash}`;
}

export function secondsUntil(at: Date): number {
  return Math.max(1, Math.round((at.getTime() - Date.now()) / 1000));
}
