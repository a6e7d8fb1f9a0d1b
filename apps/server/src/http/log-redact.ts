/**
 * Request URLs as they may appear in logs: several seeds carry secrets in the
 * URL (auth-v3's `?token=`, authByToken, the mailed verification link), and
 * logs are read by more people than the database is.
 */
const SECRET_PARAMS = /^(token|password|code|refresh_token|access_token|client_secret|secret)$/i;
/** Path segments that are themselves secrets: /api/oauth/valid_email/<token>. */
const SECRET_PATHS = [/^(\/api\/oauth\/valid_email\/)[^/?]+/];

export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  for (const re of SECRET_PATHS) path = path.replace(re, '$1[redacted]');
  if (q === -1) return path;
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq === -1 ? pair : pair.slice(0, eq);
      let name = key;
      try {
        name = decodeURIComponent(key.replace(/\+/g, ' '));
      } catch {
        // keep it as sent
      }
      return SECRET_PARAMS.test(name) && eq !== -1 ? `${key}=[redacted]` : pair;
    });
  return `${path}?${parts.join('&')}`;
}
