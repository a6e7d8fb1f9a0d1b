/**
 * The paths the server itself answers, outside every API: health, metrics,
 * specs, docs and auth-v3's /web pages. No API but the root one (mts-auth,
 * mounted last) may be mounted under them. Case-insensitive, as Express
 * routes are by default.
 */
export const SERVICE_PATHS = /^\/(healthz|readyz|metrics|specs|docs|web)(\/|$)/i;

export function isServicePath(path: string): boolean {
  return SERVICE_PATHS.test(path);
}
