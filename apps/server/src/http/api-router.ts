import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import { DeadlineExceededError, RequestBudget, runWithBudget } from '../identity/database.ts';
import { mounts, type ApiId, type Operations } from '@polyauth/api-types';
import { specPath } from '../paths.ts';
import type { Services } from '../services.ts';
import { formBody, jsonBody, markBodiless } from './body-parsers.ts';
import { errorContract } from './error-contract.ts';
import { ApiError, kindForStatus, type ErrorDialect, type MatchedOperation } from './errors.ts';
import { IdentityError } from '../identity/errors.ts';
import { refuseHostileInput, refuseHostilePath } from './hostile-input.ts';
import { inFlightOf } from './in-flight.ts';
import { setUnavailableReason } from './request-log.ts';
import { series } from './series.ts';
import { loadSpec } from './spec-cache.ts';
import { toApiError } from './to-api-error.ts';

/* ---------- types derived from openapi-typescript's `operations` ---------- */

type ContentOf<T> = T extends { content: infer C } ? C[keyof C] : undefined;

/** The request body of an operation (the union of its media types). */
export type BodyOf<Op> = Op extends { requestBody: infer R } ? ContentOf<R> : Op extends { requestBody?: infer R } ? ContentOf<NonNullable<R>> | undefined : undefined;
export type QueryOf<Op> = Op extends { parameters: { query?: infer Q } } ? (Q extends undefined ? Record<string, never> : NonNullable<Q>) : Record<string, never>;
export type PathOf<Op> = Op extends { parameters: { path: infer P } } ? P : Record<string, never>;

type ResponsesOf<Op> = Op extends { responses: infer R } ? R : never;

/** Any response the spec declares for the operation, body typed by status. */
export type Reply<Op> = {
  [S in keyof ResponsesOf<Op>]: S extends number
    ? { status: S; body: ContentOf<ResponsesOf<Op>[S]>; headers?: Record<string, string> }
    : never;
}[keyof ResponsesOf<Op>];

export interface HandlerContext<Op> {
  body: BodyOf<Op>;
  query: QueryOf<Op>;
  params: PathOf<Op>;
  /** The client address (honours TRUST_PROXY). */
  ip: string;
  req: Request;
  res: Response;
}

export type Handler<Op> = (ctx: HandlerContext<Op>) => Promise<Reply<Op>>;

/**
 * A handler's context; the client address is worked out on first use (most
 * cheap routes never read it). Built only by `dispatch`, for the operation
 * the validator matched: express-openapi-validator has checked the body,
 * query and path parameters against that operation's schema (and coerced
 * them) before this is built, which is what makes the types below true.
 */
class Context<Op> implements HandlerContext<Op> {
  readonly req: Request;
  readonly res: Response;
  readonly body: BodyOf<Op>;
  readonly query: QueryOf<Op>;
  readonly params: PathOf<Op>;
  readonly #peer: string | undefined;
  #ip: string | undefined;

  constructor(req: Request, res: Response) {
    this.req = req;
    this.res = res;
    this.body = req.body as BodyOf<Op>;
    this.query = req.query as QueryOf<Op>;
    this.params = req.params as PathOf<Op>;
    // Read now: Node keeps the peer address once read, so req.ip still
    // knows it when a handler asks after the client has hung up.
    this.#peer = req.socket.remoteAddress;
  }

  get ip(): string {
    return (this.#ip ??= this.req.ip ?? this.#peer ?? 'unknown');
  }
}

/** One handler per operationId of the spec. */
export type Handlers<Ops> = { [K in keyof Ops]: Handler<Ops[K]> };

/**
 * A handler map with exactly the spec's operationIds: a missing one fails
 * `Handlers<Ops>`, and an extra or misspelt one (`getDomian`) is typed as
 * this message, which no handler is.
 */
export type ExactHandlers<Ops, H> = H & { [K in Exclude<keyof H, keyof Ops>]: `${K & string} is not an operationId of the spec` };

/** What a handler answers, as the router sends it. */
export interface WireReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** A handler of one operation, bound to its services, for the router. */
export type BoundHandler = (req: Request, res: Response) => Promise<WireReply>;

interface ApiOptions {
  dialect: ErrorDialect;
  /** Middleware run before validation (content negotiation, headers every response carries). */
  before?: (services: Services) => RequestHandler[];
  /** Headers added to every response of this API, errors included. */
  headers?: Record<string, string>;
  /** Coerce strings to the schema's types (form bodies carry only strings). */
  coerceTypes?: boolean;
}

/** What an API's folder writes: its id (redocly.yaml's `apis:`), dialect and handler map. */
export interface ApiDefinition<Id extends ApiId, H> extends ApiOptions {
  id: Id;
  handlers: (services: Services) => ExactHandlers<Operations[Id], H>;
}

/** An API as the app mounts it: the same for every API, so they share one list. */
export interface Api extends ApiOptions {
  readonly id: string;
  /** Where the API is mounted: its spec's `servers[0].url` (generated, @polyauth/api-types `mounts`). */
  readonly mount: string;
  /** Absolute path of the OpenAPI document. */
  readonly specPath: string;
  /** The handlers built over `services`, looked up by the operationId the validator matched. */
  bind(services: Services): (operationId: string) => BoundHandler | undefined;
}

function bindOne<Op>(handler: Handler<Op>): BoundHandler {
  return (req, res) => handler(new Context<Op>(req, res));
}

/**
 * Declares an API: `defineApi({ id: 'mts-auth', dialect, handlers })`. The
 * id picks the generated `operations` the handler map is checked against
 * (every operationId, no other key, each handler's body, query, params and
 * replies typed by its operation), and the mount and spec that go with it.
 */
export function defineApi<Id extends ApiId, H extends Handlers<Operations[Id]>>(def: ApiDefinition<Id, H>): Api {
  type Ops = Operations[Id];
  const { handlers, id, ...options } = def;
  return {
    ...options,
    id,
    mount: mounts[id],
    specPath: specPath(id),
    bind(services) {
      const map: Handlers<Ops> = handlers(services);
      const bound = new Map<string, BoundHandler>();
      for (const operationId of Object.keys(map) as Array<keyof Ops & string>) {
        bound.set(operationId, bindOne(map[operationId]));
      }
      return (operationId) => bound.get(operationId);
    },
  };
}

/* ------------------------------- the router ------------------------------- */

const METHODS = ['head', 'get', 'post', 'put', 'patch', 'delete', 'options'] as const;

interface OperationDoc {
  operationId?: string;
  'x-polyauth-invalid-status'?: number;
}

/** The operation the validator matched (req.openapi.schema), as an error needs it. */
function matchedOperation(req: Request): MatchedOperation {
  const schema = (req as { openapi?: { schema?: OperationDoc } }).openapi?.schema;
  const invalidStatus = schema?.['x-polyauth-invalid-status'];
  return {
    operationId: typeof schema?.operationId === 'string' ? schema.operationId : undefined,
    invalidStatus: typeof invalidStatus === 'number' ? invalidStatus : undefined,
  };
}

/**
 * express-openapi-validator's own route match (the step that sets
 * req.openapi), taken out of its middleware list so that it can run before
 * the body is read: an error raised by the body parsers or the hostile-input
 * check then knows its operation too (mts-auth POST /user answers all
 * invalid input 406). Fails the build of the router, loudly, if a release of
 * the validator no longer names these steps.
 */
function splitValidator(middleware: RequestHandler[]): { match: RequestHandler[]; rest: RequestHandler[] } {
  const names = ['pathParamsMiddleware', 'metadataMiddleware'];
  const match = middleware.filter((mw) => names.includes(mw.name));
  if (match.length !== names.length || middleware.indexOf(match[1]!) !== 1 || middleware.indexOf(match[0]!) !== 0) {
    throw new Error(`express-openapi-validator no longer starts with ${names.join(', ')}: see splitValidator in http/api-router.ts`);
  }
  return { match, rest: middleware.slice(names.length) };
}

/**
 * Whether the spec has an operation for `method` (any method when undefined)
 * on `path` (relative to the mount) that `accept`s; path parameters match any
 * segment, as the validator's routes do.
 */
type OperationBody = { requestBody?: unknown; 'x-polyauth-get-body'?: unknown };

function operationMatcher(spec: Record<string, unknown>, accept: (op: OperationBody) => boolean): (method: string | undefined, path: string) => boolean {
  const ops: Array<{ method: string; re: RegExp }> = [];
  for (const [p, item] of Object.entries(spec.paths as Record<string, Record<string, OperationBody>>)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op || !accept(op)) continue;
      const literal = p.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+');
      ops.push({ method: method.toUpperCase(), re: new RegExp(`^${literal}/?$`) });
    }
  }
  return (method, path) => ops.some((o) => (method === undefined || o.method === method) && o.re.test(path));
}

/** RFC 9112 §6.3: a request has content when it is chunked or its Content-Length is not 0. */
function carriesBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0);
}

/**
 * Sets plain headers (none of them Content-Type, which Express's res.set
 * would give a charset): straight to Node, without res.set's per-header checks.
 */
function setHeaders(res: Response, headers: Array<[string, string]>): void {
  for (const [name, value] of headers) res.setHeader(name, value);
}

/**
 * The bytes and headers res.json sends (the JSON, its type with charset,
 * Content-Length), for a reply or an error, without res.send's generic work
 * (charset parsing, ETag and freshness checks): no answer carries an ETag or
 * Last-Modified and etags are off. One
 * difference, on purpose: `If-None-Match: *` does not turn an answer into a
 * 304 (res.send's freshness check would, even for a no-store token answer).
 * Measured: 10% of a cheap route's instructions.
 */
function sendJson(res: Response, body: unknown): void {
  const json = JSON.stringify(body);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

export function buildApiRouter(def: Api, services: Services): Router {
  const spec = loadSpec(def.specPath);
  const handlerOf = def.bind(services);
  const router = express.Router({ strict: false, caseSensitive: true });
  const { config } = services;
  const validatesResponses = config.validateResponses;

  const apiHeaders = Object.entries(def.headers ?? {});
  // Everything up to the error handler, run as one router layer (series).
  const steps: RequestHandler[] = [];
  // Operations that take no body leave any body sent unread (see markBodiless).
  // `x-polyauth-get-body`: a GET whose spec says its fields may come in a
  // body (oauth-service's register, as its legacy document sends them).
  const takesBody = operationMatcher(spec, (op) => op.requestBody !== undefined || op['x-polyauth-get-body'] !== undefined);
  const anyOperation = operationMatcher(spec, () => true);
  steps.push((req, _res, next) => {
    if (!takesBody(req.method, req.path)) markBodiless(req);
    next();
  });
  if (apiHeaders.length > 0) {
    steps.push((_req, res, next) => {
      setHeaders(res, apiHeaders);
      next();
    });
  }
  steps.push(...(def.before?.(services) ?? []));
  const validator = splitValidator(
    OpenApiValidator.middleware({
      apiSpec: structuredClone(spec) as never,
      // Unknown query parameters are ignored (cache-busting `?_=1`), as HTTP
      // intermediaries and browsers expect; an operation can still refuse them
      // with `x-eov-allow-unknown-query-parameters: false`.
      validateRequests: { allErrors: true, coerceTypes: def.coerceTypes ?? false, allowUnknownQueryParameters: true },
      validateResponses: config.validateResponses ? { allErrors: true } : false,
      validateSecurity: false,
      // no API takes multipart bodies: no multer middleware on every request
      fileUploader: false,
      validateFormats: true,
      ignoreUndocumented: false,
    }) as RequestHandler[],
  );
  steps.push(refuseHostilePath((path) => anyOperation(undefined, path)), ...validator.match);
  steps.push(jsonBody(config), formBody(config), refuseHostileInput);
  steps.push(...validator.rest);
  // Dispatch by the operation the validator matched (req.openapi): the spec is
  // the one routing table, and no second, Express-side match can disagree
  // with it. Path parameters are the validator's (req.params, coerced).
  const byOperation = new Map<string, BoundHandler>();
  const paths = spec.paths as Record<string, Record<string, OperationDoc>>;
  for (const [specPath, item] of Object.entries(paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const operationId = op.operationId;
      const handler = operationId ? handlerOf(operationId) : undefined;
      if (!operationId || !handler) {
        throw new Error(`${def.id}: no handler for ${method.toUpperCase()} ${specPath} (operationId ${operationId})`);
      }
      if (byOperation.has(operationId)) throw new Error(`${def.id}: operationId ${operationId} is used twice`);
      byOperation.set(operationId, handler);
    }
  }

  const deadlineMs = config.requestDeadlineMs;
  /**
   * Runs the handler under the request's deadline (REQUEST_DEADLINE_MS, see
   * RequestBudget): until it sends its first write, a request still running
   * at the deadline is answered 503 with Retry-After then, and gets no
   * database connection afterwards.
   * The handler itself runs on (a login may be in bcrypt): the graceful stop
   * still waits for it.
   */
  const answer = async (handler: BoundHandler, req: Request, res: Response): Promise<void> => {
    const ended = inFlightOf(req.app)?.start();
    const budget = new RequestBudget(Date.now() + deadlineMs);
    let timer: NodeJS.Timeout | undefined;
    const cut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        if (budget.cutNow()) reject(new DeadlineExceededError());
      }, deadlineMs);
    });
    const running = runWithBudget(budget, () => handler(req, res));
    running
      .finally(() => {
        clearTimeout(timer);
        ended?.();
      })
      .catch(() => undefined); // its failure, if it still matters, is answered below
    const reply = await Promise.race([running, cut]);
    if (res.headersSent) return;
    res.status(reply.status);
    if (reply.headers) setHeaders(res, Object.entries(reply.headers));
    if (reply.body === undefined) res.end();
    else if (validatesResponses) res.json(reply.body); // the response validator checks what res.json is given
    else sendJson(res, reply.body);
  };

  const dispatch: RequestHandler = (req, res, next) => {
    const schema = (req as { openapi?: { schema?: { operationId?: unknown; requestBody?: unknown } } }).openapi?.schema;
    const operationId = schema?.operationId;
    const handler = typeof operationId === 'string' ? byOperation.get(operationId) : undefined;
    // Nothing the validator let through without an operation (should not happen).
    if (!handler) return next(new ApiError('not_found', 'There is no such resource.'));
    // A body no parser read (no Content-Type, or one the operation does not
    // take) where the operation takes a body: 415, never silently dropped.
    // The validator already refuses it where the body is required.
    if (schema?.requestBody && req.body === undefined && carriesBody(req)) {
      return next(new ApiError('unsupported_media_type', 'The request body must be sent with a content type this operation accepts.'));
    }
    return answer(handler, req, res);
  };
  steps.push(dispatch);
  router.use(series(steps));

  // Error bodies are checked against the spec as handlers' replies are (tests).
  const checkErrorBody = validatesResponses ? errorContract(spec) : undefined;
  router.use(((err, req, res, _next) => {
    // The operation the validator matched, if it got that far: identity
    // failures are answered as the dialect says for it, and invalid input
    // with the status its spec gives (x-polyauth-invalid-status).
    const op = matchedOperation(req);
    const { error, internal, unavailable } = toApiError(err, def.dialect.identity, op);
    let apiError = error;
    if (apiError.status === 400 && op.invalidStatus && !(err instanceof ApiError) && !(err instanceof IdentityError)) {
      apiError = new ApiError(kindForStatus(op.invalidStatus), apiError.message, { status: op.invalidStatus, headers: apiError.headers });
    }
    if (internal) req.log?.error({ err }, 'request failed');
    else if (unavailable) setUnavailableReason(res, unavailable); // the request's own log line, at warn
    else req.log?.debug({ status: apiError.status, reason: apiError.message }, 'request refused');
    if (res.headersSent) {
      res.end();
      return;
    }
    let body = def.dialect.body(apiError);
    const drift = checkErrorBody?.(op.operationId, apiError.status, body);
    if (drift) {
      // As the validator answers a reply that drifts from the spec: a 500, and the reason in the log.
      req.log?.error({ status: apiError.status, body, reason: drift }, 'error response does not match the spec');
      apiError = new ApiError('server_error', `The error response does not match the spec: ${drift}`);
      body = def.dialect.body(apiError);
    }
    res.status(apiError.status);
    setHeaders(res, Object.entries(apiError.headers));
    setHeaders(res, apiHeaders);
    sendJson(res, body);
  }) as express.ErrorRequestHandler);

  return router;
}
