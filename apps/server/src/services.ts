import type { Logger } from 'pino';
import { createStore, type Database, type Store } from '@polyauth/store';
import type { Config } from './config.ts';
import { Accounts } from './identity/accounts.ts';
import { ClientCredentials } from './identity/clients.ts';
import { LastLoginRecorder } from './identity/last-login.ts';
import { Mailer } from './identity/mail.ts';
import { PasswordHasher } from './identity/passwords.ts';
import { LoginThrottle } from './identity/throttle.ts';
import { TokenCache } from './identity/token-cache.ts';
import { TokenService } from './identity/tokens.ts';
import { UserCache } from './identity/user-cache.ts';

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
  /** Users (and whether they are in a domain) in memory, kept exact the same way. */
  users: UserCache;
  throttle: LoginThrottle;
  accounts: Accounts;
  /** Write-behind of users.last_login_at (LAST_LOGIN_FLUSH_MS). */
  lastLogins: LastLoginRecorder;
  clients: ClientCredentials;
  mailer: Mailer;
}

export function createServices(config: Config, db: Database, log: Logger, jwtSecret: string): Services {
  const store = createStore(db.knex);
  const passwords = new PasswordHasher({ cost: config.bcryptCost, poolSize: config.bcryptPoolSize });
  const throttle = new LoginThrottle(store, config.throttle, jwtSecret);
  const tokenCache = new TokenCache({
    ttlSeconds: config.tokens.cacheTtl,
    maxEntries: config.tokens.cacheMaxEntries,
    changes: db.authChanges,
  });
  const lastLogins = new LastLoginRecorder(store, { flushMs: config.lastLoginFlushMs, log });
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
    users: new UserCache(store, {
      ttlSeconds: config.tokens.cacheTtl,
      maxEntries: config.tokens.cacheMaxEntries,
      changes: db.authChanges,
    }),
    throttle,
    accounts: new Accounts(store, passwords, throttle, lastLogins),
    lastLogins,
    clients: new ClientCredentials(store, { cache: tokenCache }),
    mailer: new Mailer({ ...config.mail, log }),
  };
}

/**
 * Writes the pending last login times, then stops the worker pool and the
 * mail transport (the database is closed by its owner, after this).
 */
export async function closeServices(s: Services): Promise<void> {
  await s.lastLogins.close();
  s.tokenCache.close();
  s.users.close();
  s.mailer.close();
  await s.passwords.close();
}
