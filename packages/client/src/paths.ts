import type { Client } from 'openapi-fetch';

type HttpMethod = 'get' | 'put' | 'post' | 'delete' | 'options' | 'head' | 'patch' | 'trace';
type MediaType = `${string}/${string}`;

/** The paths of `Paths` that have a `M` operation (as openapi-fetch's PathsWithMethod). */
export type PathOf<Paths, M extends HttpMethod> = {
  [P in keyof Paths]: Paths[P] extends { [K in M]: unknown } ? P : never;
}[keyof Paths];

/** Shown in the error of a call that names an operation but omits its required second argument. */
export interface ParamsOrBodyRequired {
  readonly 'this operation needs a second argument: its params and/or body': never;
}

/**
 * A signature tried after openapi-fetch's own, which only exists to word the
 * error of a wrong call: openapi-fetch alone answers both a path that is not
 * in the spec and a missing required argument with "Expected 2 arguments, but
 * got 1". Here the first reads "… is not assignable to parameter of type
 * 'PathOf<paths, "get">'" and the second "… is not assignable to parameter of
 * type '"/user/{id}" & ParamsOrBodyRequired'". It never matches a call that
 * openapi-fetch's signature accepts, and no call can match it (its parameter
 * type is unsatisfiable either way), so it changes no valid call's types.
 */
type WrongCall<Paths, M extends HttpMethod> = <P extends string>(
  url: P extends PathOf<Paths, M> ? P & ParamsOrBodyRequired : PathOf<Paths, M>,
) => never;

type Checked<Paths extends object, Media extends MediaType, K extends keyof Client<Paths, Media>, M extends HttpMethod> = Client<
  Paths,
  Media
>[K] &
  WrongCall<Paths, M>;

/**
 * openapi-fetch's client over one API's paths (every operation of its spec,
 * the factory's auth middleware applied), with clearer errors for a path that
 * is not in the spec and for a missing params/body argument.
 */
export type ApiClient<Paths extends object, Media extends MediaType = MediaType> = Omit<
  Client<Paths, Media>,
  'GET' | 'PUT' | 'POST' | 'DELETE' | 'OPTIONS' | 'HEAD' | 'PATCH' | 'TRACE'
> & {
  GET: Checked<Paths, Media, 'GET', 'get'>;
  PUT: Checked<Paths, Media, 'PUT', 'put'>;
  POST: Checked<Paths, Media, 'POST', 'post'>;
  DELETE: Checked<Paths, Media, 'DELETE', 'delete'>;
  OPTIONS: Checked<Paths, Media, 'OPTIONS', 'options'>;
  HEAD: Checked<Paths, Media, 'HEAD', 'head'>;
  PATCH: Checked<Paths, Media, 'PATCH', 'patch'>;
  TRACE: Checked<Paths, Media, 'TRACE', 'trace'>;
};

/** The factories' openapi-fetch client, typed as an ApiClient (the same object). */
export function checked<Paths extends object>(client: Client<Paths>): ApiClient<Paths> {
  return client as unknown as ApiClient<Paths>;
}
