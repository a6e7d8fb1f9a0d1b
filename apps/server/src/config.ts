import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { parseSecretKey } from '@polyauth/store';

/**
 * Everything the server reads from the environment, checked at startup by
 * one zod schema (`envSchema`): each bad value is reported by name, all at once. `.env.example` lists them all.
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
  /** Deletion of dead rows (tokens, one-time tokens, throttle counters), see identity/purge.ts. */
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
const ENVS = ['development', 'production', 'test'] as const;
const POSTGRES_URL = /^postgres(ql)?:\/\//;

/*
 * One zod schema per variable, over the raw environment: a blank or unset
 * variable is its default, and every check's message names the variable and
 * the value it got (the messages are the configuration's documentation).
 */

/** The trimmed value, or undefined when unset or blank. */
const given = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);

function text(fallback: string) {
  return z.preprocess(given, z.string().default(fallback));
}

function optionalText() {
  return z.preprocess(given, z.string().optional());
}

/** A whole number in [min, max] (as `Number()` reads it: `1e3` and `0x10` too). */
function intOf(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) {
  const error = () => `${name} must be a whole number from ${min} to ${max} (got "${given(env[name])}")`;
  return z.preprocess(
    given,
    z
      .string()
      .pipe(z.coerce.number<string>({ error }).int({ error }).min(min, { error }).max(max, { error }))
      .default(fallback),
  );
}

/** Seconds, or `never`/`0` for none. */
function optionalSecondsOf(env: Env, name: string, fallback: number | undefined) {
  const error = () => `${name} must be a whole number from 1 to ${Number.MAX_SAFE_INTEGER} (got "${given(env[name])}")`;
  return z.preprocess(
    given,
    z
      .union([z.enum(['never', '0']).transform(() => null), z.string().pipe(z.coerce.number<string>({ error }).int({ error }).min(1, { error }))], { error })
      .optional()
      .transform((v) => (v === undefined ? fallback : (v ?? undefined))),
  );
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];
function bool(name: string, fallback: boolean) {
  return z.preprocess(
    (v) => given(v)?.toLowerCase(),
    z
      .enum([...TRUE, ...FALSE], { error: (iss) => `${name} must be true or false (got "${rawOf(iss.input)}")` })
      .transform((v) => TRUE.includes(v))
      .default(fallback),
  );
}

/** A URL of one of the schemes `re` allows, optional. */
function url(re: RegExp, message: string) {
  return z.preprocess(given, z.string().regex(re, { error: message }).optional());
}

/** A secret of at least `bytes` bytes (UTF-8); optional unless `required` (the message when it is missing). */
function secret(bytes: number, message: string, required?: string) {
  const value = z.string({ error: required }).refine((v) => Buffer.byteLength(v) >= bytes, { error: message });
  return z.preprocess(given, required ? value : value.optional());
}

/** A 32-byte key (64 hex digits or base64); optional unless `required` (the message when it is missing). */
function totpKey(required?: string) {
  const key = z
    .string({ error: required })
    .transform((v, ctx) => parseSecretKey(v) ?? (ctx.addIssue({ code: 'custom', message: 'TOTP_ENCRYPTION_KEY must be 32 bytes, as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)' }), z.NEVER));
  return z.preprocess(given, required ? key : key.optional());
}

/** Keys still accepted after a rotation, separated by commas or spaces. */
const oldTotpKeys = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(/[\s,]+/).filter(Boolean) : []),
  z.array(z.string()).transform((texts, ctx) =>
    texts.map((t, i) => {
      const key = parseSecretKey(t);
      if (!key) ctx.addIssue({ code: 'custom', message: `TOTP_ENCRYPTION_KEYS_OLD: key ${i + 1} must be 32 bytes, as 64 hex digits or base64` });
      return key ?? Buffer.alloc(0);
    }),
  ),
);

function rawOf(input: unknown): string {
  return typeof input === 'string' ? input : String(input);
}

/**
 * The schema of the environment `env`; what depends on NODE_ENV (and on
 * DATABASE_URL being set) is decided first. `env` is also where a message
 * reads the value it quotes.
 */
function envSchema(env: Env, envName: Config['env']) {
  const production = envName === 'production';
  const requiredInProduction = (name: string) => (production ? `${name} is required when NODE_ENV=production` : undefined);
  const hasDatabaseUrl = given(env.DATABASE_URL) !== undefined;
  const int = (name: string, fallback: number, min: number, max?: number) => intOf(env, name, fallback, min, max);
  const optionalSeconds = (name: string, fallback: number | undefined) => optionalSecondsOf(env, name, fallback);
  return z.object({
    NODE_ENV: z.preprocess(given, z.string().default('development')),
    BCRYPT_COST: int('BCRYPT_COST', 12, envName === 'test' ? 4 : 10, 15),
    JWT_SECRET: secret(32, 'JWT_SECRET must be at least 32 bytes long', requiredInProduction('JWT_SECRET')),
    TOTP_ENCRYPTION_KEY: totpKey(requiredInProduction('TOTP_ENCRYPTION_KEY')),
    TOTP_ENCRYPTION_KEYS_OLD: oldTotpKeys,
    DATABASE_URL: url(POSTGRES_URL, 'DATABASE_URL must be a postgres:// or postgresql:// URL'),
    DATABASE_DIRECT_URL: url(POSTGRES_URL, 'DATABASE_DIRECT_URL must be a postgres:// or postgresql:// URL').refine((v) => v === undefined || hasDatabaseUrl, {
      error: 'DATABASE_DIRECT_URL needs DATABASE_URL',
    }),
    PORT: int('PORT', 3000, 0, 65535),
    HOST: text('127.0.0.1'),
    PUBLIC_URL: z.preprocess(
      given,
      z
        .string()
        .transform((v) => v.replace(/\/+$/, ''))
        .refine((v) => /^https?:\/\/[^/]+/.test(v), { error: (iss) => `PUBLIC_URL must be an http(s) URL (got "${rawOf(iss.input)}")` })
        .optional(),
    ),
    SMTP_URL: url(/^smtps?:\/\//, 'SMTP_URL must be an smtp:// or smtps:// URL'),
    DATA_DIR: text('.data'),
    BODY_LIMIT: z.preprocess(given, z.string().regex(/^\d+(b|kb|mb)$/i, { error: (iss) => `BODY_LIMIT must look like 16kb (got "${rawOf(iss.input)}")` }).default('16kb')),
    TRUST_PROXY: optionalText(),
    METRICS_TOKEN: secret(16, 'METRICS_TOKEN must be at least 16 bytes long'),
    LOG_LEVEL: z.preprocess(
      (v) => given(v)?.toLowerCase(),
      z.enum(LOG_LEVELS, { error: (iss) => `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${rawOf(iss.input)}")` }).default(envName === 'test' ? 'silent' : 'info'),
    ),
    DB_STATEMENT_TIMEOUT_MS: int('DB_STATEMENT_TIMEOUT_MS', 5000, 0, 3_600_000),
    DB_LOCK_TIMEOUT_MS: int('DB_LOCK_TIMEOUT_MS', 2000, 0, 3_600_000),
    REQUEST_DEADLINE_MS: int('REQUEST_DEADLINE_MS', 5000, 100, 600_000),
    READY_TIMEOUT_MS: int('READY_TIMEOUT_MS', 1000, 50, 60_000),
    PURGE_INTERVAL_SECONDS: int('PURGE_INTERVAL_SECONDS', 600, 0, 86_400),
    PURGE_BATCH_SIZE: int('PURGE_BATCH_SIZE', 1000, 1, 100_000),
    PURGE_RETENTION_SECONDS: int('PURGE_RETENTION_SECONDS', 86_400, 0, 365 * 86_400),
    BCRYPT_POOL_SIZE: int('BCRYPT_POOL_SIZE', Math.max(1, availableParallelism()), 1, 256),
    VALIDATE_RESPONSES: bool('VALIDATE_RESPONSES', envName === 'test'),
    LAST_LOGIN_FLUSH_MS: int('LAST_LOGIN_FLUSH_MS', 1000, 0, 60_000),
    SHUTDOWN_TIMEOUT_MS: int('SHUTDOWN_TIMEOUT_MS', 10_000, 500, 600_000),
    ACCESS_TOKEN_TTL: int('ACCESS_TOKEN_TTL', 3600, 30),
    MINT_TOKEN_TTL: optionalSeconds('MINT_TOKEN_TTL', 3600),
    USER_TOKEN_TTL: optionalSeconds('USER_TOKEN_TTL', undefined),
    AUTH_V3_TOKEN_TTL: int('AUTH_V3_TOKEN_TTL', 86_400, 30),
    AUTH_V3_WEB_SESSION_TTL: int('AUTH_V3_WEB_SESSION_TTL', 28_800, 60, 31 * 86_400),
    LAST_USED_GRANULARITY: int('LAST_USED_GRANULARITY', 60, 1, 86_400),
    TOKEN_CACHE_TTL_SECONDS: int('TOKEN_CACHE_TTL_SECONDS', 30, 0, 3600),
    TOKEN_CACHE_MAX_ENTRIES: int('TOKEN_CACHE_MAX_ENTRIES', 10_000, 1, 10_000_000),
    THROTTLE_ENABLED: bool('THROTTLE_ENABLED', true),
    THROTTLE_ACCOUNT_MAX_FAILURES: int('THROTTLE_ACCOUNT_MAX_FAILURES', 5, 1),
    THROTTLE_IP_MAX_FAILURES: int('THROTTLE_IP_MAX_FAILURES', 50, 1),
    THROTTLE_WINDOW_SECONDS: int('THROTTLE_WINDOW_SECONDS', 900, 1),
    THROTTLE_LOCKOUT_SECONDS: int('THROTTLE_LOCKOUT_SECONDS', 60, 1),
    THROTTLE_MAX_LOCKOUT_SECONDS: int('THROTTLE_MAX_LOCKOUT_SECONDS', 3600, 1),
    THROTTLE_REGISTRATIONS_PER_HOUR: int('THROTTLE_REGISTRATIONS_PER_HOUR', 20, 1),
    MAIL_FROM: text('polyauth <no-reply@localhost>'),
    MAIL_OUTBOX_DIR: optionalText(),
    REGISTRATION_ENABLED: bool('REGISTRATION_ENABLED', true),
    EMAIL_VERIFIED_REDIRECT: text('/docs/'),
    RESET_PASSWORD_PAGE: optionalText(),
    MAIL_LINK_TTL_SECONDS: int('MAIL_LINK_TTL_SECONDS', 3600, 60),
    MAIL_MAX_PER_HOUR: int('MAIL_MAX_PER_HOUR', 5, 1),
    MAIL_MAX_PER_HOUR_PER_IP: int('MAIL_MAX_PER_HOUR_PER_IP', 30, 1),
  });
}

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = given(env.NODE_ENV) ?? 'development';
  const envName: Config['env'] = (ENVS as readonly string[]).includes(nodeEnv) ? (nodeEnv as Config['env']) : 'development';
  const parsed = envSchema(env, envName).safeParse(env);
  const problems = parsed.success ? [] : parsed.error.issues.map((issue) => issue.message);
  if (envName !== nodeEnv) problems.unshift(`NODE_ENV must be development, production or test (got "${nodeEnv}")`);
  if (!parsed.success || problems.length > 0) {
    throw new ConfigError(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  const e = parsed.data;
  const publicUrl = e.PUBLIC_URL ?? `http://${e.HOST === '0.0.0.0' ? 'localhost' : e.HOST}:${e.PORT}`;
  return {
    env: envName,
    host: e.HOST,
    port: e.PORT,
    publicUrl,
    databaseUrl: e.DATABASE_URL,
    databaseDirectUrl: e.DATABASE_URL ? (e.DATABASE_DIRECT_URL ?? e.DATABASE_URL) : undefined,
    dataDir: e.DATA_DIR,
    database: { statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS, lockTimeoutMs: e.DB_LOCK_TIMEOUT_MS },
    requestDeadlineMs: e.REQUEST_DEADLINE_MS,
    readyTimeoutMs: e.READY_TIMEOUT_MS,
    jwtSecret: e.JWT_SECRET,
    totpEncryption: { key: e.TOTP_ENCRYPTION_KEY, oldKeys: e.TOTP_ENCRYPTION_KEYS_OLD },
    purge: { intervalSeconds: e.PURGE_INTERVAL_SECONDS, batchSize: e.PURGE_BATCH_SIZE, retentionSeconds: e.PURGE_RETENTION_SECONDS },
    bcryptCost: e.BCRYPT_COST,
    bcryptPoolSize: e.BCRYPT_POOL_SIZE,
    bodyLimit: e.BODY_LIMIT,
    trustProxy: e.TRUST_PROXY ?? false,
    logLevel: e.LOG_LEVEL,
    metricsToken: e.METRICS_TOKEN,
    validateResponses: e.VALIDATE_RESPONSES,
    lastLoginFlushMs: e.LAST_LOGIN_FLUSH_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    tokens: {
      accessTtl: e.ACCESS_TOKEN_TTL,
      mintTtl: e.MINT_TOKEN_TTL,
      userTokenTtl: e.USER_TOKEN_TTL,
      authV3Ttl: e.AUTH_V3_TOKEN_TTL,
      authV3WebSessionTtl: e.AUTH_V3_WEB_SESSION_TTL,
      lastUsedGranularity: e.LAST_USED_GRANULARITY,
      cacheTtl: e.TOKEN_CACHE_TTL_SECONDS,
      cacheMaxEntries: e.TOKEN_CACHE_MAX_ENTRIES,
    },
    throttle: {
      enabled: e.THROTTLE_ENABLED,
      accountMaxFailures: e.THROTTLE_ACCOUNT_MAX_FAILURES,
      ipMaxFailures: e.THROTTLE_IP_MAX_FAILURES,
      windowSeconds: e.THROTTLE_WINDOW_SECONDS,
      lockoutSeconds: e.THROTTLE_LOCKOUT_SECONDS,
      maxLockoutSeconds: e.THROTTLE_MAX_LOCKOUT_SECONDS,
      registrationsPerHour: e.THROTTLE_REGISTRATIONS_PER_HOUR,
    },
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM, outboxDir: e.MAIL_OUTBOX_DIR ?? `${e.DATA_DIR}/outbox` },
    oauthService: {
      registrationEnabled: e.REGISTRATION_ENABLED,
      emailVerifiedRedirect: e.EMAIL_VERIFIED_REDIRECT,
      resetPasswordPage: e.RESET_PASSWORD_PAGE ?? `${publicUrl}/docs/oauth-service.html#operation/confirmResetPassword`,
      linkTtlSeconds: e.MAIL_LINK_TTL_SECONDS,
      mailsPerHour: e.MAIL_MAX_PER_HOUR,
      mailsPerHourPerIp: e.MAIL_MAX_PER_HOUR_PER_IP,
    },
  };
}
