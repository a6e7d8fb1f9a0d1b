import express, { type RequestHandler } from 'express';
import type { Config } from '../config.ts';

/**
 * The JSON body parser every API router uses, with the server's limits.
 * Also for an API's `before` middleware that must read the body before
 * validation (mint-auth checks Application authentication of a sign-up
 * grant before the body is validated; oauth-service interprets form fields):
 * the router's own parsers then see the body already read and skip it, so
 * the limits are the same either way.
 */
export function jsonBody(config: Config): RequestHandler {
  return express.json({ limit: config.bodyLimit, strict: true, type: ['application/json', 'application/*+json'] });
}

/** The form (application/x-www-form-urlencoded) body parser every API router uses; see jsonBody. */
export function formBody(config: Config): RequestHandler {
  return express.urlencoded({ limit: config.bodyLimit, extended: false, parameterLimit: 50 });
}
