import type { Client, ClientKind, Store } from '@polyauth/store';
import { audited, type Caller } from './caller.ts';
import { randomSecret, safeEqual, sha256 } from './secrets.ts';
import type { TokenCache } from './token-cache.ts';

/** The audit log's word for a kind of client. */
function auditGroup(kind: ClientKind): string {
  return kind === 'oauth' ? 'client' : 'application';
}

export interface NewClientCredentials {
  client: Client;
  /** Shown once; only its SHA-256 is stored. */
  secret: string | undefined;
}

/**
 * OAuth clients and mint applications: public ids with 256-bit secrets
 * stored as SHA-256 hashes (the secrets are random, so a slow hash adds nothing).
 */
export class ClientCredentials {
  readonly #store: Store;
  readonly #cache: TokenCache | undefined;

  /**
   * With a cache, live clients are served from memory: every change to a
   * client is announced by the database ('*', migration
   * 20261123200000_client_change_notify) and empties it; unknown ids are
   * never cached.
   */
  constructor(store: Store, opts: { cache?: TokenCache } = {}) {
    this.#store = store;
    this.#cache = opts.cache;
  }

  #live(kind: ClientKind, clientId: string): Promise<Client | undefined> {
    if (!this.#cache) return this.#store.clients.byClientId(kind, clientId);
    return this.#cache.getShared(`client\n${kind}\n${clientId}`, () => this.#store.clients.byClientId(kind, clientId));
  }

  /** A new client; with a caller, audited (`client.create`, `application.create`) with it in one transaction. */
  async create(kind: ClientKind, name: string, opts: { withSecret?: boolean; caller?: Caller } = {}): Promise<NewClientCredentials> {
    const clientId = `${kind === 'oauth' ? 'oc' : 'app'}_${randomSecret(12)}`;
    const secret = opts.withSecret === false ? undefined : randomSecret(32);
    const caller = opts.caller;
    const client = await this.#store.knex.transaction(async (trx) => {
      const store = this.#store.withKnex(trx);
      const created = await store.clients.create({ kind, clientId, secretHash: secret ? sha256(secret) : null, name });
      if (caller) await store.audit.write({ action: `${auditGroup(kind)}.create`, ...audited(caller, null, { clientId, name }) });
      return created;
    });
    return { client, secret };
  }

  /** Every client of a kind, revoked ones too. */
  list(kind: ClientKind): Promise<Client[]> {
    return this.#store.clients.list(kind);
  }

  /**
   * Revokes a live client and every token issued through it, in one
   * transaction; undefined when there is no live client with that id.
   */
  async revoke(kind: ClientKind, clientId: string, caller: Caller): Promise<{ revokedTokens: number } | undefined> {
    return this.#store.knex.transaction(async (trx) => {
      const store = this.#store.withKnex(trx);
      const client = await store.clients.byClientId(kind, clientId);
      if (!client || !(await store.clients.revoke(kind, clientId))) return undefined;
      const revokedTokens = await store.tokens.revokeAllForClient(client.id);
      await store.audit.write({ action: `${auditGroup(kind)}.revoke`, ...audited(caller, null, { clientId, revokedTokens }) });
      return { revokedTokens };
    });
  }

  /** The client when id and secret match, in time independent of which part is wrong. */
  async verify(kind: ClientKind, clientId: string, secret: string): Promise<Client | undefined> {
    if (clientId.length > 128 || secret.length > 256) return undefined;
    const client = await this.#live(kind, clientId);
    const ok = safeEqual(sha256(secret), client?.secretHash ?? sha256(''));
    return client && client.secretHash && ok ? client : undefined;
  }

  /** A public client id (oauth-service's `client_id`), no secret involved. */
  async find(kind: ClientKind, clientId: string): Promise<Client | undefined> {
    if (clientId.length > 128) return undefined;
    return this.#live(kind, clientId);
  }
}
