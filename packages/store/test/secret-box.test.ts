// AES-256-GCM sealing of the secrets the database must give back (TOTP).
import { describe, expect, test } from '@jest/globals';
import { createSecretBox, isSealed, parseSecretKey, secretKeyId, SecretBoxError } from '../src/index.ts';

const A = Buffer.alloc(32, 1);
const B = Buffer.alloc(32, 2);

describe('secret box', () => {
  test('seals with a fresh IV each time, names the key, opens only in its own context', () => {
    const box = createSecretBox(A);
    const one = box.seal('JBSWY3DPEHPK3PXP', 'users.totp_secret:1');
    const two = box.seal('JBSWY3DPEHPK3PXP', 'users.totp_secret:1');
    expect(one).not.toBe(two);
    expect(one).toMatch(new RegExp(`^enc1:${secretKeyId(A)}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+:[A-Za-z0-9_-]{22}$`));
    expect(one).not.toContain('JBSWY3DPEHPK3PXP');
    expect(isSealed(one)).toBe(true);
    expect(isSealed('JBSWY3DPEHPK3PXP')).toBe(false);
    expect(box.open(one, 'users.totp_secret:1')).toBe('JBSWY3DPEHPK3PXP');
    expect(box.isCurrent(one)).toBe(true);
    // Copied onto another row: does not authenticate.
    expect(() => box.open(one, 'users.totp_secret:2')).toThrow(SecretBoxError);
  });

  test('a tampered value, a wrong key or a malformed value is refused, never opened to garbage', () => {
    const sealed = createSecretBox(A).seal('secret', 'ctx');
    const parts = sealed.split(':');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    parts[3] = body.toString('base64url');
    expect(() => createSecretBox(A).open(parts.join(':'), 'ctx')).toThrow(/does not authenticate/);
    expect(() => createSecretBox(B).open(sealed, 'ctx')).toThrow(/not configured/);
    expect(() => createSecretBox(A).open('enc1:zz', 'ctx')).toThrow(SecretBoxError);
    expect(() => createSecretBox(A).open(`enc1:${secretKeyId(A)}:AA:AA:AA`, 'ctx')).toThrow(/malformed/);
  });

  test('rotation: the new key opens nothing of the old alone; with the old key listed it opens both and seals with the new', () => {
    const old = createSecretBox(A).seal('secret', 'ctx');
    const rotated = createSecretBox(B, [A]);
    expect(rotated.open(old, 'ctx')).toBe('secret');
    expect(rotated.isCurrent(old)).toBe(false);
    const fresh = rotated.seal('secret', 'ctx');
    expect(rotated.isCurrent(fresh)).toBe(true);
    expect(fresh.startsWith(`enc1:${secretKeyId(B)}:`)).toBe(true);
  });

  test('keys: 64 hex digits or base64(url) of 32 bytes; anything else is refused', () => {
    expect(parseSecretKey('01'.repeat(32))).toEqual(A);
    expect(parseSecretKey(A.toString('base64'))).toEqual(A);
    expect(parseSecretKey(Buffer.alloc(32, 0xfb).toString('base64url'))).toEqual(Buffer.alloc(32, 0xfb));
    for (const bad of ['', 'short', '01'.repeat(31), Buffer.alloc(31).toString('base64'), Buffer.alloc(33).toString('base64'), 'g'.repeat(64)]) {
      expect(parseSecretKey(bad)).toBeUndefined();
    }
    expect(() => createSecretBox(Buffer.alloc(16))).toThrow(SecretBoxError);
  });
});
