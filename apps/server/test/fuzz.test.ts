// Spec-driven fuzzing over real HTTP: every operation of the five specs,
// every string field of its request (body, query, path, Authorization), a
// corpus of hostile values, sent from a seeded PRNG within a time and count
// bound. Fails on a 5xx, a status the operation does not document, an answer
// that does not match the spec, or a stack trace or SQL in the answer.
// FUZZ_SEED replays a run; FUZZ_MAX_CASES / FUZZ_SECONDS change the bounds.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import Ajv2020Module from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { specPath } from '../src/paths.ts';
import { startServer, type TestServer } from './harness.ts';
import { FORM, uniqueEmail } from './helpers.ts';

type Json = Record<string, unknown>;
type Schema = Json & { $ref?: string };

const APIS = ['mts-auth', 'mint-auth', 'oauth-service', 'user-token-auth', 'auth-v3'] as const;
type ApiId = (typeof APIS)[number];
const METHODS = ['get', 'post', 'put', 'delete', 'head', 'patch'];
const SEED = Number(process.env.FUZZ_SEED ?? 20261201);
const MAX_CASES = Number(process.env.FUZZ_MAX_CASES ?? 3200);
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 40);
const CONCURRENCY = 6;
const PASSWORD = 'correct horse battery';

/** mulberry32: small, seeded, good enough to order and pick cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/* --------------------------------- specs --------------------------------- */

interface Spec {
  id: ApiId;
  doc: Json;
  mount: string;
}

function pointer(doc: Json, ref: string): unknown {
  return ref
    .replace(/^#\//, '')
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((o, k) => (o as Json)[k], doc);
}

function deref<T>(doc: Json, v: T): T {
  let cur = v as Schema;
  while (cur && typeof cur === 'object' && typeof cur.$ref === 'string') cur = pointer(doc, cur.$ref) as Schema;
  return cur as T;
}

/** The properties of an object schema, and the required ones, per branch of a oneOf/anyOf. */
function variantsOf(doc: Json, raw: Schema): Array<{ props: Map<string, Schema>; required: Set<string> }> {
  const s = deref(doc, raw);
  const branches = (s.oneOf ?? s.anyOf) as Schema[] | undefined;
  if (branches) return branches.flatMap((b) => variantsOf(doc, b));
  const props = new Map<string, Schema>();
  const required = new Set<string>((s.required as string[] | undefined) ?? []);
  for (const part of (s.allOf as Schema[] | undefined) ?? []) {
    for (const v of variantsOf(doc, part)) {
      v.props.forEach((p, k) => props.set(k, p));
      v.required.forEach((k) => required.add(k));
    }
  }
  for (const [k, p] of Object.entries((s.properties as Record<string, Schema> | undefined) ?? {})) props.set(k, deref(doc, p));
  return [{ props, required }];
}

const isString = (s: Schema) => s.type === undefined || s.type === 'string' || (Array.isArray(s.type) && s.type.includes('string'));

interface Operation {
  api: ApiId;
  method: string;
  path: string;
  op: Json;
  params: Array<{ name: string; in: string; schema: Schema; required: boolean }>;
  media: string[];
  bodyVariants: Array<{ props: Map<string, Schema>; required: Set<string> }>;
  /** Authorization header kinds this operation accepts: basic, bearer, or an apiKey scheme's word. */
  auth: string[];
}

function operationsOf(spec: Spec): Operation[] {
  const { doc } = spec;
  const schemes = ((doc.components as Json)?.securitySchemes ?? {}) as Record<string, Json>;
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const method of METHODS) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const params = [...((item.parameters as Schema[]) ?? []), ...((op.parameters as Schema[]) ?? [])].map((p) => {
        const d = deref(doc, p) as Json;
        return { name: d.name as string, in: d.in as string, schema: deref(doc, d.schema as Schema), required: d.required === true };
      });
      const rb = op.requestBody ? (deref(doc, op.requestBody as Schema) as Json) : undefined;
      const content = (rb?.content ?? {}) as Record<string, Json>;
      const media = Object.keys(content);
      const bodyVariants = media.length > 0 ? variantsOf(doc, content[media[0]!]!.schema as Schema) : [];
      const auth: string[] = [];
      for (const req of (op.security as Array<Record<string, unknown>> | undefined) ?? []) {
        for (const name of Object.keys(req)) {
          const s = schemes[name]!;
          if (s.type === 'http') auth.push(String(s.scheme).toLowerCase());
          else if (s.type === 'apiKey' && s.in === 'header') auth.push(name);
        }
      }
      out.push({ api: spec.id, method, path, op, params, media, bodyVariants, auth });
    }
  }
  return out;
}

/* -------------------------------- corpus -------------------------------- */

const EMOJI = '\u{1F600}';
function hostileValues(schema: Schema): string[] {
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : 254;
  return [
    'a\u0000b',
    '\u0000',
    '\ud800x',
    'x\udc00',
    `${'a'.repeat(Math.max(0, max - 1))}${EMOJI}`, // one unit over, the pair across the limit
    `${'a'.repeat(Math.max(0, max - 2))}${EMOJI}`, // exactly at the limit
    `${'a'.repeat(253)}${EMOJI}`,
    'A'.repeat(100_000),
    "' OR '1'='1' --",
    '"; DROP TABLE users; --',
    "x'); select pg_sleep(0); --",
    '{"$gt":""}',
    '\\u0000\\ud800"}]',
    '__proto__',
    'constructor',
    '%ZZ',
    '%',
    '%E0%A4%A',
    '\r\nX-Injected: 1',
    '\u202e\ufeff\u0001\u007f',
    '',
    ' ',
  ];
}

/* ------------------------------ raw HTTP/1.1 ------------------------------ */

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function parseResponse(buf: Buffer): RawResponse {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) throw new Error(`no complete response head: ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`);
  const [statusLine, ...lines] = buf.toString('latin1', 0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1]);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = buf.subarray(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const eol = body.indexOf('\r\n', at);
      const size = parseInt(body.toString('latin1', at, eol), 16);
      if (!size) break;
      parts.push(body.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  }
  return { status, headers, body };
}

/** Sends bytes as they are (no client-side checks) and reads the answer until the server closes. */
function rawRequest(port: number, method: string, target: string, headers: Array<[string, string]>, body?: Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(20_000, () => socket.destroy(new Error(`timeout: ${method} ${target.slice(0, 100)}`)));
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', (err) => (chunks.length > 0 ? resolve(parseResponse(Buffer.concat(chunks))) : reject(err)));
    socket.on('end', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
    const head = [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
    for (const [k, v] of headers) head.push(`${k}: ${v}`);
    if (body) head.push(`Content-Length: ${body.length}`);
    socket.write(Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body ?? Buffer.alloc(0)]));
  });
}

/* ------------------------------- the cases ------------------------------- */

interface Fixture {
  username: string;
  email: string;
  userId: string;
  token: string;
  refreshToken?: string;
}

interface Case {
  op: Operation;
  label: string;
  method: string;
  target: string;
  headers: Array<[string, string]>;
  body?: Buffer;
}

let srv: TestServer;
let port = 0;
const specs = new Map<ApiId, Spec>();
const fixtures = new Map<ApiId, Fixture>();
let oauthClient = { id: '', secret: '' };
let application = { id: '', secret: '' };

const latin1OfUtf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
const pctEncode = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');

function baselineValue(api: ApiId, name: string, schema: Schema): unknown {
  const f = fixtures.get(api)!;
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (schema.type === 'integer' || schema.type === 'number') return name === 'accept_terms' ? 1 : 1;
  switch (name) {
    case 'username':
    case 'userName':
      return f.username;
    case 'email':
      return f.email;
    case 'password':
      return PASSWORD;
    case 'token':
      return f.token;
    case 'refresh_token':
      return f.refreshToken ?? 'x';
    case 'client_id':
      return oauthClient.id;
    case 'expirationTime':
      return '2099-01-01T00:00:00Z';
    case 'code':
      return '123456';
    case 'id':
      return f.userId;
    default:
      return 'A'.repeat(Math.max(1, Number(schema.minLength ?? 1)));
  }
}

function authHeader(api: ApiId, kind: string, hostile?: { value: string; part: 'user' | 'secret' }): string {
  const f = fixtures.get(api)!;
  const put = (user: string, secret: string) => (hostile ? (hostile.part === 'user' ? [hostile.value, secret] : [user, hostile.value]) : [user, secret]);
  switch (kind) {
    case 'basic': {
      const [u, p] = api === 'mts-auth' ? put(oauthClient.id, oauthClient.secret) : put(f.username, PASSWORD);
      return `Basic ${Buffer.from(`${u}:${p}`, 'utf8').toString('base64')}`;
    }
    case 'bearer':
      return `Bearer ${latin1OfUtf8(hostile ? hostile.value : f.token)}`;
    case 'Application': {
      const [u, p] = put(application.id, application.secret);
      return `Application ${latin1OfUtf8(`${u}:${p}`)}`;
    }
    default:
      return `${kind} ${latin1OfUtf8(hostile ? hostile.value : f.token)}`;
  }
}

function encodeBody(media: string, body: Json): Buffer {
  if (media === 'application/json') return Buffer.from(JSON.stringify(body), 'utf8');
  return Buffer.from(
    Object.entries(body)
      .map(([k, v]) => `${pctEncode(k)}=${pctEncode(String(v))}`)
      .join('&'),
    'latin1',
  );
}

function buildCases(op: Operation): Case[] {
  const spec = specs.get(op.api)!;
  const cases: Case[] = [];
  const base = spec.mount === '/' ? '' : spec.mount;
  const pathWith = (name?: string, raw?: string) =>
    base +
    op.path.replace(/\{([^}]+)\}/g, (_m, p: string) => {
      if (p === name) return raw!;
      const param = op.params.find((x) => x.name === p)!;
      return encodeURIComponent(String(baselineValue(op.api, p, param.schema)));
    });
  const queryWith = (name?: string, value?: string) =>
    op.params
      .filter((p) => p.in === 'query' && (p.required || p.name === name))
      .map((p) => `${encodeURIComponent(p.name)}=${p.name === name ? pctEncode(value!) : encodeURIComponent(String(baselineValue(op.api, p.name, p.schema)))}`)
      .join('&');
  const authHeaders = (hostile?: { kind: string; value: string; part: 'user' | 'secret' }): Array<[string, string]> =>
    op.auth.length === 0 ? [] : [['Authorization', authHeader(op.api, hostile?.kind ?? op.auth[op.auth.length - 1]!, hostile)]];
  const target = (p: string, q: string) => (q ? `${p}?${q}` : p);
  const method = op.method.toUpperCase();
  const baseBody = (v: { props: Map<string, Schema>; required: Set<string> }) => {
    const b: Json = {};
    for (const k of v.required) b[k] = baselineValue(op.api, k, v.props.get(k) ?? {});
    return b;
  };
  const withBody = (media: string, body: Json | Buffer, headers: Array<[string, string]> = authHeaders()): Case => ({
    op,
    label: '',
    method,
    target: target(pathWith(), queryWith()),
    headers: [...headers, ['Content-Type', media]],
    body: Buffer.isBuffer(body) ? body : encodeBody(media, body),
  });
  const defaultBody = () => (op.media.length > 0 ? { media: op.media[0]!, body: encodeBody(op.media[0]!, baseBody(op.bodyVariants[0]!)) } : undefined);
  const send = (label: string, c: Omit<Case, 'op' | 'label' | 'method'> & { method?: string }): Case => {
    const d = defaultBody();
    const headers = c.headers;
    let body = c.body;
    if (body === undefined && d && !headers.some(([k]) => k === 'Content-Type')) {
      headers.push(['Content-Type', d.media]);
      body = d.body;
    }
    return { op, label, method: c.method ?? method, target: c.target, headers, body };
  };

  for (const p of op.params.filter((x) => x.in === 'path' && isString(x.schema))) {
    // an empty segment names another resource (/user/ is /user): not this operation's case
    for (const v of hostileValues(p.schema).filter((x) => x !== '')) {
      cases.push(send(`path ${p.name}=${JSON.stringify(v).slice(0, 40)}`, { target: target(pathWith(p.name, pctEncode(v)), queryWith()), headers: authHeaders() }));
    }
    for (const raw of ['%ZZ', '%', 'a%2', '%C0%AF', '%ED%A0%80', '..%2F..%2F']) {
      cases.push(send(`path ${p.name} raw ${raw}`, { target: target(pathWith(p.name, raw), queryWith()), headers: authHeaders() }));
    }
  }
  for (const p of op.params.filter((x) => x.in === 'query' && isString(x.schema))) {
    for (const v of hostileValues(p.schema)) {
      cases.push(send(`query ${p.name}=${JSON.stringify(v).slice(0, 40)}`, { target: target(pathWith(), queryWith(p.name, v)), headers: authHeaders() }));
    }
    cases.push(send(`query ${p.name} raw %ZZ`, { target: target(pathWith(), `${queryWith()}&${p.name}=%ZZ`), headers: authHeaders() }));
  }
  // unknown query parameters are ignored, hostile or not
  for (const q of ['_=1', '%ZZ=%ZZ', 'x=%00', '__proto__=1&constructor=2']) {
    cases.push(send(`query extra ${q}`, { target: `${target(pathWith(), queryWith())}${queryWith() ? '&' : '?'}${q}`, headers: authHeaders() }));
  }
  for (const kind of op.auth) {
    for (const part of ['user', 'secret'] as const) {
      if (part === 'secret' && kind !== 'basic' && kind !== 'Application') continue;
      for (const v of hostileValues({})) {
        cases.push(send(`auth ${kind} ${part}=${JSON.stringify(v).slice(0, 40)}`, { target: target(pathWith(), queryWith()), headers: authHeaders({ kind, value: v, part }) }));
      }
    }
  }
  for (const media of op.media) {
    for (const variant of op.bodyVariants) {
      for (const [name, schema] of variant.props) {
        if (!isString(schema) && media === 'application/json') continue;
        for (const v of hostileValues(schema)) {
          const c = withBody(media, { ...baseBody(variant), [name]: v });
          cases.push({ ...c, label: `${media} ${name}=${JSON.stringify(v).slice(0, 40)}` });
        }
      }
      const b = baseBody(variant);
      const json = JSON.stringify(b);
      const raws: Array<[string, Buffer]> =
        media === 'application/json'
          ? [
              ['__proto__ key', Buffer.from(`{"__proto__":{"admin":true},${json.slice(1)}`)],
              ['constructor key', Buffer.from(`{"constructor":{"prototype":{"x":1}},${json.slice(1)}`)],
              ['overlong UTF-8', Buffer.concat([Buffer.from(`{"x":"`), Buffer.from([0xc0, 0xaf, 0xe0, 0x80, 0xaf]), Buffer.from(`",${json.slice(1)}`)])],
              ['invalid UTF-8', Buffer.concat([Buffer.from(json.slice(0, -1) + ',"y":"'), Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80]), Buffer.from('"}')])],
              ['escaped NUL key', Buffer.from(`{"a\\u0000":1,${json.slice(1)}`)],
              ['not JSON', Buffer.from('{"a":')],
              ['array', Buffer.from('[1,2,3]')],
              ['deep', Buffer.from(`${'['.repeat(5000)}${']'.repeat(5000)}`)],
              ['string', Buffer.from('"\\ud800"')],
              ['100 KB', Buffer.from(JSON.stringify({ ...b, pad: 'A'.repeat(100_000) }))],
            ]
          : [
              ['__proto__ key', Buffer.from(`__proto__=1&constructor=2&${encodeBody(media, b).toString('latin1')}`, 'latin1')],
              ['malformed %', Buffer.from(`a=%ZZ&b=%&${encodeBody(media, b).toString('latin1')}`, 'latin1')],
              ['overlong UTF-8', Buffer.concat([encodeBody(media, b), Buffer.from('&x='), Buffer.from([0xc0, 0xaf, 0xff])])],
              ['NUL key', Buffer.from(`%00=1&${encodeBody(media, b).toString('latin1')}`, 'latin1')],
              ['many', Buffer.from(Array.from({ length: 200 }, (_, i) => `k${i}=1`).join('&'))],
            ];
      for (const [label, raw] of raws) cases.push({ ...withBody(media, raw), label: `${media} raw ${label}` });
    }
  }
  if (op.media.length > 0) {
    const d = defaultBody()!;
    cases.push({ op, label: 'body without Content-Type', method, target: target(pathWith(), queryWith()), headers: authHeaders(), body: d.body });
    cases.push({ op, label: 'body of text/plain', method, target: target(pathWith(), queryWith()), headers: [...authHeaders(), ['Content-Type', 'text/plain']], body: d.body });
    cases.push({ op, label: 'charset latin1', method, target: target(pathWith(), queryWith()), headers: [...authHeaders(), ['Content-Type', `${d.media}; charset=x-unknown`]], body: d.body });
  }
  if (op.media.length === 0 && method !== 'HEAD') {
    // a body where the operation takes none is ignored, whatever it holds
    const t = target(pathWith(), queryWith());
    cases.push({ op, label: 'unexpected JSON body, 100 KB', method, target: t, headers: [...authHeaders(), ['Content-Type', 'application/json']], body: Buffer.from(JSON.stringify({ a: 'A'.repeat(100_000) })) });
    cases.push({ op, label: 'unexpected broken JSON body', method, target: t, headers: [...authHeaders(), ['Content-Type', 'application/json']], body: Buffer.from('{"a":"\\ud800"') });
    cases.push({ op, label: 'unexpected form body, unknown charset', method, target: t, headers: [...authHeaders(), ['Content-Type', `${FORM}; charset=x-unknown`]], body: Buffer.from('a=%00') });
  }
  // headers over the limit, and a raw header byte Node refuses
  cases.push(send('header 100 KB', { target: target(pathWith(), queryWith()), headers: [...authHeaders(), ['X-Big', 'A'.repeat(100_000)]] }));
  cases.push(send('header 17 KB', { target: target(pathWith(), queryWith()), headers: [...authHeaders(), ['X-Big', 'A'.repeat(17_000)]] }));
  cases.push(send('header NUL byte', { target: target(pathWith(), queryWith()), headers: [...authHeaders(), ['X-Nul', 'a\u0000b']] }));
  return cases;
}

/* ------------------------------ the checks ------------------------------ */

const Ajv2020 = ((Ajv2020Module as unknown as { default?: unknown }).default ?? Ajv2020Module) as new (o: object) => {
  addSchema(s: object, key: string): void;
  compile(s: object): ((d: unknown) => boolean) & { errors?: unknown };
};
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: unknown) => void;
const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv);
const validators = new Map<string, ((d: unknown) => boolean) & { errors?: unknown }>();

const LEAK = /\bat [^\n]*:\d+:\d+\)?|node_modules|\.ts:\d+|\bselect\b[^"]*\bfrom\b|insert into|violates|syntax error|invalid byte sequence|relation "|knex|pglite|postgres|\bstack\b/i;

function problemsOf(c: Case, r: RawResponse): string[] {
  const problems: string[] = [];
  const responses = c.op.op.responses as Record<string, Json>;
  const documented = responses[String(r.status)] ?? responses.default;
  const text = r.body.toString('utf8');
  if (r.status >= 500) problems.push(`answered ${r.status}`);
  if (!documented) problems.push(`status ${r.status} is not documented (${Object.keys(responses).join(',')})`);
  if (LEAK.test(text)) problems.push(`the answer leaks internals: ${text.slice(0, 200)}`);
  if (!documented || c.method === 'HEAD' || r.status === 301) return problems;
  const spec = specs.get(c.op.api)!;
  const resolved = deref(spec.doc, documented) as Json;
  const content = resolved.content as Record<string, Json> | undefined;
  if (!content) {
    if (r.body.length > 0) problems.push(`a body where the spec has none: ${text.slice(0, 100)}`);
    return problems;
  }
  const type = (r.headers['content-type'] ?? '').split(';')[0]!.trim();
  const media = content[type];
  if (!media) {
    problems.push(`content type ${type || '(none)'} is not documented for ${r.status}`);
    return problems;
  }
  const ref = (documented.$ref as string | undefined) ?? `#/paths/${c.op.path.replace(/~/g, '~0').replace(/\//g, '~1')}/${c.op.method}/responses/${r.status}`;
  const key = `${c.op.api}${ref}/content/${type.replace(/\//g, '~1')}/schema`;
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile({ $ref: key });
    validators.set(key, validate);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    problems.push(`not JSON: ${text.slice(0, 100)}`);
    return problems;
  }
  if (!validate(body)) problems.push(`body does not match the spec: ${JSON.stringify(validate.errors).slice(0, 300)}; body ${text.slice(0, 200)}`);
  return problems;
}

/* ------------------------------- the run ------------------------------- */

beforeAll(async () => {
  srv = await startServer({
    THROTTLE_ACCOUNT_MAX_FAILURES: '1000000',
    THROTTLE_IP_MAX_FAILURES: '1000000',
    MAIL_MAX_PER_HOUR: '1000000',
    MAIL_MAX_PER_HOUR_PER_IP: '1000000',
    // No 5xx at all, 503 included: the request deadline is raised far past
    // what a loaded machine needs for 6 requests at a time, so a 503 here
    // would be the server's own failure, never the runner's slowness.
    REQUEST_DEADLINE_MS: '120000',
  });
  port = Number(new URL(srv.baseUrl).port);
  for (const id of APIS) {
    const doc = parseYaml(readFileSync(specPath(id), 'utf8')) as Json;
    specs.set(id, { id, doc, mount: ((doc.servers as Json[])[0]!.url as string).replace(/\/$/, '') || '/' });
    ajv.addSchema(doc, id);
  }
  const oc = await srv.services.clients.create('oauth', 'fuzz');
  oauthClient = { id: oc.client.clientId, secret: oc.secret! };
  const app = await srv.services.clients.create('application', 'fuzz');
  application = { id: app.client.clientId, secret: app.secret! };
  const post = async (path: string, body: string | undefined, headers: Record<string, string>) => {
    const r = await fetch(`${srv.baseUrl}${path}`, { method: 'POST', headers, body });
    expect(r.status).toBe(200);
    return (await r.json()) as Json;
  };
  // One person per API: a password change or logout under fuzzing touches only its own API's fixture.
  for (const id of APIS) {
    const email = uniqueEmail(`fuzz-${id}`);
    const username = id === 'mts-auth' ? email : `fuzz_${id.replace(/-/g, '_')}_${Math.random().toString(36).slice(2, 8)}`;
    const user = await srv.services.accounts.register({ username, email, password: PASSWORD }, { api: id, ip: '127.0.0.1' });
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    let token = '';
    let refreshToken: string | undefined;
    if (id === 'mts-auth') {
      const t = await post('/oauth/token', new URLSearchParams({ grant_type: 'password', username, password: PASSWORD }).toString(), {
        'content-type': FORM,
        authorization: basic(oauthClient.id, oauthClient.secret),
      });
      token = t.access_token as string;
    } else if (id === 'mint-auth') {
      token = (await post('/mint/api/v1/auth/authorize', JSON.stringify({ grant_type: 'password', username, password: PASSWORD }), { 'content-type': 'application/json' })).access_token as string;
    } else if (id === 'oauth-service') {
      const t = await post('/api/oauth/token', new URLSearchParams({ grant_type: 'password', username, password: PASSWORD }).toString(), {
        'content-type': FORM,
        authorization: basic(oauthClient.id, oauthClient.secret),
      });
      token = t.access_token as string;
      refreshToken = t.refresh_token as string;
    } else if (id === 'user-token-auth') {
      token = (await post('/auth/login', undefined, { authorization: basic(username, PASSWORD) })).token as string;
    } else {
      token = (await post('/api/v3/auth/login', JSON.stringify({ userName: username, password: PASSWORD }), { 'content-type': 'application/json' })).token as string;
    }
    fixtures.set(id, { username, email, userId: user.id, token, refreshToken });
  }
}, 60_000);

afterAll(async () => {
  await srv?.close();
});

test('hostile values in every field of every operation: documented, spec-shaped answers, no 5xx, nothing leaked', async () => {
  const random = prng(SEED);
  const all = [...specs.values()].flatMap(operationsOf).flatMap(buildCases);
  // every operation's cases interleaved at random, so a bound cuts evenly
  const order = all.map((c) => ({ c, k: random() })).sort((a, b) => a.k - b.k).map((x) => x.c);
  const cases = order.slice(0, MAX_CASES);
  const deadline = Date.now() + SECONDS * 1000;
  const failures: string[] = [];
  let sent = 0;
  let next = 0;
  const worker = async () => {
    while (next < cases.length && Date.now() < deadline && failures.length < 40) {
      const c = cases[next++]!;
      sent += 1;
      let problems: string[];
      try {
        problems = problemsOf(c, await rawRequest(port, c.method, c.target, c.headers, c.body));
      } catch (err) {
        problems = [`no answer: ${(err as Error).message}`];
      }
      if (problems.length > 0) failures.push(`${c.op.api} ${c.method} ${c.op.path} [${c.label}]: ${problems.join('; ')}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  console.log(`fuzz: seed ${SEED}, ${all.length} cases built, ${sent} sent (bound ${MAX_CASES} cases, ${SECONDS} s), ${failures.length} failed`);
  expect(failures).toEqual([]);
  // a bound that cut the run to nothing would make this test pass vacuously
  expect(sent).toBeGreaterThanOrEqual(Math.min(cases.length, 300));
}, (SECONDS + 40) * 1000);
