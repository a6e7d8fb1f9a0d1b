import type { Logger } from 'pino';
import { createSecretBox, createStore, type Database, type Store } from '@polyauth/store';
import type { Config } from './config.ts';
import { Accounts } from './identity/accounts.ts';
import { ClientCredentials } from './identity/clients.ts';
import { SignIns } from './identity/sign-in.ts';
import { Domains } from './identity/domains.ts';
import { Impersonation } from './identity/impersonation.ts';
import { LastLoginRecorder } from './identity/last-login.ts';
import { Mailer } from './identity/mail.ts';
import { MailedLinks } from './identity/mailed-links.ts';
import { PasswordHasher } from './identity/passwords.ts';
import { Profiles } from './identity/profiles.ts';
import { Purger } from './identity/purge.ts';
import { RefreshSessions } from './identity/refresh-sessions.ts';
import { LoginThrottle } from './identity/throttle.ts';
import { TokenCache } from './identity/token-cache.ts';
import { TokenService } from './identity/tokens.ts';
import { UserCache } from './identity/user-cache.ts';

/**
 * The server's services, each built once by createServices. Handlers call the
 * use-cases (accounts, signIns, profiles, domains, sessions, links, impersonation,
 * clients, tokens); `db` and `store` are here for the composition root
 * (start-up, /readyz, the first-run bootstrap) and for tests, never for a handler.
 */
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
  /** Sign-in through any API, recorded alike. */
  signIns: SignIns;
  /** A user's record as they (or an ADMIN) read and change it. */
  profiles: Profiles;
  /** Domains and memberships. */
  domains: Domains;
  /** Write-behind of users.last_login_at (LAST_LOGIN_FLUSH_MS). */
  lastLogins: LastLoginRecorder;
  clients: ClientCredentials;
  mailer: Mailer;
  /** Password-reset and email-verification links (oauth-service); mails sent after the answer. */
  links: MailedLinks;
  /** oauth-service's refresh-token sessions and the JWT access tokens issued from them. */
  sessions: RefreshSessions;
  /** An ADMIN acting for another user (auth-v3's loginOther, its /web pages). */
  impersonation: Impersonation;
  /** Scheduled deletion of dead tokens and counters; started by `startServices`. */
  purger: Purger;
}

/**
 * The store as the server and the admin CLI open it: TOTP secrets sealed
 * with the configured key (config.totpEncryption; serve.ts and the CLI fill in
 * the development key), an undecryptable one logged and refused.
 */
export function createConfiguredStore(config: Config, knex: Database['knex'], log?: Logger): Store {
  const { key, oldKeys } = config.totpEncryption;
  if (!key) throw new Error('no TOTP encryption key: set TOTP_ENCRYPTION_KEY');
  return createStore(knex, {
    totpBox: createSecretBox(key, oldKeys),
    onUnreadableTotp: (userId, err) =>
      log?.error({ userId, reason: err.message }, 'a TOTP secret cannot be decrypted with the configured keys (TOTP_ENCRYPTION_KEY, TOTP_ENCRYPTION_KEYS_OLD); its two-factor login fails'),
  });
}

export function createServices(config: Config, db: Database, log: Logger, jwtSecret: string): Services {
  const store = createConfiguredStore(config, db.knex, log);
  const passwords = new PasswordHasher({ cost: config.bcryptCost, poolSize: config.bcryptPoolSize });
  const throttle = new LoginThrottle(store, config.throttle, jwtSecret);
  const tokenCache = new TokenCache({
    ttlSeconds: config.tokens.cacheTtl,
    maxEntries: config.tokens.cacheMaxEntries,
    changes: db.authChanges,
  });
  const lastLogins = new LastLoginRecorder(store, { flushMs: config.lastLoginFlushMs, log });
  const tokens = new TokenService(store, {
    jwtSecret,
    lastUsedGranularitySeconds: config.tokens.lastUsedGranularity,
    cache: tokenCache,
  });
  const accounts = new Accounts(store, passwords, lastLogins);
  const users = new UserCache(store, {
    ttlSeconds: config.tokens.cacheTtl,
    maxEntries: config.tokens.cacheMaxEntries,
    changes: db.authChanges,
  });
  const mailer = new Mailer({ ...config.mail, log });
  return {
    config,
    db,
    store,
    log,
    passwords,
    tokens,
    tokenCache,
    users,
    throttle,
    accounts,
    signIns: new SignIns(store, passwords, throttle, lastLogins),
    profiles: new Profiles(store, users, accounts),
    domains: new Domains(store),
    lastLogins,
    clients: new ClientCredentials(store, { cache: tokenCache }),
    mailer,
    links: new MailedLinks(
      { store, mailer, accounts, throttle, log },
      {
        linkTtlSeconds: config.oauthService.linkTtlSeconds,
        mailsPerHour: config.oauthService.mailsPerHour,
        mailsPerHourPerIp: config.oauthService.mailsPerHourPerIp,
      },
    ),
    sessions: new RefreshSessions(tokens, store, { api: 'oauth-service', accessTtl: config.tokens.accessTtl }),
    impersonation: new Impersonation(store, tokens),
    purger: new Purger(
      store,
      {
        intervalMs: config.purge.intervalSeconds * 1000,
        batchSize: config.purge.batchSize,
        retentionSeconds: config.purge.retentionSeconds,
        // A counter must outlive its longest window: the login window, and
        // the hour of the mail and registration limits.
        throttleIdleSeconds: Math.max(config.purge.retentionSeconds, config.throttle.windowSeconds, 3600),
      },
      log,
    ),
  };
}

/**
 * The start-up work that needs the database, run by serve.ts once migrated
 * and before listening: seals TOTP secrets still stored in plain text (rows
 * from before encryption; safe with several servers starting at once, each
 * row is a compare-and-set), then starts the purge schedule.
 */
export async function startServices(s: Services): Promise<void> {
  const sealed = await s.store.users.sealTotpSecrets({ all: false });
  if (sealed.sealed > 0) s.log.info({ sealed: sealed.sealed }, 'encrypted TOTP secrets stored in plain text');
  if (sealed.unreadable > 0) {
    s.log.error({ unreadable: sealed.unreadable }, 'TOTP secrets sealed under a key that is not configured (see TOTP_ENCRYPTION_KEYS_OLD)');
  }
  s.purger.start();
}

/**
 * Closes what createServices built, users before what they use: the purge
 * schedule; the mails still being sent (a reset link answered before its
 * mail left) before the mail transport; the pending last login times; the
 * caches; the worker pool last. The database is closed by its owner, after this.
 */
export async function closeServices(s: Services): Promise<void> {
  await s.purger.close();
  await s.links.drain();
  s.mailer.close();
  await s.lastLogins.close();
  s.tokenCache.close();
  s.users.close();
  await s.passwords.close();
}
