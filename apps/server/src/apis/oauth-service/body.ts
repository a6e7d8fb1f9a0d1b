import type { Request, RequestHandler } from 'express';
import { formBody, jsonBody } from '../../http/body-parsers.ts';
import { ApiError } from '../../http/errors.ts';
import type { Services } from '../../services.ts';
import { OauthApiError } from './dialect.ts';

const GRANTS = new Set(['refresh_token', 'password']);

const route = (path: string) => path.replace(/\/+$/, '') || '/';

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * GET /register with its fields in a body, as the seed's example sends them:
 * the fields become the query, so they are validated and read exactly as
 * query parameters are (one set of rules and messages for both ways).
 */
function bodyAsQuery(req: Request): ApiError | undefined {
  const body: unknown = req.body;
  if (body === undefined) {
    const sent = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;
    return sent && req.headers['content-type'] !== undefined
      ? new ApiError('unsupported_media_type', 'Unsupported Content-Type: send application/json or application/x-www-form-urlencoded')
      : undefined;
  }
  if (!isObject(body)) return new ApiError('bad_request', 'The body of GET /register must be a JSON object or a form.');
  const entries = Object.entries(body);
  if (entries.length === 0) {
    req.body = undefined;
    return undefined;
  }
  if (Object.keys(req.query as object).length > 0) {
    return new ApiError('bad_request', 'Send the registration fields in the query string or in the body, not both.');
  }
  const query: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (typeof value === 'string') query[key] = value;
    else if (typeof value === 'number' && Number.isFinite(value)) query[key] = String(value);
    else return new ApiError('bad_request', `request/body/${key} must be a string or a number`);
  }
  // Express 5's req.query is a getter over the URL: an own property shadows it.
  Object.defineProperty(req, 'query', { value: query, writable: true, configurable: true, enumerable: true });
  req.body = undefined;
  return undefined;
}

/**
 * Runs before the router's own body parsers (which then skip the consumed
 * body) to give bodies and grant types their OAuth meaning before
 * validation: a form carries only strings, so `accept_terms=1` becomes the
 * integer the spec declares (JSON stays strict); a token request without
 * `grant_type` gets the seed's default, `refresh_token`; an unknown
 * `grant_type` is `unsupported_grant_type` (RFC 6749 §5.2), not a schema
 * mismatch; and a GET /register body is read as its query.
 */
export function oauthBody({ config }: Services): RequestHandler[] {
  const json = jsonBody(config);
  const form = formBody(config);
  const interpret: RequestHandler = (req, _res, next) => {
    if (req.method === 'GET') return next(route(req.path) === '/register' ? bodyAsQuery(req) : undefined);
    const body: unknown = req.body;
    if (req.method !== 'POST' || !isObject(body)) return next();
    const path = route(req.path);
    if (path === '/register' && req.is('application/x-www-form-urlencoded') && typeof body.accept_terms === 'string') {
      if (/^-?[0-9]{1,15}$/.test(body.accept_terms)) body.accept_terms = Number(body.accept_terms);
    }
    if (path === '/token') {
      if (body.grant_type === undefined) body.grant_type = 'refresh_token';
      else if (typeof body.grant_type === 'string' && !GRANTS.has(body.grant_type)) {
        return next(
          new OauthApiError('bad_request', 'grant_type must be refresh_token or password.', { code: 'unsupported_grant_type' }),
        );
      }
    }
    next();
  };
  return [json, form, interpret];
}
