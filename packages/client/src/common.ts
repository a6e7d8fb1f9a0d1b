import type { Middleware } from 'openapi-fetch';

export interface BaseClientOptions {
  /** The polyauth server, e.g. `http://localhost:3000` (no API mount: each factory adds its own). */
  baseUrl: string;
  /** A fetch implementation (default: the global fetch). */
  fetch?: typeof fetch;
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

/** An error answer of a polyauth API, with its dialect's body. */
export class PolyauthError<E = unknown> extends Error {
  override name = 'PolyauthError';
  readonly status: number;
  readonly body: E;
  constructor(status: number, body: E, message: string) {
    super(message);
    this.status = status;
    this.body = body;
  }
}
