import type { Middleware } from 'openapi-fetch';

/** The id of each of polyauth's APIs (the `api` of a PolyauthError). */
/** The API that answered: one of the five, or an API added since (`npm run new:api`). */
export type PolyauthApi = 'mts-auth' | 'mint-auth' | 'oauth-service' | 'user-token-auth' | 'auth-v3' | (string & {});

export interface BaseClientOptions {
  /** The polyauth server, e.g. `http://localhost:3000` (no API mount: each factory adds its own). */
  baseUrl: string;
  /** A fetch implementation (default: the global fetch). */
  fetch?: typeof fetch;
}

/**
 * What every factory's `signIn` takes: a username (or, where the API allows
 * it, an email address) and a password. The client maps them to its API's
 * own wire keys (`userName` on auth-v3, HTTP Basic on user-token-auth, …).
 */
export interface Credentials {
  username: string;
  password: string;
}

/** Joins the server URL and an API's mount path. */
export function apiBaseUrl(baseUrl: string, mount: string): string {
  return `${baseUrl.replace(/\/+$/, '')}${mount === '/' ? '' : mount}`;
}

/** Sends `Authorization: <value>` when the request does not set its own. */
export function authorizationMiddleware(value: () => string | undefined): Middleware {
  return {
    onRequest({ request }) {
      const v = value();
      if (v && !request.headers.has('authorization')) request.headers.set('authorization', v);
      return request;
    },
  };
}

/** openapi-fetch body serializer for `application/x-www-form-urlencoded` operations. */
export function formBody(body: unknown): URLSearchParams {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (v !== undefined && v !== null) params.append(k, String(v));
  }
  return params;
}

export const FORM = 'application/x-www-form-urlencoded';

/**
 * An error answer of a polyauth API: its HTTP status and its dialect's parsed
 * body. Each API throws its own subclass (MtsAuthError, MintAuthError,
 * OauthServiceError, UserTokenAuthError, AuthV3Error), whose `body` is typed
 * with that API's error schema; catch `PolyauthError` for any of them.
 */
export class PolyauthError<Body = unknown> extends Error {
  override name = 'PolyauthError';
  /** The API that answered. */
  readonly api: PolyauthApi;
  /** The HTTP status of the answer. */
  readonly status: number;
  /** The answer's body in the API's error dialect (undefined when it had none). */
  readonly body: Body;
  constructor(api: PolyauthApi, status: number, body: Body, message: string) {
    super(message);
    this.api = api;
    this.status = status;
    this.body = body;
  }
}

/**
 * A call that needs a signed-in client was made on one that is not signed in
 * (or whose session ended); nothing was sent. Call `signIn` first.
 */
export class NotSignedInError extends Error {
  override name = 'NotSignedInError';
  readonly api: PolyauthApi;
  constructor(api: PolyauthApi, message = `${api}: not signed in (call signIn first)`) {
    super(message);
    this.api = api;
  }
}
