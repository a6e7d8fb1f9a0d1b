import type { Client, ClientKind, Store } from '@polyauth/store';
import { randomSecret, safeEqual, sha256 } from './secrets.ts';
import type { TokenCache } from './token-cache.ts';

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

  async create(kind: ClientKind, name: string, opts: { withSecret?: boolean } = {}): Promise<NewClientCredentials> {
    const clientId = `${kind === 'oauth' ? 'oc' : 'app'}_${randomSecret(12)}`;
    const secret = opts.withSecret === false ? undefined : randomSecret(32);
    const client = await this.#store.clients.create({ kind, clientId, secretHash: secret ? sha256(secret) : null, name });
    return { client, secret };
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
