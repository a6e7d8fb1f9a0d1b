// What every answer carries whatever the API: security headers (helmet's,
// precomputed), request ids, the request log at each level, metrics, and
// the service routes next to the API mounts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import express from 'express';
import helmet, { type HelmetOptions } from 'helmet';
import pino from 'pino';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { apis } from '../src/apis/index.ts';
import { helmetHeaders } from '../src/http/security-headers.ts';
import { startServer, type TestServer } from './harness.ts';
import { FORM, form, uniqueEmail } from './helpers.ts';

/** A pino logger whose lines are kept, parsed. */
function capturingLogger(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level }, sink), lines };
}

/** The headers helmet itself sets on a real Express response. */
async function headersOfRealHelmet(options: HelmetOptions): Promise<Record<string, string>> {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(helmet(options));
  app.get('/', (_req, res) => {
    res.json({});
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  try {
    const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await res.arrayBuffer();
    const skip = new Set(['date', 'connection', 'keep-alive', 'content-length', 'content-type']);
    const headers: Record<string, string> = {};
    res.headers.forEach((value, name) => {
      if (!skip.has(name)) headers[name] = value;
    });
    return headers;
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const lower = (headers: Iterable<readonly [string, string]>) => Object.fromEntries([...headers].map(([k, v]) => [k.toLowerCase(), v]));

describe('security headers', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(async () => {
    await srv?.close();
  });

  test("precomputed headers are exactly helmet's, for the strict and the docs configuration", async () => {
    for (const options of [{}, { contentSecurityPolicy: false }] satisfies HelmetOptions[]) {
      const real = await headersOfRealHelmet(options);
      expect(Object.keys(real).length).toBeGreaterThan(8);
      expect(lower(helmetHeaders(options))).toEqual(real);
    }
  });

  test('every API answer, errors included, carries the strict headers; the docs carry their own CSP', async () => {
    const strict = await headersOfRealHelmet({});
    const answers = [
      await fetch(`${srv.baseUrl}/mint/api/v1/auth/token_info`), // 401
      await fetch(`${srv.baseUrl}/api/v3/auth/whoAmI?token=1-00000000000000000000000000000000`), // 401
      await fetch(`${srv.baseUrl}/no/such/path`), // mts-auth 404
      await fetch(`${srv.baseUrl}/healthz`),
      await fetch(`${srv.baseUrl}/docsfoo`), // mts-auth 404, not a docs page
    ];
    for (const res of answers) {
      for (const [name, value] of Object.entries(strict)) expect([name, res.headers.get(name)]).toEqual([name, value]);
    }
    const docs = await fetch(`${srv.baseUrl}/docs/`);
    const csp = docs.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain('worker-src');
    expect(csp).not.toBe(strict['content-security-policy']);
    expect(docs.headers.get('strict-transport-security')).toBe(strict['strict-transport-security']);
    // the docs are a service path in any case, and carry their CSP in any case
    expect((await fetch(`${srv.baseUrl}/DOCS/`)).headers.get('content-security-policy')).toBe(csp);
  });

  test('a CSP computed per request (a nonce) is refused, not frozen', () => {
    const nonce = () => "'nonce-x'";
    expect(() => helmetHeaders({ contentSecurityPolicy: { directives: { scriptSrc: ["'self'", nonce] } } })).toThrow(/computed per request/);
  });
});

describe('request ids', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(async () => {
    await srv?.close();
  });

  test('a sane X-Request-Id is echoed; anything else is replaced by a UUID', async () => {
    const echoed = await fetch(`${srv.baseUrl}/healthz`, { headers: { 'x-request-id': 'abc.DEF-123_4' } });
    expect(echoed.headers.get('x-request-id')).toBe('abc.DEF-123_4');
    for (const bad of ['a'.repeat(65), 'a b', 'x;drop', '']) {
      const res = await fetch(`${srv.baseUrl}/auth/bump`, { method: 'POST', headers: { 'x-request-id': bad, accept: 'application/json' } });
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });
});

describe('request log', () => {
  test('at info: one line per answer (info below 500, error from 500), secrets masked, none for /healthz', async () => {
    const { log, lines } = capturingLogger('info');
    const srv = await startServer({ REGISTRATION_ENABLED: 'false' }, { log });
    try {
      const ok = await fetch(`${srv.baseUrl}/api/v3/auth/whoAmI?token=1-0123456789abcdef0123456789abcdef`, { headers: { 'x-request-id': 'info-401' } });
      expect(ok.status).toBe(401);
      await fetch(`${srv.baseUrl}/healthz`, { headers: { 'x-request-id': 'info-health' } });
      const disabled = await fetch(`${srv.baseUrl}/api/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': FORM, 'x-request-id': 'info-500' },
        body: form({ username: 'someone', email: uniqueEmail(), password: 'long enough password', accept_terms: '1' }),
      });
      expect(disabled.status).toBe(500);
      const mine = (id: string) => lines.filter((l) => (l.req as { id?: string } | undefined)?.id === id);
      const [refused] = mine('info-401');
      expect(refused).toMatchObject({ level: 30, msg: 'request completed', res: { statusCode: 401 } });
      expect((refused!.req as { url: string }).url).toBe('/api/v3/auth/whoAmI?token=[redacted]');
      expect(JSON.stringify(lines)).not.toContain('0123456789abcdef0123456789abcdef');
      expect(mine('info-health')).toEqual([]);
      expect(mine('info-500')).toEqual([expect.objectContaining({ level: 50, msg: 'request errored', res: { statusCode: 500 } })]);
    } finally {
      await srv.close();
    }
  });

  test('at warn: no line for answers below 500, the same error line from 500 on, req.log still carries the request', async () => {
    const { log, lines } = capturingLogger('warn');
    const web = express.Router();
    web.get('/log-probe', (req, res) => {
      req.log.warn({ probe: true }, 'handler line');
      res.json({ ok: true });
    });
    const srv = await startServer({ REGISTRATION_ENABLED: 'false' }, { log, app: { routes: [{ path: '/web', router: () => web }] } });
    try {
      expect((await fetch(`${srv.baseUrl}/mint/api/v1/auth/token_info`, { headers: { 'x-request-id': 'warn-401' } })).status).toBe(401);
      expect((await fetch(`${srv.baseUrl}/web/log-probe?token=secret-value`, { headers: { 'x-request-id': 'warn-probe' } })).status).toBe(200);
      const disabled = await fetch(`${srv.baseUrl}/api/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': FORM, 'x-request-id': 'warn-500' },
        body: form({ username: 'someone', email: uniqueEmail(), password: 'long enough password', accept_terms: '1' }),
      });
      expect(disabled.status).toBe(500);
      const mine = (id: string) => lines.filter((l) => (l.req as { id?: string } | undefined)?.id === id);
      expect(mine('warn-401')).toEqual([]);
      expect(mine('warn-probe')).toEqual([
        expect.objectContaining({ level: 40, msg: 'handler line', probe: true, req: expect.objectContaining({ method: 'GET', url: '/web/log-probe?token=[redacted]' }) }),
      ]);
      const [errored] = mine('warn-500');
      expect(errored).toMatchObject({ level: 50, msg: 'request errored', res: { statusCode: 500 }, req: { method: 'POST', url: '/api/oauth/register' } });
      expect(typeof errored!.responseTime).toBe('number');
    } finally {
      await srv.close();
    }
  });
});

describe('metrics and service routes', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer();
  });
  afterAll(async () => {
    await srv?.close();
  });

  test('/metrics counts answers by API, method and status, and times them', async () => {
    for (let i = 0; i < 3; i += 1) expect((await fetch(`${srv.baseUrl}/mint/api/v1/auth/token_info`)).status).toBe(401);
    await fetch(`${srv.baseUrl}/healthz`);
    const text = await (await fetch(`${srv.baseUrl}/metrics`)).text();
    expect(text).toMatch(/^polyauth_http_requests_total\{api="mint-auth",method="GET",status="401"\} 3$/m);
    expect(text).toMatch(/^polyauth_http_requests_total\{api="service",method="GET",status="200"\} \d+$/m);
    expect(text).toMatch(/^polyauth_http_request_duration_seconds_count\{api="mint-auth"\} 3$/m);
  });

  test('/metrics behind METRICS_TOKEN: refused without it or with a wrong one, served with it', async () => {
    const token = 'metrics-token-0123456789abcdef';
    const guarded = await startServer({ METRICS_TOKEN: token });
    try {
      const none = await fetch(`${guarded.baseUrl}/metrics`);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer /);
      const wrong = await Promise.all(
        [`Bearer ${token.slice(0, -1)}x`, `Bearer ${token}x`, token, `Basic ${token}`].map((h) => fetch(`${guarded.baseUrl}/metrics`, { headers: { Authorization: h } })),
      );
      expect(wrong.map((r) => r.status)).toEqual([401, 401, 401, 401]);
      const ok = await fetch(`${guarded.baseUrl}/metrics`, { headers: { Authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/^polyauth_http_requests_total/m);
    } finally {
      await guarded.close();
    }
  });

  test('/metrics is not served in production without METRICS_TOKEN', async () => {
    const prod = await startServer({ NODE_ENV: 'production', BCRYPT_COST: '10' });
    try {
      const res = await fetch(`${prod.baseUrl}/metrics`);
      expect(res.status).toBe(404);
      expect(await res.text()).not.toMatch(/polyauth_http/);
    } finally {
      await prod.close();
    }
  });

  test('the docs pages are sent precompressed to clients that accept it', async () => {
    const page = await fetch(`${srv.baseUrl}/docs/index.html`, { headers: { 'Accept-Encoding': 'br' } });
    if (page.status === 404) {
      console.warn('[polyauth] docs compression NOT TESTED: the docs are not built (npm run build:docs)');
      return;
    }
    expect(page.status).toBe(200);
    expect(page.headers.get('content-encoding')).toBe('br');
    expect(page.headers.get('vary')).toMatch(/Accept-Encoding/i);
    expect(await page.text()).toMatch(/<html/i); // fetch decodes it
    const plain = await fetch(`${srv.baseUrl}/docs/index.html`, { headers: { 'Accept-Encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
  });

  test('service paths are served whatever their case; other paths fall through to the root API', async () => {
    expect((await fetch(`${srv.baseUrl}/HEALTHZ`)).status).toBe(200);
    const unknown = await fetch(`${srv.baseUrl}/healthzz`);
    expect(unknown.status).toBe(404);
    expect(Object.keys((await unknown.json()) as object).sort()).toEqual(['code', 'error', 'error_description']); // mts-auth's dialect
  });

  test('paths are case-sensitive, the mounts too: a mount in another case is not that API', async () => {
    const wrongMount = await fetch(`${srv.baseUrl}/MINT/api/v1/auth/token_info`);
    expect(wrongMount.status).toBe(404);
    expect(Object.keys((await wrongMount.json()) as object).sort()).toEqual(['code', 'error', 'error_description']); // mts-auth's
    const wrongPath = await fetch(`${srv.baseUrl}/mint/api/v1/auth/TOKEN_INFO`);
    expect(wrongPath.status).toBe(404);
    expect(Object.keys((await wrongPath.json()) as object)).toEqual(['response']); // mint-auth's
  });

  test('a spec that gives two operations one operationId is refused at start-up', async () => {
    const mts = apis.find((a) => a.mount === '/')!;
    const spec = parseYaml(readFileSync(mts.specPath, 'utf8')) as { paths: Record<string, Record<string, { operationId?: string }>> };
    const ops = Object.values(spec.paths).flatMap((item) => Object.values(item).filter((op) => typeof op === 'object' && op?.operationId));
    expect(ops.length).toBeGreaterThan(1);
    ops[1]!.operationId = ops[0]!.operationId;
    const dir = mkdtempSync(path.join(tmpdir(), 'polyauth-spec-'));
    const specPath = path.join(dir, 'twice.yaml');
    writeFileSync(specPath, stringifyYaml(spec));
    try {
      await expect(startServer({}, { app: { apis: [{ ...mts, specPath }] } })).rejects.toThrow(`operationId ${ops[0]!.operationId} is used twice`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an API mounted under a service path is refused at start-up', async () => {
    const mts = apis.find((a) => a.mount === '/')!;
    await expect(startServer({}, { app: { apis: [{ ...mts, id: 'shadow', mount: '/docs/shadow' }] } })).rejects.toThrow(/collides with the service routes/);
  });
});

describe('JSON answers without response validation (production)', () => {
  /** A server, a user and a mint token on it. */
  async function withToken(env: Record<string, string>) {
    const srv = await startServer(env);
    const email = uniqueEmail('json');
    await srv.services.accounts.register({ username: email, email, firstName: 'J', lastName: 'S', password: 'long enough password' }, { api: 'test', ip: '127.0.0.1' });
    const login = await fetch(`${srv.baseUrl}/mint/api/v1/auth/authorize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'password', username: email, password: 'long enough password' }),
    });
    expect(login.status).toBe(200);
    const { access_token } = (await login.json()) as { access_token: string };
    return { srv, auth: { authorization: `UserToken ${access_token}` } };
  }

  const answer = async (res: Response) => ({
    status: res.status,
    type: res.headers.get('content-type'),
    length: res.headers.get('content-length'),
    body: await res.text(),
  });

  test("a reply is sent as res.json sends it: same type, length and fields; If-None-Match: * is no 304", async () => {
    const prod = await withToken({ VALIDATE_RESPONSES: 'false' });
    const validated = await withToken({ VALIDATE_RESPONSES: 'true' });
    try {
      const path = '/mint/api/v1/auth/token_info';
      const p = await answer(await fetch(`${prod.srv.baseUrl}${path}`, { headers: prod.auth }));
      const v = await answer(await fetch(`${validated.srv.baseUrl}${path}`, { headers: validated.auth }));
      expect(p.status).toBe(200);
      expect(p.type).toBe('application/json; charset=utf-8');
      expect(p.type).toBe(v.type);
      expect(Number(p.length)).toBe(Buffer.byteLength(p.body));
      expect(JSON.parse(p.body)).toMatchObject({ token_type: 'user' });
      expect(Object.keys(JSON.parse(p.body) as object)).toEqual(Object.keys(JSON.parse(v.body) as object));

      const star = await fetch(`${prod.srv.baseUrl}${path}`, { headers: { ...prod.auth, 'if-none-match': '*' } });
      expect(star.status).toBe(200);
      expect(await star.text()).toBe(p.body);
    } finally {
      await prod.srv.close();
      await validated.srv.close();
    }
  });
});
