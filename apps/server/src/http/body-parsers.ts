import express, { type Request, type RequestHandler } from 'express';
import type { Config } from '../config.ts';

const BODILESS = Symbol('polyauth.bodiless');

/**
 * Marks a request whose operation takes no body (GET /user, POST /revoke):
 * the parsers then leave whatever body it carries unread, and it is ignored,
 * instead of answering 400/413/415 for content the operation never reads.
 */
export function markBodiless(req: Request): void {
  (req as unknown as Record<symbol, boolean>)[BODILESS] = true;
}

function unlessBodiless(parser: RequestHandler): RequestHandler {
  return (req, res, next) => ((req as unknown as Record<symbol, boolean>)[BODILESS] ? next() : parser(req, res, next));
}

/**
 * The JSON body parser every API router uses, with the server's limits.
 * Also for an API's `before` middleware that must read the body before
 * validation (mint-auth checks Application authentication of a sign-up
 * grant before the body is validated; oauth-service interprets form fields):
 * the router's own parsers then see the body already read and skip it, so
 * the limits are the same either way.
 */
export function jsonBody(config: Config): RequestHandler {
  return unlessBodiless(express.json({ limit: config.bodyLimit, strict: true, type: ['application/json', 'application/*+json'] }));
}

/** The form (application/x-www-form-urlencoded) body parser every API router uses; see jsonBody. */
export function formBody(config: Config): RequestHandler {
  return unlessBodiless(express.urlencoded({ limit: config.bodyLimit, extended: false, parameterLimit: 50 }));
}
