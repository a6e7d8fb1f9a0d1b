/** `Authorization` header parsing shared by the APIs' auth schemes. */
import { parse as parseBasic } from 'basic-auth';
import { assertCleanCredential } from './hostile-input.ts';

export interface AuthorizationHeader {
  /** Lower-cased scheme, without the seed's stray colon (`Basic:` → `basic`). */
  scheme: string;
  credentials: string;
}

export function parseAuthorization(header: string | undefined): AuthorizationHeader | undefined {
  if (!header || header.length > 4096) return undefined;
  const m = /^\s*([A-Za-z][A-Za-z0-9_-]*):?\s+(\S+)\s*$/.exec(header);
  if (!m) return undefined;
  assertCleanCredential(m[2]!, 'Authorization header');
  return { scheme: m[1]!.toLowerCase(), credentials: m[2]! };
}

/**
 * Decodes HTTP Basic credentials (RFC 7617) with `basic-auth`: user-id and
 * password split at the first colon. Stricter than basic-auth alone: the
 * credentials must be base64 proper (basic-auth also takes base64url's `-`
 * and `_`) and the user-id must not be empty. A NUL in either is refused
 * (HostileInputError, a 400): it names no account and the database cannot
 * store it.
 */
export function decodeBasic(credentials: string): { user: string; password: string } | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(credentials)) return undefined;
  const parsed = parseBasic(`Basic ${credentials}`);
  if (!parsed) return undefined;
  assertCleanCredential(`${parsed.name}:${parsed.pass}`, 'Authorization header (Basic credentials)');
  if (parsed.name === '') return undefined;
  return { user: parsed.name, password: parsed.pass };
}

export function bearerToken(header: string | undefined): string | undefined {
  const auth = parseAuthorization(header);
  return auth?.scheme === 'bearer' ? auth.credentials : undefined;
}

/**
 * RFC 6749 §2.3.1: a client id or secret is form-encoded before it goes into
 * Basic. A decoded NUL or lone surrogate is refused (HostileInputError).
 */
function formDecode(s: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
  assertCleanCredential(decoded, 'Authorization header (Basic credentials)');
  return decoded;
}

/**
 * The OAuth client id and secret of an `Authorization: Basic` header
 * (RFC 6749 §2.3.1), or undefined when the header is not well-formed Basic.
 */
export function basicClientCredentials(header: string | undefined): { clientId: string; secret: string } | undefined {
  const auth = parseAuthorization(header);
  const basic = auth?.scheme === 'basic' ? decodeBasic(auth.credentials) : undefined;
  const clientId = basic && formDecode(basic.user);
  const secret = basic && formDecode(basic.password);
  return clientId && secret !== undefined ? { clientId, secret } : undefined;
}
