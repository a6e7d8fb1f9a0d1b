import { UsageError } from './output.ts';

/** Trimmed, non-empty, at most `max` characters, no control characters. */
export function requiredText(what: string, value: unknown, max: number): string {
  const s = typeof value === 'string' ? value.trim() : '';
  if (s === '') throw new UsageError(`${what} must not be empty`);
  if (s.length > max) throw new UsageError(`${what} must be at most ${max} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(s)) throw new UsageError(`${what} must not contain control characters`);
  return s;
}

export function optionalText(what: string, value: unknown, max: number): string | undefined {
  return value === undefined ? undefined : value === '' ? '' : requiredText(what, value, max);
}

/** A username: no spaces, no colon (it would break HTTP Basic logins). */
export function username(value: unknown): string {
  const s = requiredText('--username', value, 254);
  if (/[\s:]/.test(s)) throw new UsageError('--username must not contain spaces or colons');
  return s;
}

export function email(value: unknown): string {
  const s = requiredText('--email', value, 254);
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(s)) throw new UsageError(`--email "${s}" is not an email address`);
  return s;
}
