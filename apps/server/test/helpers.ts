// Small helpers shared by the server tests.
export const FORM = 'application/x-www-form-urlencoded';

export function form(o: Record<string, string>): string {
  return new URLSearchParams(o).toString();
}

export function basicAuth(user: string, password: string, sep = ' '): string {
  return `Basic${sep}${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

let counter = 0;
/** A unique email per call, so tests never collide. */
export function uniqueEmail(prefix = 'user'): string {
  counter += 1;
  return `${prefix}.${process.pid}.${counter}.${Math.random().toString(36).slice(2, 8)}@example.com`;
}

/** The keys of an error body, to check nothing else (stack, SQL) leaks. */
export function keysOf(body: unknown): string[] {
  return Object.keys(body as object).sort();
}
