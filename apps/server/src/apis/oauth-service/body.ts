import type { RequestHandler } from 'express';
import { formBody, jsonBody } from '../../http/body-parsers.ts';
import { ApiError } from '../../http/errors.ts';
import type { Services } from '../../services.ts';

const GRANTS = new Set(['refresh_token', 'password']);

const route = (path: string) => path.replace(/\/+$/, '') || '/';

/**
 * Runs before the router's own body parsers (which then skip the consumed
 * body) to give form bodies and grant types their OAuth meaning before
 * validation: a form carries only strings, so `accept_terms=1` becomes the
 * integer the spec declares (JSON stays strict); and an unknown `grant_type`
 * is `unsupported_grant_type` (RFC 6749 §5.2), not a schema mismatch.
 */
export function oauthBody({ config }: Services): RequestHandler[] {
  const json = jsonBody(config);
  const form = formBody(config);
  const interpret: RequestHandler = (req, _res, next) => {
    const body = req.body as Record<string, unknown> | undefined;
    if (req.method !== 'POST' || !body || typeof body !== 'object' || Array.isArray(body)) return next();
    const path = route(req.path);
    if (path === '/register' && req.is('application/x-www-form-urlencoded') && typeof body.accept_terms === 'string') {
      if (/^-?[0-9]{1,15}$/.test(body.accept_terms)) body.accept_terms = Number(body.accept_terms);
    }
    if (path === '/token' && typeof body.grant_type === 'string' && !GRANTS.has(body.grant_type)) {
      return next(
        new ApiError('bad_request', 'grant_type must be refresh_token or password.', { code: 'unsupported_grant_type' }),
      );
    }
    next();
  };
  return [json, form, interpret];
}
