/** Where authByToken sends the browser when `url` is missing or not a safe path. */
export const FALLBACK_REDIRECT = '/';

const BASE = 'http://polyauth.invalid';
const MAX_LENGTH = 2048;
const MAX_DECODES = 4;

/**
 * True for a path on this server: one leading `/`, never `//` or `/\` (which
 * browsers read as another host), no backslash anywhere, no control
 * characters (browsers drop tabs and newlines, which hides a `//`).
 */
function isLocalPath(v: string): boolean {
  // eslint-disable-next-line no-control-regex
  return v.startsWith('/') && !v.startsWith('//') && !/[\\\u0000-\u001f\u007f]/.test(v);
}

/**
 * The `url` parameter of authByToken as a relative path on this server, or
 * FALLBACK_REDIRECT. The value must be a local path as given and after every
 * round of percent-decoding (so `%2F%2Fevil`, `%5Cevil` and double encodings
 * are refused), and again once a URL parser has resolved `.`/`..` segments.
 * The answer is the parser's normalised, percent-encoded path.
 */
export function safeRedirectPath(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_LENGTH) return FALLBACK_REDIRECT;
  let v = raw;
  for (let i = 0; ; i++) {
    if (!isLocalPath(v)) return FALLBACK_REDIRECT;
    let next: string;
    try {
      next = decodeURIComponent(v);
    } catch {
      return FALLBACK_REDIRECT;
    }
    if (next === v) break;
    if (i === MAX_DECODES) return FALLBACK_REDIRECT;
    v = next;
  }
  let url: URL;
  try {
    url = new URL(raw, BASE);
  } catch {
    return FALLBACK_REDIRECT;
  }
  if (url.origin !== BASE) return FALLBACK_REDIRECT;
  const out = `${url.pathname}${url.search}${url.hash}`;
  if (!isLocalPath(out)) return FALLBACK_REDIRECT;
  let decoded: string;
  try {
    decoded = decodeURIComponent(out);
  } catch {
    return FALLBACK_REDIRECT;
  }
  return isLocalPath(decoded) ? out : FALLBACK_REDIRECT;
}
