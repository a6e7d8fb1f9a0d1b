import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import jwt from 'jsonwebtoken';
import { startServer, TEST_JWT_SECRET, type TestServer } from './harness.ts';
import { basicAuth, form, FORM, keysOf, uniqueEmail } from './helpers.ts';

let srv: TestServer;
let client: { id: string; secret: string };
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  srv = await startServer({ THROTTLE_ACCOUNT_MAX_FAILURES: '3', THROTTLE_LOCKOUT_SECONDS: '120' });
  const created = await srv.services.clients.create('oauth', 'test');
  client = { id: created.client.clientId, secret: created.secret! };
});
afterAll(async () => {
  await srv?.close();
});

const url = (p: string) => `${srv.baseUrl}${p}`;

async function register(email: string, password = PASSWORD, extra: Record<string, string> = {}) {
  return fetch(url('/user'), {
    method: 'POST',
    headers: { 'content-type': FORM },
    body: form({ firstName: 'Ada', lastName: 'Lovelace', email, password, ...extra }),
  });
}

async function tokenRequest(username: string, password: string, auth = basicAuth(client.id, client.secret)) {
  return fetch(url('/oauth/token'), {
    method: 'POST',
    headers: { 'content-type': FORM, authorization: auth },
    body: form({ grant_type: 'password', username, password }),
  });
}

async function signUpAndIn(email = uniqueEmail()) {
  const r = await register(email);
  expect(r.status).toBe(201);
  const id = (await r.json()) as string;
  const t = await tokenRequest(email, PASSWORD);
  expect(t.status).toBe(200);
  const { access_token } = (await t.json()) as { access_token: string };
  return { id, email, token: access_token, auth: { authorization: `Bearer ${access_token}` } };
}

async function expectError(r: Response, status: number, error: string) {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await r.json()) as { code: number; error: string; error_description: string };
  expect(keysOf(body)).toEqual(['code', 'error', 'error_description']);
  expect(body.code).toBe(status);
  expect(body.error).toBe(error);
  expect(body.error_description.length).toBeGreaterThan(0);
  return body;
}

/** POST /user's 406: the seed's bare "<error_message>", a JSON string. */
async function expectNotAcceptable(r: Response, message: RegExp) {
  expect(r.status).toBe(406);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  const body: unknown = await r.json();
  expect(body).toEqual(expect.stringMatching(message));
  return body as string;
}

describe('POST /user (registration)', () => {
  test('creates a user: 201, the bare id as a JSON string (the seed\'s "<user_id>"), and Location', async () => {
    const r = await register(uniqueEmail());
    expect(r.status).toBe(201);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await r.text();
    expect(text).toMatch(/^"[1-9][0-9]*"$/);
    const id = JSON.parse(text) as string;
    expect(r.headers.get('location')).toBe(`/user/${id}`);
  });

  test('an email taken in any case is 406 with the message', async () => {
    const email = uniqueEmail();
    expect((await register(email)).status).toBe(201);
    await expectNotAcceptable(await register(email.toUpperCase()), /already registered/);
  });

  test('two racing registrations of one email: one 201, one 406, one user', async () => {
    const email = uniqueEmail();
    const results = await Promise.all([register(email), register(email), register(email.toUpperCase())]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 406, 406]);
    const rows = await srv.db.knex('user_identifiers').where({ value: email.toLowerCase() });
    expect(rows).toHaveLength(1);
  });

  test.each([
    ['a password over 72 UTF-8 bytes', { password: 'é'.repeat(37) }, /72 bytes/],
    ['a short password', { password: 'short' }, /password/],
    ['a malformed email', { email: 'not-an-email' }, /email/],
    ['an unknown field', { admin: 'true' }, /admin|additional|unevaluated/i],
  ])('%s is 406', async (_name, patch, message) => {
    const fields = { firstName: 'A', lastName: 'B', email: uniqueEmail(), password: PASSWORD, ...patch };
    const r = await fetch(url('/user'), { method: 'POST', headers: { 'content-type': FORM }, body: form(fields) });
    await expectNotAcceptable(r, message);
  });

  test('a missing field is 406 naming it', async () => {
    const r = await fetch(url('/user'), { method: 'POST', headers: { 'content-type': FORM }, body: form({ firstName: 'A' }) });
    await expectNotAcceptable(r, /email/);
  });

  test('a JSON body is 415, an oversized body 413', async () => {
    const json = await fetch(url('/user'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":"x"}' });
    await expectError(json, 415, 'unsupported_media_type');
    const big = await register(uniqueEmail(), PASSWORD, { firstName: 'x'.repeat(40_000) });
    await expectError(big, 413, 'payload_too_large');
  });
});

describe('POST /oauth/token', () => {
  test('issues a JWT scoped to mts-auth, RFC 6749 §5.1', async () => {
    const email = uniqueEmail();
    await register(email);
    const r = await tokenRequest(email, PASSWORD);
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const body = (await r.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(3600);
    const claims = jwt.verify(body.access_token, TEST_JWT_SECRET, { audience: 'mts-auth' }) as jwt.JwtPayload;
    expect(claims.jti).toEqual(expect.any(String));
    expect(claims.exp! - claims.iat!).toBe(3600);
  });

  test("accepts the seed's literal `Basic: <base64>` header", async () => {
    const email = uniqueEmail();
    await register(email);
    const r = await tokenRequest(email, PASSWORD, basicAuth(client.id, client.secret, ': '));
    expect(r.status).toBe(200);
  });

  test.each([
    ['no Authorization', undefined],
    ['a wrong secret', 'WRONG'],
    ['a Bearer header', 'bearer'],
    ['garbage', 'garbage'],
  ])('a bad client (%s) is 401 invalid_client with WWW-Authenticate: Basic', async (_n, kind) => {
    const headers: Record<string, string> = { 'content-type': FORM };
    if (kind === 'WRONG') headers.authorization = basicAuth(client.id, 'not-the-secret');
    if (kind === 'bearer') headers.authorization = 'Bearer abc';
    if (kind === 'garbage') headers.authorization = 'Basic !!!!';
    const r = await fetch(url('/oauth/token'), { method: 'POST', headers, body: form({ grant_type: 'password', username: 'a@b.co', password: 'x' }) });
    expect(r.headers.get('www-authenticate')).toMatch(/^Basic/);
    await expectError(r, 401, 'invalid_client');
  });

  test('unknown user and wrong password are indistinguishable', async () => {
    const email = uniqueEmail();
    await register(email);
    const wrong = await tokenRequest(email, 'wrong password!');
    const unknown = await tokenRequest(uniqueEmail(), 'wrong password!');
    expect(wrong.status).toBe(400);
    expect(unknown.status).toBe(400);
    expect(await wrong.json()).toEqual(await unknown.json());
  });

  test('missing or unsupported grant parameters are 400', async () => {
    const auth = basicAuth(client.id, client.secret);
    const missing = await fetch(url('/oauth/token'), { method: 'POST', headers: { 'content-type': FORM, authorization: auth }, body: form({ username: 'a' }) });
    await expectError(missing, 400, 'invalid_request');
    const other = await fetch(url('/oauth/token'), {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: auth },
      body: form({ grant_type: 'client_credentials', username: 'a', password: 'b' }),
    });
    await expectError(other, 400, 'unsupported_grant_type');
    const refresh = await fetch(url('/oauth/token'), { method: 'POST', headers: { 'content-type': FORM, authorization: auth }, body: form({ grant_type: 'refresh_token', refresh_token: 'x' }) });
    await expectError(refresh, 400, 'unsupported_grant_type');
  });

  test('failed sign-ins lock the account with 429 and Retry-After, known or not', async () => {
    const email = uniqueEmail();
    await register(email);
    for (let i = 0; i < 3; i++) expect((await tokenRequest(email, 'wrong password!')).status).toBe(400);
    const locked = await tokenRequest(email, PASSWORD);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(60);
    await expectError(locked, 429, 'too_many_requests');

    const ghost = uniqueEmail();
    for (let i = 0; i < 3; i++) expect((await tokenRequest(ghost, 'wrong password!')).status).toBe(400);
    await expectError(await tokenRequest(ghost, 'wrong password!'), 429, 'too_many_requests');

    const audit = await srv.services.store.audit.recent({ action: 'login.lockout' });
    expect(audit.length).toBeGreaterThanOrEqual(2);
  });
});

describe('bearer tokens', () => {
  test.each([
    ['no header', {}],
    ['a malformed token', { authorization: 'Bearer not.a.jwt' }],
    ['another scheme', { authorization: 'Token abc' }],
    ['a token signed with another key', { authorization: `Bearer ${jwt.sign({ jti: 'x' }, 'another-secret-another-secret-0123456789', { audience: 'mts-auth', issuer: 'polyauth', subject: '1', expiresIn: 60 })}` }],
  ])('%s is 401 with WWW-Authenticate: Bearer', async (_n, headers) => {
    const r = await fetch(url('/user'), { headers: headers as Record<string, string> });
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await expectError(r, 401, 'invalid_token');
  });

  test('an expired token is 401', async () => {
    const { id } = await signUpAndIn();
    const issued = await srv.services.tokens.issueJwt({ api: 'mts-auth', kind: 'access', userId: id, ttl: 60 });
    const claims = jwt.decode(issued.token) as jwt.JwtPayload;
    const expired = jwt.sign({ iat: 1000, exp: 2000, jti: claims.jti }, TEST_JWT_SECRET, { audience: 'mts-auth', issuer: 'polyauth', subject: id });
    await expectError(await fetch(url('/user'), { headers: { authorization: `Bearer ${expired}` } }), 401, 'invalid_token');
  });

  test('a revoked token fails at once', async () => {
    const me = await signUpAndIn();
    expect((await fetch(url('/user'), { headers: me.auth })).status).toBe(200);
    const revoked = await srv.services.store.tokens.revokeAllForUser(me.id);
    expect(revoked).toBe(1);
    await expectError(await fetch(url('/user'), { headers: me.auth }), 401, 'invalid_token');
  });

  test("another API's token with a valid signature is refused (scoping)", async () => {
    const me = await signUpAndIn();
    const other = await srv.services.tokens.issueJwt({ api: 'oauth-service', kind: 'access', userId: me.id, ttl: 60 });
    await expectError(await fetch(url('/user'), { headers: { authorization: `Bearer ${other.token}` } }), 401, 'invalid_token');
  });
});

describe('users', () => {
  test('GET /user and GET /user/{id} for oneself', async () => {
    const me = await signUpAndIn();
    // the seed's literal keys: UserId { Id }, User { FirstName, LastName, Email, ActiveDomains }
    expect(await (await fetch(url('/user'), { headers: me.auth })).json()).toEqual({ Id: me.id });
    const r = await fetch(url(`/user/${me.id}`), { headers: me.auth });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ FirstName: 'Ada', LastName: 'Lovelace', Email: me.email, ActiveDomains: false });
  });

  test("another user's record is 403, existing or not; an ADMIN reads it, 404 when missing", async () => {
    const me = await signUpAndIn();
    const other = await signUpAndIn();
    await expectError(await fetch(url(`/user/${other.id}`), { headers: me.auth }), 403, 'forbidden');
    await expectError(await fetch(url(`/user/999999999`), { headers: me.auth }), 403, 'forbidden');
    await srv.services.store.users.update(me.id, { role: 'ADMIN' });
    expect((await fetch(url(`/user/${other.id}`), { headers: me.auth })).status).toBe(200);
    await expectError(await fetch(url(`/user/999999999`), { headers: me.auth }), 404, 'not_found');
  });

  test('a malformed id is 400', async () => {
    const me = await signUpAndIn();
    await expectError(await fetch(url('/user/abc'), { headers: me.auth }), 400, 'invalid_request');
  });

  test('PUT updates names', async () => {
    const me = await signUpAndIn();
    const r = await fetch(url(`/user/${me.id}`), { method: 'PUT', headers: { ...me.auth, 'content-type': FORM }, body: form({ firstName: 'Grace', lastName: 'Hopper' }) });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ FirstName: 'Grace', LastName: 'Hopper', Email: me.email, ActiveDomains: false });
  });

  test('PUT with nothing to change, or a bad password, is 400', async () => {
    const me = await signUpAndIn();
    const empty = await fetch(url(`/user/${me.id}`), { method: 'PUT', headers: { ...me.auth, 'content-type': FORM }, body: '' });
    await expectError(empty, 400, 'invalid_request');
    const long = await fetch(url(`/user/${me.id}`), { method: 'PUT', headers: { ...me.auth, 'content-type': FORM }, body: form({ password: 'x'.repeat(73) }) });
    const body = await expectError(long, 400, 'invalid_request');
    expect(body.error_description).toMatch(/72 bytes/);
  });

  test('changing the password revokes the other tokens, keeps this one', async () => {
    const me = await signUpAndIn();
    const second = (await (await tokenRequest(me.email, PASSWORD)).json()) as { access_token: string };
    const r = await fetch(url(`/user/${me.id}`), { method: 'PUT', headers: { ...me.auth, 'content-type': FORM }, body: form({ password: 'a brand new password' }) });
    expect(r.status).toBe(200);
    expect((await fetch(url('/user'), { headers: me.auth })).status).toBe(200);
    await expectError(await fetch(url('/user'), { headers: { authorization: `Bearer ${second.access_token}` } }), 401, 'invalid_token');
    expect((await tokenRequest(me.email, PASSWORD)).status).toBe(400);
    expect((await tokenRequest(me.email, 'a brand new password')).status).toBe(200);
    const audit = await srv.services.store.audit.recent({ action: 'user.password_change', userId: me.id });
    expect(audit[0]?.detail).toMatchObject({ revokedTokens: 1 });
  });

  test("an ADMIN changing someone's password revokes all of that user's tokens", async () => {
    const admin = await signUpAndIn();
    await srv.services.store.users.update(admin.id, { role: 'ADMIN' });
    const victim = await signUpAndIn();
    const r = await fetch(url(`/user/${victim.id}`), { method: 'PUT', headers: { ...admin.auth, 'content-type': FORM }, body: form({ password: 'reset by the admin' }) });
    expect(r.status).toBe(200);
    await expectError(await fetch(url('/user'), { headers: victim.auth }), 401, 'invalid_token');
    expect((await fetch(url('/user'), { headers: admin.auth })).status).toBe(200);
  });
});

describe('domains', () => {
  test('membership rules', async () => {
    const me = await signUpAndIn();
    const stranger = await signUpAndIn();
    await expectError(await fetch(url('/domain'), { headers: me.auth }), 404, 'not_found');

    const { domains } = srv.services.store;
    const acme = await domains.create(`acme-${me.id}`);
    const other = await domains.create(`other-${me.id}`);
    await domains.addMember(acme.id, me.id);

    const list = await fetch(url('/domain'), { headers: me.auth });
    expect(list.status).toBe(200);
    // the seed's literal keys: Domain { Id, Name, Created_At }
    expect(await list.json()).toEqual([{ Id: acme.id, Name: acme.name, Created_At: acme.createdAt.toISOString() }]);
    expect((await (await fetch(url(`/user/${me.id}`), { headers: me.auth })).json()) as object).toMatchObject({ ActiveDomains: true });

    const one = await fetch(url(`/domain/${acme.id}`), { headers: me.auth });
    expect(one.status).toBe(200);
    expect(await one.json()).toEqual({ Id: acme.id, Name: acme.name, Created_At: acme.createdAt.toISOString() });
    await expectError(await fetch(url(`/domain/${other.id}`), { headers: me.auth }), 403, 'forbidden');
    await expectError(await fetch(url(`/domain/${acme.id}`), { headers: stranger.auth }), 403, 'forbidden');
    await expectError(await fetch(url('/domain/999999999'), { headers: me.auth }), 404, 'not_found');
    await expectError(await fetch(url('/domain/x'), { headers: me.auth }), 400, 'invalid_request');

    await srv.services.store.users.update(stranger.id, { role: 'ADMIN' });
    const all = (await (await fetch(url('/domain'), { headers: stranger.auth })).json()) as Array<{ Id: string }>;
    expect(all.map((d) => d.Id)).toEqual(expect.arrayContaining([acme.id, other.id]));
  });
});

describe('hostile input', () => {
  test('unknown paths and methods are 404 and 405 in the dialect', async () => {
    await expectError(await fetch(url('/nope')), 404, 'not_found');
    await expectError(await fetch(url('/user/1/extra')), 404, 'not_found');
    await expectError(await fetch(url('/user'), { method: 'DELETE' }), 405, 'method_not_allowed');
  });

  test('malformed percent-encoding and odd headers never give a 500', async () => {
    const me = await signUpAndIn();
    const cases: Array<[string, RequestInit]> = [
      ['/user/%E0%A4%A', { headers: me.auth }],
      ['/oauth/token', { method: 'POST', headers: { 'content-type': FORM, authorization: basicAuth(client.id, client.secret) }, body: 'grant_type=password&username=%ZZ&password=x' }],
      ['/oauth/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=latin9', authorization: basicAuth(client.id, client.secret) }, body: 'a=b' }],
      ['/user', { method: 'POST', headers: { 'content-type': FORM }, body: 'email[]=a&email[]=b' }],
      ['/user', { headers: { authorization: `Bearer ${'a'.repeat(5000)}` } }],
    ];
    for (const [p, init] of cases) {
      const r = await fetch(url(p), init);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      const body = (await r.json()) as { code: number } | string;
      if (r.status === 406) expect(typeof body).toBe('string');
      else expect((body as { code: number }).code).toBe(r.status);
    }
  });
});
