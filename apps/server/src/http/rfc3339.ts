/**
 * RFC 3339 in UTC without fractional seconds (`2026-12-01T18:25:30Z`), as the
 * specs' examples write a timestamp. toISOString always ends in `.sssZ`.
 */
export function rfc3339Seconds(at: Date): string {
  return `${at.toISOString().slice(0, -5)}Z`;
}
