import type { Logger } from 'pino';
import { createStore, type Database, type Store } from '@polyauth/store';
import type { Config } from './config.ts';
import { Accounts } from './identity/accounts.ts';
import { ClientCredentials } from './identity/clients.ts';
import { Mailer } from './identity/mail.ts';
import { PasswordHasher } from './identity/passwords.ts';
import { LoginThrottle } from './identity/throttle.ts';
import { TokenCache } from './identity/token-cache.ts';
import { TokenService } from './identity/tokens.ts';

/** Everything a handler may use. Built once per server by createServices. */
export interface Services {
  config: Config;
  db: Database;
  store: Store;
  log: Logger;
  passwords: PasswordHasher;
  tokens: TokenService;
  /** Live token rows in memory, kept exact by the database's change notifications. */
  tokenCache: TokenCache;
  throttle: LoginThrottle;
  accounts: Accounts;
  clients: ClientCredentials;
  mailer: Mailer;
}

export function createServices(config: Config, db: Database, log: Logger, jwtSecret: string): Services {
  const store = createStore(db.knex);
  const passwords = new PasswordHasher({ cost: config.bcryptCost, poolSize: config.bcryptPoolSize });
  const throttle = new LoginThrottle(store, config.throttle);
  const tokenCache = new TokenCache({
    ttlSeconds: config.tokens.cacheTtl,
    maxEntries: config.tokens.cacheMaxEntries,
    changes: db.authChanges,
  });
  return {
    config,
    db,
    store,
    log,
    passwords,
    tokens: new TokenService(store, {
      jwtSecret,
      lastUsedGranularitySeconds: config.tokens.lastUsedGranularity,
      cache: tokenCache,
    }),
    tokenCache,
    throttle,
    accounts: new Accounts(store, passwords, throttle),
    clients: new ClientCredentials(store, { cache: tokenCache }),
    mailer: new Mailer({ ...config.mail, log }),
  };
}

/** Stops the worker pool and the mail transport (the database is closed by its owner). */
export async function closeServices(s: Services): Promise<void> {
  s.tokenCache.close();
  s.mailer.close();
  await s.passwords.close();
}
