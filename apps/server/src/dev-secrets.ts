import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseSecretKey } from '@polyauth/store';
import type { Config } from './config.ts';
import { randomSecret } from './identity/secrets.ts';

/**
 * A secret kept in the data directory (mode 0600), made on first use: what
 * the server and the admin CLI use outside production when the environment
 * gives none, so that a fresh `npm start` needs no configuration and both
 * read the same value.
 */
function keptSecret(config: Config, name: string, make: () => string): string {
  const file = path.resolve(config.dataDir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(path.dirname(file), { recursive: true });
  const secret = make();
  try {
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process (the CLI beside the server) made it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8').trim();
    throw err;
  }
  chmodSync(file, 0o600);
  return secret;
}

/** Without JWT_SECRET outside production: a random secret kept in DATA_DIR/jwt-secret. */
export function developmentJwtSecret(config: Config): string {
  return config.jwtSecret ?? keptSecret(config, 'jwt-secret', () => randomSecret(48));
}

/**
 * The config with its TOTP encryption key filled in: without
 * TOTP_ENCRYPTION_KEY outside production, a random key kept in
 * DATA_DIR/totp-encryption-key (production refuses to start without one,
 * see config.ts).
 */
export function withDevelopmentTotpKey(config: Config): Config {
  if (config.totpEncryption.key || config.env === 'production') return config;
  const text = keptSecret(config, 'totp-encryption-key', () => randomSecret(32));
  const key = parseSecretKey(text);
  if (!key) throw new Error(`${path.resolve(config.dataDir, 'totp-encryption-key')} does not hold a 32-byte key`);
  return { ...config, totpEncryption: { ...config.totpEncryption, key } };
}
