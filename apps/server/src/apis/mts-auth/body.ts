import type { RequestHandler } from 'express';
import { formBody } from '../../http/body-parsers.ts';
import type { Services } from '../../services.ts';
import { MtsApiError } from './dialect.ts';

/**
 * Runs before validation (the router's own form parser then skips the body
 * read here): a token request whose `grant_type` is not `password` is
 * `unsupported_grant_type` (RFC 6749 §5.2), checked before the other
 * parameters, not a schema mismatch.
 */
export function mtsBody({ config }: Services): RequestHandler[] {
  const form = formBody(config);
  // Only the token endpoint: the cheap authenticated routes pay one comparison.
  const grantType: RequestHandler = (req, res, next) => {
    if (req.method !== 'POST' || (req.path !== '/oauth/token' && req.path !== '/oauth/token/')) return next();
    form(req, res, (err?: unknown) => {
      if (err) return next(err);
      const grant = (req.body as Record<string, unknown> | undefined)?.grant_type;
      if (typeof grant === 'string' && grant !== 'password') {
        return next(new MtsApiError('bad_request', 'grant_type must be password.', { code: 'unsupported_grant_type' }));
      }
      next();
    });
  };
  return [grantType];
}
