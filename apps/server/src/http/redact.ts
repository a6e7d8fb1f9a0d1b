/**
 * Access logs must not carry secrets, yet some legacy APIs take passwords,
 * tokens and codes in the query string (auth-v3's GET actions, authByToken
 * links). These rewrite the logged request so such values read `[REDACTED]`.
 */
const SENSITIVE = /pass|token|secret|code|key|otp/i;
const REDACTED = '[REDACTED]';

export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const parts = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq < 0 ? pair : pair.slice(0, eq);
      let name = rawName;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      } catch {
        // keep the raw name
      }
      return eq >= 0 && SENSITIVE.test(name) ? `${rawName}=${REDACTED}` : pair;
    });
  return `${url.slice(0, q)}?${parts.join('&')}`;
}

export function redactQuery(query: unknown): unknown {
  if (!query || typeof query !== 'object') return query;
  return Object.fromEntries(Object.entries(query as Record<string, unknown>).map(([k, v]) => [k, SENSITIVE.test(k) ? REDACTED : v]));
}

/** pino-http `serializers.req`: receives the standard serialized request. */
export function redactRequestLog<R extends { url?: string; query?: unknown }>(req: R): R {
  return { ...req, url: typeof req.url === 'string' ? redactUrl(req.url) : req.url, query: redactQuery(req.query) };
}
