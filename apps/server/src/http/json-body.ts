import express, { type RequestHandler } from 'express';
import type { Config } from '../config.ts';

/**
 * The JSON body parser every API router uses, for an API's `before`
 * middleware that must read the body before validation (mint-auth checks
 * Application authentication of a sign-up grant before the body is
 * validated). The router's own parser then sees the body already read and
 * skips it, so the limits are the same either way.
 */
export function jsonBody(config: Config): RequestHandler {
  return express.json({ limit: config.bodyLimit, strict: true, type: ['application/json', 'application/*+json'] });
}
