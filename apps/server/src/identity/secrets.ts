import { createHash, hash, randomBytes, randomFillSync, randomUUID, timingSafeEqual } from 'node:crypto';

/** A URL-safe random secret of `bytes` bytes (default 32 = 256 bits). */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let poolOffset = POOL_SIZE;

/**
 * A URL-safe random identifier of `bytes` bytes (at most 64), drawn from a
 * pool the CSPRNG refills 4 KiB at a time, as Node's randomUUID does: one
 * CSPRNG call per few hundred identifiers instead of one each. Each byte is
 * handed out once. For hot paths issuing non-secret unique ids (a JWT's jti).
 */
export function randomId(bytes = 16): string {
  if (bytes < 1 || bytes > 64) throw new RangeError('randomId: 1 to 64 bytes');
  if (poolOffset + bytes > POOL_SIZE) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_SIZE));
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return id;
}

export function randomHex(bytes = 16): string {
  return randomBytes(bytes).toString('hex');
}

export { randomUUID };

/** What the database stores for every token, secret and one-time code. */
export function sha256(value: string): string {
  return hash('sha256', value, 'hex'); // one-shot: a third of createHash's cost on a hot path
}

/** Compares two strings in time independent of where they differ. */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
