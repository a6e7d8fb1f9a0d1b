import type { Store, TokenRow, User } from '@polyauth/store';
import { IdentityError } from './errors.ts';
import { randomSecret } from './secrets.ts';
import { cutText } from './text.ts';
import type { IssuedToken, TokenService } from './tokens.ts';

export interface ActAsResult {
  target: User;
  issued: IssuedToken;
}

export interface ActAsRequest {
  api: string;
  kind: string;
  /** The signed-in user asking, and the token they signed in with. */
  actor: User;
  actorToken: TokenRow;
  targetIdentifier: string;
  expiresAt: Date;
  ip: string;
  /** The raw token to hand out, given the target's id (its format is the API's). */
  tokenValue: (targetUserId: string) => string;
}

export interface WebSession {
  /** The raw cookie value, shown once; only its hash is stored. */
  value: string;
  user: User;
  expiresAt: Date;
}

/** Postgres text cannot hold NUL: such a name matches nobody, and is logged with NUL replaced. */
function withoutNul(s: string): string {
  return s.replaceAll('\0', '\uFFFD');
}

/** Web sessions are tokens of their own scope, so no API accepts them. */
export const WEB_SESSION_API = 'web';
const WEB_SESSION_KIND = 'session';

/**
 * An ADMIN acting for another user of their organization (auth-v3's
 * loginOther and authByToken), and the web sessions that come of it. Every
 * step is audited with the actor and the target. Knows nothing of HTTP.
 */
export class Impersonation {
  readonly #store: Store;
  readonly #tokens: TokenService;

  constructor(store: Store, tokens: TokenService) {
    this.#store = store;
    this.#tokens = tokens;
  }

  /**
   * Issues a token of the target user that records the actor. Only an ADMIN
   * whose own token was not itself issued this way (no chains hiding the real
   * actor) may ask, and only for an enabled user sharing a domain with them.
   * The actor's rights are checked before the target is looked up, so a
   * refused caller learns nothing about who exists. Throws IdentityError
   * `forbidden` (the actor may not act for anyone) or `not_found` (no such
   * user they may act for).
   */
  async issue(request: ActAsRequest): Promise<ActAsResult> {
    const r = { ...request, targetIdentifier: withoutNul(request.targetIdentifier) };
    const refuse = async (reason: 'forbidden' | 'not_found', target?: User) => {
      await this.#store.audit.write({
        api: r.api,
        action: 'impersonation.refused',
        actorUserId: r.actor.id,
        targetUserId: target?.id ?? null,
        ip: r.ip,
        detail: { reason, identifier: cutText(r.targetIdentifier, 254) },
      });
      throw reason === 'forbidden'
        ? IdentityError.forbidden('Only an ADMIN may log in as another user.')
        : IdentityError.notFound('There is no user with that name in your organization.');
    };
    if (r.actor.role !== 'ADMIN' || r.actorToken.actorUserId !== null) return refuse('forbidden');
    const target = r.targetIdentifier.length <= 254 ? await this.#store.users.byIdentifier(r.targetIdentifier) : undefined;
    if (!target || target.disabled || !(await this.#store.domains.shareDomain(r.actor.id, target.id))) {
      return refuse('not_found', target);
    }
    const issued = await this.#tokens.issueOpaque({
      api: r.api,
      kind: r.kind,
      userId: target.id,
      actorUserId: r.actor.id,
      expiresAt: r.expiresAt,
      value: r.tokenValue(target.id),
      note: 'loginOther',
    });
    await this.#store.audit.write({
      api: r.api,
      action: 'impersonation.token',
      actorUserId: r.actor.id,
      targetUserId: target.id,
      ip: r.ip,
      detail: { tokenId: issued.row.id },
    });
    return { target, issued };
  }

  /**
   * Consumes a token issued by `issue` (once: of two concurrent callers one
   * wins) and starts a web session for its user that still records the
   * actor. Undefined for any other, used, expired or unknown token.
   */
  async startWebSession(o: { api: string; kind: string; token: string; ttl: number; ip: string }): Promise<WebSession | undefined> {
    const row = await this.#tokens.findOpaque(o.api, o.kind, o.token);
    if (!row || row.actorUserId === null) return undefined;
    if (!(await this.#store.tokens.consume(row.id))) return undefined;
    const user = await this.#store.users.byId(row.userId);
    if (!user || user.disabled) return undefined;
    const value = randomSecret();
    const session = await this.#tokens.issueOpaque({
      api: WEB_SESSION_API,
      kind: WEB_SESSION_KIND,
      userId: user.id,
      actorUserId: row.actorUserId,
      ttl: o.ttl,
      value,
      note: 'authByToken',
    });
    await this.#store.audit.write({
      api: o.api,
      action: 'impersonation.web_session',
      actorUserId: row.actorUserId,
      targetUserId: user.id,
      ip: o.ip,
      detail: { consumedTokenId: row.id, sessionId: session.row.id },
    });
    return { value, user, expiresAt: session.expiresAt! };
  }

  /** The live web session for a cookie value, with its user and the actor, if any. */
  async webSession(value: string): Promise<{ row: TokenRow; user: User; actor: User | undefined } | undefined> {
    const row = await this.#tokens.findOpaque(WEB_SESSION_API, WEB_SESSION_KIND, value);
    if (!row) return undefined;
    const user = await this.#store.users.byId(row.userId);
    if (!user) return undefined;
    const actor = row.actorUserId ? await this.#store.users.byId(row.actorUserId) : undefined;
    return { row, user, actor };
  }

  /** Ends a web session at once. */
  async endWebSession(value: string, ip: string): Promise<boolean> {
    const found = await this.webSession(value);
    if (!found) return false;
    const ended = await this.#store.tokens.consume(found.row.id);
    if (ended) {
      await this.#store.audit.write({
        api: WEB_SESSION_API,
        action: 'web.logout',
        actorUserId: found.row.actorUserId ?? found.user.id,
        targetUserId: found.user.id,
        ip,
      });
    }
    return ended;
  }
}
