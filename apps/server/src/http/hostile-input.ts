import type { Request, RequestHandler } from 'express';
import { cutText, hasForbiddenCharacter } from '../identity/text.ts';

/**
 * A request carrying what no API accepts and the database cannot store: a
 * NUL or a lone surrogate in the path, the query, the body or the decoded
 * credentials, or a path that is not valid percent-encoding. Answered 400 in
 * the API's dialect (mts-auth POST /user: its documented 406), before any
 * handler runs. Deliberately not an ApiError: the router treats it as it
 * treats a validation error.
 */
export class HostileInputError extends Error {
  override name = 'HostileInputError';
  readonly status = 400;

  constructor(message: string) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}

const REFUSED = 'NUL characters and unpaired UTF-16 surrogates are not accepted';

/** Throws HostileInputError when a decoded credential holds a NUL or a lone surrogate. */
export function assertCleanCredential(s: string, what: string): void {
  if (hasForbiddenCharacter(s)) throw new HostileInputError(`The ${what} is invalid: ${REFUSED}.`);
}

/** Where in `value` (a parsed body or query) a forbidden character is, keys included; undefined if nowhere. */
function findForbidden(value: unknown, where: string, depth = 0): string | undefined {
  if (typeof value === 'string') return hasForbiddenCharacter(value) ? where : undefined;
  if (value === null || typeof value !== 'object' || depth > 32) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findForbidden(value[i], `${where}[${i}]`, depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    // the key is named only when it is printable itself
    if (hasForbiddenCharacter(key)) return `${where} (a field name)`;
    const found = findForbidden((value as Record<string, unknown>)[key], `${where}.${key}`, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * A HostileInputError for malformed percent-encoding or a forbidden
 * character in the path of an operation. A path no operation has is left to
 * the validator's 404.
 */
function checkPath(req: Request, isOperationPath: (path: string) => boolean): void {
  const raw = req.path;
  if (!raw.includes('%') || !isOperationPath(raw)) return; // nothing encoded: a raw path cannot hold NUL or a surrogate
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new HostileInputError('The request path is not valid percent-encoding (RFC 3986: % is followed by two hex digits of UTF-8).');
  }
  if (hasForbiddenCharacter(decoded)) throw new HostileInputError(`The request path is invalid: ${REFUSED}.`);
}

/**
 * The first check of every API router, before the validator matches the
 * request to an operation (which would stumble on a path that does not
 * decode): the path decodes and holds no NUL and no lone surrogate.
 */
export const refuseHostilePath = (isOperationPath: (path: string) => boolean): RequestHandler => (req, _res, next) => {
  try {
    checkPath(req, isOperationPath);
  } catch (err) {
    return next(err);
  }
  next();
};

/**
 * The check every API router runs after reading the body and before
 * validating the request: query and body hold no NUL and no lone surrogate.
 * Credentials decoded from headers are checked where they are decoded
 * (auth-header.ts).
 */
export const refuseHostileInput: RequestHandler = (req, _res, next) => {
  const where = findForbidden(req.query, 'query') ?? findForbidden(req.body, 'body');
  if (where) {
    const named = cutText(where.replace(/^(query|body)\.?/, '$1 ').trim(), 120);
    return next(new HostileInputError(`Invalid request: ${named}: ${REFUSED}.`));
  }
  next();
};
