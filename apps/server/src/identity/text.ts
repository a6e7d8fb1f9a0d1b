/**
 * Cuts `s` to at most `max` UTF-16 code units without splitting a
 * surrogate pair: a cut that would leave half of a character (an emoji at
 * the limit) drops the whole character. Stored text must be well-formed:
 * Postgres refuses a lone surrogate in JSON and text.
 */
export function cutText(s: string, max: number): string {
  if (s.length <= max) return s;
  const end = max > 0 && isHighSurrogate(s.charCodeAt(max - 1)) ? max - 1 : max;
  return s.slice(0, end);
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

/**
 * True when `s` holds a character no field of any API accepts and the
 * database cannot store: NUL (text columns refuse it) or a lone surrogate
 * (not a character; JSON and UTF-8 cannot carry it).
 */
export function hasForbiddenCharacter(s: string): boolean {
  return s.includes('\0') || !s.isWellFormed();
}
