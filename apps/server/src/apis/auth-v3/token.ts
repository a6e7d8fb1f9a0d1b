/** auth-v3's API id (tokens.api) and the kind of its login tokens. */
export const AUTH_V3 = 'auth-v3';
export const AUTH_V3_TOKEN_KIND = 'session';

const TOKEN = /^([1-9][0-9]{0,17})-[0-9a-f]{32}$/;

/** The user id a well-formed token claims; undefined for anything else (no database read). */
export function parseAuthV3Token(token: unknown): { userId: string } | undefined {
  if (typeof token !== 'string') return undefined;
  const m = TOKEN.exec(token);
  return m ? { userId: m[1]! } : undefined;
}
