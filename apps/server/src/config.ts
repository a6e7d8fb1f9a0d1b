import { availableParallelism } from 'node:os';
import { parseSecretKey } from '@polyauth/store';

/**
 * Everything the server reads from the environment, checked at startup: each
 * bad value is reported by name, all at once. `.env.example` lists them all.
 */
export interface Config {
  env: 'development' | 'production' | 'test';
  host: string;
  port: number;
  /** Public base URL of this server, used in mailed links. */
  publicUrl: string;
  databaseUrl: string | undefined;
  /** A direct (session-mode) connection for LISTEN and migrations; defaults to databaseUrl. */
  databaseDirectUrl: string | undefined;
  dataDir: string;
  database: {
    /** Postgres statement_timeout of every pooled connection, ms; 0 = none. */
    statementTimeoutMs: number;
    /** Postgres lock_timeout of every pooled connection, ms; 0 = none. */
    lockTimeoutMs: number;
  };
  /**
   * A request that has not begun its write is answered 503 (Retry-After) at
   * this many ms after it was read; also the longest wait for a pooled
   * connection anywhere.
   */
  requestDeadlineMs: number;
  /** /readyz answers 503 when the database has not answered within this, ms. */
  readyTimeoutMs: number;
  jwtSecret: string | undefined;
  /**
   * AES-256-GCM keys for users' TOTP secrets: `key` seals (undefined outside
   * production = a random one kept in DATA_DIR), `oldKeys` still open rows
   * sealed before a rotation.
   */
  totpEncryption: { key: Buffer | undefined; oldKeys: Buffer[] };
  /** Deletion of dead rows (tokens, one-time tokens, throttle counters), see maintenance/purge.ts. */
  purge: {
    /** Seconds between runs; 0 = never. */
    intervalSeconds: number;
    /** Rows deleted per statement (and per transaction). */
    batchSize: number;
    /** Expired, revoked or used rows are kept this long after that, seconds. */
    retentionSeconds: number;
  };
  bcryptCost: number;
  bcryptPoolSize: number;
  bodyLimit: string;
  trustProxy: string | false;
  logLevel: string;
  /**
   * Bearer token for GET /metrics; undefined = open in development and test,
   * off (404) in production.
   */
  metricsToken: string | undefined;
  validateResponses: boolean;
  /** users.last_login_at is written behind, at most this often, ms; 0 = at every login. */
  lastLoginFlushMs: number;
  /** SIGTERM/SIGINT: the whole graceful stop (drain, flush, close) takes at most this long, ms. */
  shutdownTimeoutMs: number;
  tokens: {
    /** mts-auth and oauth-service access tokens, seconds. */
    accessTtl: number;
    /** mint-auth user tokens, seconds; undefined = never expire (expires_in left out). */
    mintTtl: number | undefined;
    /** user-token-auth tokens without an expirationTime, seconds; undefined = never. */
    userTokenTtl: number | undefined;
    /** auth-v3 tokens, seconds (the seed: 24 h). */
    authV3Ttl: number;
    /** Web sessions started by auth-v3's /web/login/authByToken, seconds. */
    authV3WebSessionTtl: number;
    /** Coalescing of lastUsageTime writes, seconds. */
    lastUsedGranularity: number;
    /** Live token rows served from memory for at most this long, seconds; 0 = no cache. */
    cacheTtl: number;
    cacheMaxEntries: number;
  };
  throttle: {
    enabled: boolean;
    accountMaxFailures: number;
    ipMaxFailures: number;
    windowSeconds: number;
    lockoutSeconds: number;
    maxLockoutSeconds: number;
    /** Registrations accepted per client address per hour. */
    registrationsPerHour: number;
  };
  mail: {
    smtpUrl: string | undefined;
    from: string;
    outboxDir: string;
  };
  oauthService: {
    registrationEnabled: boolean;
    emailVerifiedRedirect: string;
    resetPasswordPage: string;
    linkTtlSeconds: number;
    /** Reset and verification mails per email address per hour. */
    mailsPerHour: number;
    /** Reset and verification mails requested per client address per hour. */
    mailsPerHourPerIp: number;
  };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

/** pino's levels, quietest last. */
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const str = (name: string, fallback: string) => env[name]?.trim() || fallback;
  const int = (name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = env[name]?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return n;
  };
  const optionalSeconds = (name: string, fallback: number | undefined): number | undefined => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    if (raw === 'never' || raw === '0') return undefined;
    return int(name, fallback ?? 0, 1);
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name]?.trim().toLowerCase();
    if (!raw) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name} must be true or false (got "${raw}")`);
    return fallback;
  };

  const nodeEnv = str('NODE_ENV', 'development');
  if (!['development', 'production', 'test'].includes(nodeEnv)) {
    problems.push(`NODE_ENV must be development, production or test (got "${nodeEnv}")`);
  }
  const envName = (['development', 'production', 'test'].includes(nodeEnv) ? nodeEnv : 'development') as Config['env'];

  const bcryptCost = int('BCRYPT_COST', 12, envName === 'test' ? 4 : 10, 15);
  const jwtSecret = env.JWT_SECRET?.trim() || undefined;
  if (jwtSecret && Buffer.byteLength(jwtSecret) < 32) problems.push('JWT_SECRET must be at least 32 bytes long');
  if (!jwtSecret && envName === 'production') problems.push('JWT_SECRET is required when NODE_ENV=production');

  const totpKeyText = env.TOTP_ENCRYPTION_KEY?.trim() || undefined;
  const totpKey = totpKeyText === undefined ? undefined : parseSecretKey(totpKeyText);
  if (totpKeyText !== undefined && !totpKey) {
    problems.push('TOTP_ENCRYPTION_KEY must be 32 bytes, as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)');
  }
  if (!totpKeyText && envName === 'production') problems.push('TOTP_ENCRYPTION_KEY is required when NODE_ENV=production');
  const oldTotpKeys: Buffer[] = [];
  for (const [i, text] of (env.TOTP_ENCRYPTION_KEYS_OLD ?? '').split(/[\s,]+/).filter(Boolean).entries()) {
    const k = parseSecretKey(text);
    if (k) oldTotpKeys.push(k);
    else problems.push(`TOTP_ENCRYPTION_KEYS_OLD: key ${i + 1} must be 32 bytes, as 64 hex digits or base64`);
  }

  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const databaseDirectUrl = env.DATABASE_DIRECT_URL?.trim() || undefined;
  if (databaseDirectUrl && !/^postgres(ql)?:\/\//.test(databaseDirectUrl)) {
    problems.push('DATABASE_DIRECT_URL must be a postgres:// or postgresql:// URL');
  }
  if (databaseDirectUrl && !databaseUrl) problems.push('DATABASE_DIRECT_URL needs DATABASE_URL');
  const port = int('PORT', 3000, 0, 65535);
  const host = str('HOST', '127.0.0.1');
  const publicUrl = str('PUBLIC_URL', `http://${host === '0.0.0.0' ? 'localhost' : host}:${port}`).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(publicUrl)) problems.push(`PUBLIC_URL must be an http(s) URL (got "${publicUrl}")`);

  const smtpUrl = env.SMTP_URL?.trim() || undefined;
  if (smtpUrl && !/^smtps?:\/\//.test(smtpUrl)) problems.push('SMTP_URL must be an smtp:// or smtps:// URL');
  const dataDir = str('DATA_DIR', '.data');
  const bodyLimit = str('BODY_LIMIT', '16kb');
  if (!/^\d+(b|kb|mb)$/i.test(bodyLimit)) problems.push(`BODY_LIMIT must look like 16kb (got "${bodyLimit}")`);
  const trustProxy = env.TRUST_PROXY?.trim() || false;
  const metricsToken = env.METRICS_TOKEN?.trim() || undefined;
  if (metricsToken && Buffer.byteLength(metricsToken) < 16) problems.push('METRICS_TOKEN must be at least 16 bytes long');
  const logLevel = str('LOG_LEVEL', envName === 'test' ? 'silent' : 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${logLevel}")`);

  const config: Config = {
    env: envName,
    host,
    port,
    publicUrl,
    databaseUrl,
    databaseDirectUrl: databaseUrl ? (databaseDirectUrl ?? databaseUrl) : undefined,
    dataDir,
    database: {
      statementTimeoutMs: int('DB_STATEMENT_TIMEOUT_MS', 5000, 0, 3_600_000),
      lockTimeoutMs: int('DB_LOCK_TIMEOUT_MS', 2000, 0, 3_600_000),
    },
    requestDeadlineMs: int('REQUEST_DEADLINE_MS', 5000, 100, 600_000),
    readyTimeoutMs: int('READY_TIMEOUT_MS', 1000, 50, 60_000),
    jwtSecret,
    totpEncryption: { key: totpKey, oldKeys: oldTotpKeys },
    purge: {
      intervalSeconds: int('PURGE_INTERVAL_SECONDS', 600, 0, 86_400),
      batchSize: int('PURGE_BATCH_SIZE', 1000, 1, 100_000),
      retentionSeconds: int('PURGE_RETENTION_SECONDS', 86_400, 0, 365 * 86_400),
    },
    bcryptCost,
    bcryptPoolSize: int('BCRYPT_POOL_SIZE', Math.max(1, availableParallelism()), 1, 256),
    bodyLimit,
    trustProxy,
    logLevel,
    metricsToken,
    validateResponses: bool('VALIDATE_RESPONSES', envName === 'test'),
    lastLoginFlushMs: int('LAST_LOGIN_FLUSH_MS', 1000, 0, 60_000),
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 10_000, 500, 600_000),
    tokens: {
      accessTtl: int('ACCESS_TOKEN_TTL', 3600, 30),
      mintTtl: optionalSeconds('MINT_TOKEN_TTL', 3600),
      userTokenTtl: optionalSeconds('USER_TOKEN_TTL', undefined),
      authV3Ttl: int('AUTH_V3_TOKEN_TTL', 86_400, 30),
      authV3WebSessionTtl: int('AUTH_V3_WEB_SESSION_TTL', 28_800, 60, 31 * 86_400),
      lastUsedGranularity: int('LAST_USED_GRANULARITY', 60, 1, 86_400),
      cacheTtl: int('TOKEN_CACHE_TTL_SECONDS', 30, 0, 3600),
      cacheMaxEntries: int('TOKEN_CACHE_MAX_ENTRIES', 10_000, 1, 10_000_000),
    },
    throttle: {
      enabled: bool('THROTTLE_ENABLED', true),
      accountMaxFailures: int('THROTTLE_ACCOUNT_MAX_FAILURES', 5, 1),
      ipMaxFailures: int('THROTTLE_IP_MAX_FAILURES', 50, 1),
      windowSeconds: int('THROTTLE_WINDOW_SECONDS', 900, 1),
      lockoutSeconds: int('THROTTLE_LOCKOUT_SECONDS', 60, 1),
      maxLockoutSeconds: int('THROTTLE_MAX_LOCKOUT_SECONDS', 3600, 1),
      registrationsPerHour: int('THROTTLE_REGISTRATIONS_PER_HOUR', 20, 1),
    },
    mail: {
      smtpUrl,
      from: str('MAIL_FROM', 'polyauth <no-reply@localhost>'),
      outboxDir: str('MAIL_OUTBOX_DIR', `${dataDir}/outbox`),
    },
    oauthService: {
      registrationEnabled: bool('REGISTRATION_ENABLED', true),
      emailVerifiedRedirect: str('EMAIL_VERIFIED_REDIRECT', '/docs/'),
      resetPasswordPage: str('RESET_PASSWORD_PAGE', `${publicUrl}/docs/oauth-service.html#operation/confirmResetPassword`),
      linkTtlSeconds: int('MAIL_LINK_TTL_SECONDS', 3600, 60),
      mailsPerHour: int('MAIL_MAX_PER_HOUR', 5, 1),
      mailsPerHourPerIp: int('MAIL_MAX_PER_HOUR_PER_IP', 30, 1),
    },
  };
  if (problems.length > 0) {
    throw new ConfigError(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return config;
}
