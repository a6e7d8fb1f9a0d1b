/**
 * `s` cut to at most `max` UTF-16 code units, never between the two halves
 * of a surrogate pair (a lone half is not valid text: Postgres refuses it in
 * JSON). For anything cut to fit a column or a log.
 */
export function cutText(s: string, max: number): string {
  if (s.length <= max) return s;
  const last = s.charCodeAt(max - 1);
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}
