// Hostile but legal bytes, bodies without a type, unknown query parameters,
// malformed percent-encoding and oversized headers: each API answers in its
// own dialect with a documented status, never a 500 (see fuzz.test.ts for
// the spec-driven sweep; these are the known reproductions, every time).
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { cutText, hasForbiddenCharacter } from '../src/identity/text.ts';
import { requestLineOf } from '../src/http/http-server.ts';
import { startServer, type TestServer } from './harness.ts';
import { basicAuth, form, FORM, uniqueEmail } from './helpers.ts';

let srv: TestServer;
let client: { id: string; secret: string };
const PASSWORD = 'correct horse battery';
const JSON_CT = 'application/json';
const url = (p: string) => `${srv.baseUrl}${p}`;

beforeAll(async () => {
  srv = await startServer();
  const created = await srv.services.clients.create('oauth', 'hostile');
  client = { id: created.client.clientId, secret: created.secret! };
});
afterAll(async () => {
  await srv?.close();
});

/** The error bodies of the five dialects, keys sorted. */
const DIALECT_KEYS: Record<string, string[] | 'message'> = {
  mts: ['code', 'error', 'error_description'],
  /** mts-auth's POST /user: the legacy document's bare "<error_message>", a JSON string. */
  mtsMessage: 'message',
  mint: ['response'],
  oauth: ['error', 'message'],
  uta: ['error', 'message'],
  v3: ['errorCode', 'errorDescription'],
};

async function expectDialect(r: Response, status: number, dialect: keyof typeof DIALECT_KEYS): Promise<Record<string, unknown>> {
  const text = await r.text();
  expect({ status: r.status, type: r.headers.get('content-type') }).toEqual({ status, type: 'application/json; charset=utf-8' });
  const body = JSON.parse(text) as Record<string, unknown>;
  if (DIALECT_KEYS[dialect] === 'message') expect(typeof body).toBe('string');
  else expect(Object.keys(body).sort()).toEqual(DIALECT_KEYS[dialect]);
  expect(text).not.toMatch(/ at |\.ts:|select |insert |'"/);
  return body;
}

describe('cutText', () => {
  test('never splits a surrogate pair', () => {
    const s = `${'a'.repeat(253)}\u{1F600}`;
    expect(s.length).toBe(255);
    expect(cutText(s, 254)).toBe('a'.repeat(253));
    expect(cutText(s, 255)).toBe(s);
    expect(cutText('\u{1F600}', 1)).toBe('');
    expect(cutText('abc', 0)).toBe('');
    expect(cutText('abc', 2)).toBe('ab');
  });

  test('NUL and lone surrogates are forbidden, pairs and other controls are not', () => {
    expect(hasForbiddenCharacter('a\u0000b')).toBe(true);
    expect(hasForbiddenCharacter('\ud800')).toBe(true);
    expect(hasForbiddenCharacter('x\udc00')).toBe(true);
    expect(hasForbiddenCharacter('\u{1F600}\u0001\u202e')).toBe(false);
  });
});

describe('NUL and lone surrogates: 400 in the dialect, before the database', () => {
  const lone = '{"userName":"\\ud800x","password":"x"}';
  test.each<[string, string, RequestInit, number, keyof typeof DIALECT_KEYS]>([
    ['auth-v3 login, JSON', '/api/v3/auth/login', { method: 'POST', headers: { 'content-type': JSON_CT }, body: lone }, 400, 'v3'],
    ['auth-v3 loginOther, JSON', '/api/v3/auth/loginOther', { method: 'POST', headers: { 'content-type': JSON_CT }, body: '{"token":"1-a3bf70333f8f1316cb7841cd774c9ce8","userName":"\\ud800"}' }, 400, 'v3'],
    ['mint authorize, JSON', '/mint/api/v1/auth/authorize', { method: 'POST', headers: { 'content-type': JSON_CT }, body: '{"grant_type":"password","username":"\\ud800x","password":"x"}' }, 400, 'mint'],
    ['oauth-service token, JSON', '/api/oauth/token', { method: 'POST', headers: { 'content-type': JSON_CT }, body: '{"grant_type":"password","client_id":"c","username":"\\udc00","password":"x"}' }, 400, 'oauth'],
    ['oauth-service token, Basic ADoA is no credential there: form NUL', '/api/oauth/token', { method: 'POST', headers: { 'content-type': FORM }, body: 'grant_type=password&client_id=a%00b&username=x&password=y' }, 400, 'oauth'],
    ['mts-auth token, Basic ADoA', '/oauth/token', { method: 'POST', headers: { 'content-type': FORM, authorization: 'Basic ADoA' }, body: 'grant_type=password&username=a&password=b' }, 400, 'mts'],
    ['mts-auth token, a client id of %00 inside Basic', '/oauth/token', { method: 'POST', headers: { 'content-type': FORM, authorization: `Basic ${Buffer.from('%00:x').toString('base64')}` }, body: 'grant_type=password&username=a&password=b' }, 400, 'mts'],
    ['mts-auth POST /user, firstName=a%00b (its documented 406)', '/user', { method: 'POST', headers: { 'content-type': FORM }, body: 'firstName=a%00b&lastName=L&email=nul%40example.com&password=correct+horse' }, 406, 'mtsMessage'],
    ['user-token-auth login, Basic ADoA', '/auth/login', { method: 'POST', headers: { authorization: 'Basic ADoA' } }, 400, 'uta'],
    ['user-token-auth login, NUL note', '/auth/login', { method: 'POST', headers: { authorization: basicAuth('a', 'b'), 'content-type': JSON_CT }, body: '{"note":"a\\u0000"}' }, 400, 'uta'],
    ['a NUL in a query', '/api/v3/auth/login?userName=%00&password=x', {}, 400, 'v3'],
    ['a NUL in a path', '/api/oauth/valid_email/a%00b', {}, 400, 'oauth'],
    ['a NUL in a JSON key', '/api/v3/auth/login', { method: 'POST', headers: { 'content-type': JSON_CT }, body: '{"a\\u0000":1,"userName":"a","password":"b"}' }, 400, 'v3'],
  ])('%s', async (_name, path, init, status, dialect) => {
    await expectDialect(await fetch(url(path), init), status, dialect);
  });

  test('PUT /user/{id} with firstName=a%00b is 400 and changes nothing', async () => {
    const email = uniqueEmail();
    const reg = await fetch(url('/user'), { method: 'POST', headers: { 'content-type': FORM }, body: form({ firstName: 'Ada', lastName: 'L', email, password: PASSWORD }) });
    const id = (await reg.json()) as string; // the bare new id
    const t = await fetch(url('/oauth/token'), {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basicAuth(client.id, client.secret) },
      body: form({ grant_type: 'password', username: email, password: PASSWORD }),
    });
    const { access_token } = (await t.json()) as { access_token: string };
    const r = await fetch(url(`/user/${id}`), { method: 'PUT', headers: { 'content-type': FORM, authorization: `Bearer ${access_token}` }, body: 'firstName=a%00b' });
    await expectDialect(r, 400, 'mts');
    expect((await srv.services.store.users.byId(id))!.firstName).toBe('Ada');
  });

  test('a burst of hostile logins at once: every one a 400, none a 500', async () => {
    const bodies = Array.from({ length: 24 }, (_, i) => `{"userName":"u${i}\\ud800","password":"x"}`);
    const answers = await Promise.all(bodies.map((body) => fetch(url('/api/v3/auth/login'), { method: 'POST', headers: { 'content-type': JSON_CT }, body })));
    expect(answers.map((r) => r.status)).toEqual(bodies.map(() => 400));
  });
});

describe('an identifier of 253 characters and an emoji, at all five logins', () => {
  const id = `${'a'.repeat(253)}\u{1F600}`;
  test.each<[string, () => Promise<Response>]>([
    ['mts-auth', () => fetch(url('/oauth/token'), { method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth(client.id, client.secret) }, body: form({ grant_type: 'password', username: id, password: 'x' }) })],
    ['mint-auth', () => fetch(url('/mint/api/v1/auth/authorize'), { method: 'POST', headers: { 'content-type': JSON_CT }, body: JSON.stringify({ grant_type: 'password', username: id, password: 'x' }) })],
    ['oauth-service', () => fetch(url('/api/oauth/token'), { method: 'POST', headers: { 'content-type': FORM }, body: form({ grant_type: 'password', client_id: client.id, username: id, password: 'x' }) })],
    ['user-token-auth', () => fetch(url('/auth/login'), { method: 'POST', headers: { authorization: basicAuth(id, 'x') } })],
    ['auth-v3', () => fetch(url('/api/v3/auth/login'), { method: 'POST', headers: { 'content-type': JSON_CT }, body: JSON.stringify({ userName: id, password: 'x' }) })],
  ])('%s: refused, no 500, the audit cut on a character boundary', async (api, send) => {
    const r = await send();
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    const rows = (await srv.db.knex('audit_log').where({ api }).orderBy('id', 'desc').limit(1)) as Array<{ detail: unknown }>;
    // user-token-auth's Basic user-id has no length limit in the contract: the failure is audited, cut
    if (api === 'user-token-auth') expect(rows).toHaveLength(1);
    for (const row of rows) {
      const detail = typeof row.detail === 'string' ? row.detail : JSON.stringify(row.detail);
      expect(detail.isWellFormed()).toBe(true);
    }
  });
});

describe('a body without Content-Type', () => {
  test('user-token-auth POST /auth/login: 415, not a token that ignores expirationTime', async () => {
    const email = uniqueEmail();
    await srv.services.accounts.register({ username: email, email, password: PASSWORD }, { api: 'test', ip: '127.0.0.1' });
    const body = Buffer.from(JSON.stringify({ expirationTime: '2099-01-01T00:00:00Z' }));
    // fetch always names a type for a string body: a Uint8Array body is sent without one
    const r = await fetch(url('/auth/login'), { method: 'POST', headers: { authorization: basicAuth(email, PASSWORD) }, body: new Uint8Array(body) });
    const problem = await expectDialect(r, 415, 'uta');
    expect(problem.error).toBe('unsupported_media_type');
    // no body at all (the contract's first example) still signs in
    const plain = await fetch(url('/auth/login'), { method: 'POST', headers: { authorization: basicAuth(email, PASSWORD) } });
    expect(plain.status).toBe(200);
  });

  test.each<[string, keyof typeof DIALECT_KEYS]>([
    ['/oauth/token', 'mts'],
    ['/mint/api/v1/auth/authorize', 'mint'],
    ['/api/oauth/token', 'oauth'],
    ['/api/v3/auth/login', 'v3'],
  ])('%s: 415 in the dialect', async (path, dialect) => {
    const r = await fetch(url(path), { method: 'POST', body: new Uint8Array(Buffer.from('{"a":1}')) });
    await expectDialect(r, 415, dialect);
  });
});

describe('statuses the specs document', () => {
  test('unknown query parameters are ignored: mts-auth GET /user and GET /domain, ?_=1', async () => {
    const email = uniqueEmail();
    await fetch(url('/user'), { method: 'POST', headers: { 'content-type': FORM }, body: form({ firstName: 'A', lastName: 'B', email, password: PASSWORD }) });
    const t = await fetch(url('/oauth/token'), {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basicAuth(client.id, client.secret) },
      body: form({ grant_type: 'password', username: email, password: PASSWORD }),
    });
    const auth = { authorization: `Bearer ${((await t.json()) as { access_token: string }).access_token}` };
    expect((await fetch(url('/user?_=1'), { headers: auth })).status).toBe(200);
    expect((await fetch(url('/domain?_=1&x=%ZZ'), { headers: auth })).status).toBe(404); // in no domain: the documented 404
  });

  test('%ZZ in a path: 400 in the dialect, a clean message', async () => {
    const body = await expectDialect(await fetch(url('/api/oauth/valid_email/%ZZ')), 400, 'oauth');
    expect(body.message).toMatch(/percent-encoding/);
    expect(body.message).not.toMatch(/'/);
    expect((await fetch(url('/api/oauth/valid_email/%ZZ'), { method: 'HEAD' })).status).toBe(400);
    await expectDialect(await fetch(url('/user/%ZZ')), 400, 'mts');
  });
});

/** Sends a request with `extra` header bytes, over a raw socket (fetch may refuse them). */
function raw(request: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const { port } = new URL(srv.baseUrl);
    const socket = connect(Number(port), '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      resolve({ status: Number(text.slice(9, 12)), headers: text.slice(0, end), body: text.slice(end + 4) });
    });
    socket.end(request);
  });
}

describe('requests Node refuses before Express: the status Node picks, the API dialect', () => {
  const big = 'A'.repeat(17_000);
  test.each<[string, string, keyof typeof DIALECT_KEYS]>([
    ['GET', '/user', 'mts'],
    ['GET', '/mint/api/v1/auth/token_info', 'mint'],
    ['POST', '/api/oauth/token', 'oauth'],
    ['POST', '/auth/bump', 'uta'],
    ['GET', '/api/v3/auth/whoAmI?token=x', 'v3'],
    ['GET', '/nowhere', 'mts'],
  ])('%s %s with 17 KB of headers: 431', async (method, path, dialect) => {
    const r = await raw(`${method} ${path} HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`);
    expect(r.status).toBe(431);
    expect(r.headers).toMatch(/Content-Type: application\/json; charset=utf-8/);
    expect(Object.keys(JSON.parse(r.body) as object).sort()).toEqual(DIALECT_KEYS[dialect]);
  });

  test('a 100 KB request target or path, a NUL in a header, HEAD: still the dialect, no body for HEAD', async () => {
    const path = await raw(`GET /api/oauth/valid_email/${'A'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(path.status).toBe(431);
    expect(Object.keys(JSON.parse(path.body) as object).sort()).toEqual(DIALECT_KEYS.oauth);
    const long = await raw(`GET /api/v3/auth/whoAmI?token=${'1'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(long.status).toBe(431);
    expect(Object.keys(JSON.parse(long.body) as object).sort()).toEqual(DIALECT_KEYS.v3);
    const nul = await raw('GET /mint/api/v1/auth/token_info HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n');
    expect(nul.status).toBe(400);
    expect(Object.keys(JSON.parse(nul.body) as object)).toEqual(['response']);
    const head = await raw(`HEAD /api/oauth/valid_email/x HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`);
    expect(head.status).toBe(431);
    expect(head.body).toBe('');
  });

  test('the request line is read only when the packet starts with it', () => {
    expect(requestLineOf(Buffer.from('GET /a/b?x HTTP/1.1\r\n'))).toEqual({ method: 'GET', path: '/a/b' });
    expect(requestLineOf(Buffer.from(`GET /a/${'b'.repeat(70_000)}`))?.path).toMatch(/^\/a\/b{60000,}$/);
    expect(requestLineOf(Buffer.from('GET http://h/mint/x HTTP/1.1\r\n'))).toEqual({ method: 'GET', path: '/mint/x' });
    expect(requestLineOf(Buffer.from('X-Big: AAAA\r\n'))).toBeUndefined();
    expect(requestLineOf(undefined)).toBeUndefined();
  });
});
