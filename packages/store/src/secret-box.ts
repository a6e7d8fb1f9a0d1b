import { createCipheriv, createDecipheriv, hash, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM for the few secrets the database must be able to give back
 * (TOTP seeds: a login recomputes the code from them, so they cannot be
 * hashed like tokens). A sealed value reads
 *
 *     enc1:<key id>:<iv>:<ciphertext>:<tag>      (base64url parts)
 *
 * `key id` is the first 8 hex digits of the key's SHA-256: it names the key
 * without revealing it, so rows sealed under an older key still open while
 * that key is listed as an old one, and a re-encryption pass can tell which
 * rows are not under the current key yet. The caller passes a context (the
 * column and row id) bound in as additional authenticated data: a sealed
 * value copied onto another row does not open there.
 *
 * Anything that does not start with `enc1:` is a legacy plain value (a row
 * written before encryption existed); see `isSealed`.
 */
export interface SecretBox {
  /** The current key's id. */
  readonly keyId: string;
  seal(plain: string, context: string): string;
  /** The plain value; throws SecretBoxError when no configured key opens it. */
  open(sealed: string, context: string): string;
  /** Sealed under the current key (nothing to re-encrypt). */
  isCurrent(stored: string): boolean;
}

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

const PREFIX = 'enc1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function isSealed(stored: string): boolean {
  return stored.startsWith(PREFIX);
}

export function secretKeyId(key: Buffer): string {
  return hash('sha256', key, 'hex').slice(0, 8);
}

/**
 * A key given as 64 hex digits or as base64/base64url of 32 bytes; undefined
 * for anything else (the config check names the variable).
 */
export function parseSecretKey(text: string): Buffer | undefined {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const key = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === 32) return key;
  }
  return undefined;
}

/** Seals with `current`; opens with it or any of `old`. Every key is 32 bytes. */
export function createSecretBox(current: Buffer, old: readonly Buffer[] = []): SecretBox {
  for (const k of [current, ...old]) {
    if (k.length !== 32) throw new SecretBoxError('an AES-256-GCM key is 32 bytes');
  }
  const keys = new Map<string, Buffer>();
  for (const k of old) keys.set(secretKeyId(k), k);
  const keyId = secretKeyId(current);
  keys.set(keyId, current);

  return {
    keyId,
    seal(plain, context) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current, iv, { authTagLength: TAG_BYTES });
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return `${PREFIX}${keyId}:${iv.toString('base64url')}:${body.toString('base64url')}:${tag.toString('base64url')}`;
    },
    open(sealed, context) {
      const parts = sealed.slice(PREFIX.length).split(':');
      if (!isSealed(sealed) || parts.length !== 4) throw new SecretBoxError('not a sealed value');
      const [kid, ivText, bodyText, tagText] = parts as [string, string, string, string];
      const key = keys.get(kid);
      if (!key) throw new SecretBoxError(`sealed under key id ${kid}, which is not configured`);
      const iv = Buffer.from(ivText, 'base64url');
      const tag = Buffer.from(tagText, 'base64url');
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretBoxError('malformed sealed value');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(tag);
        return Buffer.concat([decipher.update(Buffer.from(bodyText, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretBoxError(`sealed value under key id ${kid} does not authenticate (wrong key, or copied from another row)`);
      }
    },
    isCurrent(stored) {
      return stored.startsWith(`${PREFIX}${keyId}:`);
    },
  };
}
