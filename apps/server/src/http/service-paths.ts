/**
 * The paths the server itself answers, outside every API: health, metrics,
 * specs, docs, auth-v3's /web pages and the RFC 8414 §3.1 metadata location
 * of an issuer with a path (`/.well-known/oauth-authorization-server/<path>`;
 * the bare `/.well-known/oauth-authorization-server` is mts-auth's own). No API but the root one (mts-auth,
 * mounted last) may be mounted under them. Case-insensitive, as the
 * service router's routes are (Express's default; the API mounts are not).
 */
export const SERVICE_PATHS = /^\/(?:(?:healthz|readyz|metrics|specs|docs|web)(?:\/|$)|\.well-known\/oauth-authorization-server\/.)/i;

export function isServicePath(path: string): boolean {
  return SERVICE_PATHS.test(path);
}

/** The Redoc pages, which carry their own CSP: the same matching as SERVICE_PATHS. */
const DOCS_PATH = /^\/docs(\/|$)/i;

export function isDocsPath(path: string): boolean {
  return DOCS_PATH.test(path);
}
