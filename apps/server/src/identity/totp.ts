import * as OTPAuth from 'otpauth';

/**
 * TOTP (RFC 6238) for auth-v3's two-factor login: SHA-1, 6 digits, 30 s steps,
 * which is what every authenticator app understands. The secret (base32) is
 * stored in users.totp_secret encrypted with AES-256-GCM under
 * TOTP_ENCRYPTION_KEY (the store seals and opens it, see store/secret-box.ts);
 * the last accepted step is stored too so a code cannot be used twice
 * (users.consumeTotpStep).
 */
const ISSUER = 'polyauth';
const PERIOD = 30;
/** Accept the previous and next step as well, for clock drift. */
export const TOTP_WINDOW = 1;

function totp(secretBase32: string, account = 'user'): OTPAuth.TOTP {
  return new OTPAuth.TOTP({
    issuer: ISSUER,
    label: account,
    algorithm: 'SHA1',
    digits: 6,
    period: PERIOD,
    secret: OTPAuth.Secret.fromBase32(secretBase32),
  });
}

/** A fresh 160-bit secret, base32. */
export function newTotpSecret(): string {
  return new OTPAuth.Secret({ size: 20 }).base32;
}

/** The otpauth:// URI an authenticator app scans. */
export function totpUri(secretBase32: string, account: string): string {
  return totp(secretBase32, account).toString();
}

/** The code for a given time (tests and the admin CLI's check). */
export function totpCode(secretBase32: string, timestamp = Date.now()): string {
  return totp(secretBase32).generate({ timestamp });
}

/**
 * The time step a code belongs to when it is valid within ±TOTP_WINDOW steps
 * of now, else undefined. The caller must still record the step so the code
 * cannot be replayed.
 */
export function totpStep(secretBase32: string, code: string, timestamp = Date.now()): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  let generator: OTPAuth.TOTP;
  try {
    generator = totp(secretBase32);
  } catch {
    return undefined; // not a base32 secret (UNREADABLE_TOTP_SECRET: the key is missing): no code matches
  }
  const delta = generator.validate({ token: code, timestamp, window: TOTP_WINDOW });
  if (delta === null) return undefined;
  return Math.floor(timestamp / 1000 / PERIOD) + delta;
}
