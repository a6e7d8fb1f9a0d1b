import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { createHash, randomUUID } from 'node:crypto';
import { startServer, type TestServer } from './harness.ts';
import { basicAuth, form, FORM, keysOf, uniqueEmail } from './helpers.ts';

let srv: TestServer;
const PASSWORD = 'correct horse battery';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const JSON_TYPE = 'application/json';

beforeAll(async () => {
  // Many failed logins and refused tokens come from 127.0.0.1 here: the
  // per-address limits are exercised on a server of their own below.
  srv = await startServer({ THROTTLE_IP_MAX_FAILURES: '100000' });
});
afterAll(async () => {
  await srv?.close();
});

const url = (p: string) => `${srv.baseUrl}${p}`;
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

interface UserToken {
  token: string;
  note?: string;
  enabled: boolean;
  expirationTime?: string;
  creationTime: string;
  lastUsageTime?: string;
  version: number;
}

/** A user created in the shared store, with a username distinct from the email. */
async function newUser(s: TestServer = srv) {
  const email = uniqueEmail('uta');
  const username = `u_${email.split('@')[0]!.replace(/\./g, '_')}`;
  const user = await s.services.accounts.register({ username, email, password: PASSWORD }, { api: 'test', ip: '127.0.0.1' });
  return { id: user.id, username, email };
}

function login(auth: string | undefined, body?: unknown, base = srv.baseUrl, extra: Record<string, string> = {}) {
  const headers: Record<string, string> = { accept: JSON_TYPE, ...extra };
  if (auth !== undefined) headers.authorization = auth;
  if (body !== undefined) headers['content-type'] = JSON_TYPE;
  return fetch(`${base}/auth/login`, { method: 'POST', headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function loginOk(identifier: string, body?: unknown): Promise<UserToken> {
  const r = await login(basicAuth(identifier, PASSWORD), body);
  expect(r.status).toBe(200);
  return (await r.json()) as UserToken;
}

function bearer(path: '/auth/bump' | '/auth/logout', token: string, base = srv.baseUrl) {
  return fetch(`${base}${path}`, { method: 'POST', headers: { accept: JSON_TYPE, authorization: `Bearer ${token}` } });
}

async function expectError(r: Response, status: number, error: string) {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  expect(r.headers.get('vary')).toMatch(/(^|,)\s*Accept\s*(,|$)/);
  const body = (await r.json()) as { error: string; message: string };
  expect(keysOf(body)).toEqual(['error', 'message']);
  expect(body.error).toBe(error);
  expect(body.message.length).toBeGreaterThan(0);
  return body;
}

async function tokenRow(token: string) {
  return srv.db.knex('tokens').where({ token_hash: sha256(token) }).first();
}

describe('POST /auth/login', () => {
  test('answers a UserToken: a UUID stored only as a hash, enabled, version 0, no optional fields', async () => {
    const u = await newUser();
    const r = await login(basicAuth(u.username, PASSWORD));
    expect(r.status).toBe(200);
    expect(r.headers.get('vary')).toBe('Accept');
    expect(r.headers.get('cache-control')).toBe('no-store');
    const body = (await r.json()) as UserToken;
    expect(keysOf(body)).toEqual(['creationTime', 'enabled', 'token', 'version']);
    expect(body.token).toMatch(UUID);
    expect(body.enabled).toBe(true);
    expect(body.version).toBe(0);
    expect(new Date(body.creationTime).toISOString()).toBe(body.creationTime);

    const row = await tokenRow(body.token);
    expect(row).toMatchObject({ api: 'user-token-auth', user_id: expect.anything(), expires_at: null, note: null });
    expect(String(row.user_id)).toBe(u.id);
    const raw = await srv.db.knex('tokens').whereRaw('token_hash = ?', [body.token]);
    expect(raw).toHaveLength(0);
  });

  test('sets note and expirationTime; the time comes back as the same instant in UTC', async () => {
    const u = await newUser();
    const year = new Date().getUTCFullYear() + 2;
    const body = await loginOk(u.username, { note: 'Client API Access', expirationTime: `${year}-07-29T23:59:59-05:00` });
    expect(body.note).toBe('Client API Access');
    expect(body.expirationTime).toBe(`${year}-07-30T04:59:59.000Z`);
    expect(body.lastUsageTime).toBeUndefined();
    const row = await tokenRow(body.token);
    expect((row.expires_at as Date).toISOString()).toBe(body.expirationTime);
    expect(row.note).toBe('Client API Access');
  });

  test('an empty body object is fine', async () => {
    const u = await newUser();
    const body = await loginOk(u.email, {});
    expect(body.note).toBeUndefined();
    expect(body.expirationTime).toBeUndefined();
  });

  test('the user-id is the username or the email, in any case; login sets the last login time', async () => {
    const u = await newUser();
    await loginOk(u.username);
    await loginOk(u.email);
    await loginOk(u.email.toUpperCase());
    expect((await srv.services.accounts.user(u.id))?.lastLoginAt).toBeInstanceOf(Date);
    await srv.services.lastLogins.flush();
    const user = await srv.services.store.users.byId(u.id);
    expect(user?.lastLoginAt).toBeInstanceOf(Date);
  });

  test('a person registered through mts-auth (email only) signs in here with the same password', async () => {
    const email = uniqueEmail('mts');
    const reg = await fetch(url('/user'), {
      method: 'POST',
      headers: { 'content-type': FORM },
      body: form({ firstName: 'Ada', lastName: 'Lovelace', email, password: PASSWORD }),
    });
    expect(reg.status).toBe(201);
    const token = await loginOk(email);
    expect(token.token).toMatch(UUID);
    expect((await bearer('/auth/bump', token.token)).status).toBe(200);
    await expectError(await login(basicAuth(email, 'not the password')), 401, 'invalid_credentials');
  });

  test("accepts the seed's literal `Basic: <base64>` and a password containing colons", async () => {
    const u = await newUser();
    expect((await login(basicAuth(u.username, PASSWORD, ': '))).status).toBe(200);
    const email = uniqueEmail('colon');
    await srv.services.accounts.register({ username: email, email, password: 'pass:word:with:colons' }, { api: 'test', ip: '127.0.0.1' });
    expect((await login(basicAuth(email, 'pass:word:with:colons'))).status).toBe(200);
  });

  test('unknown user, wrong password and disabled account are one 401, after the same bcrypt work', async () => {
    const u = await newUser();
    const disabled = await newUser();
    await srv.services.store.users.update(disabled.id, { disabled: true });
    const dummy = jest.spyOn(srv.services.passwords, 'compareDummy');
    const compare = jest.spyOn(srv.services.passwords, 'compare');
    try {
      const answers = [
        await login(basicAuth(u.username, 'wrong password!')),
        await login(basicAuth(`ghost_${u.username}`, 'wrong password!')),
        await login(basicAuth(disabled.username, PASSWORD)),
      ];
      const seen = [];
      for (const r of answers) {
        expect(r.headers.get('www-authenticate')).toBe('Basic realm="polyauth", charset="UTF-8"');
        seen.push(await expectError(r, 401, 'invalid_credentials'));
      }
      expect(seen[1]).toEqual(seen[0]);
      expect(seen[2]).toEqual(seen[0]);
      // One bcrypt comparison each: the unknown user's against the dummy hash.
      expect(dummy).toHaveBeenCalledTimes(1);
      expect(compare).toHaveBeenCalledTimes(3);
    } finally {
      dummy.mockRestore();
      compare.mockRestore();
    }
    const failures = await srv.services.store.audit.recent({ action: 'login.failure', limit: 3 });
    expect(failures.map((f) => f.api)).toEqual(['user-token-auth', 'user-token-auth', 'user-token-auth']);
  });

  test.each([
    ['no Authorization header', undefined],
    ['a Bearer header', `Bearer ${randomUUID()}`],
    ['bad base64', 'Basic !!!not-base64!!!'],
    ['no colon', `Basic ${Buffer.from('justauser').toString('base64')}`],
    ['an empty user-id', `Basic ${Buffer.from(':password').toString('base64')}`],
    ['a bare scheme', 'Basic'],
    ['an oversized header', `Basic ${'QUFB'.repeat(2000)}`],
  ])('%s is 401 invalid_credentials with the Basic challenge', async (_name, auth) => {
    const r = await login(auth);
    expect(r.headers.get('www-authenticate')).toBe('Basic realm="polyauth", charset="UTF-8"');
    await expectError(r, 401, 'invalid_credentials');
  });

  test('a NUL in the user-id is 400 bad_request: refused before any lookup', async () => {
    await expectError(await login(`Basic ${Buffer.from('a\u0000b:password').toString('base64')}`), 400, 'bad_request');
  });

  test.each([
    ['in the past', { expirationTime: '2019-07-29T23:59:59-05:00' }, /future/],
    ['now-ish (one second ago)', { expirationTime: new Date(Date.now() - 1000).toISOString() }, /future/],
    ['unparsable', { expirationTime: 'tomorrow' }, /expirationTime/],
    ['without an offset', { expirationTime: '2099-01-01T00:00:00' }, /expirationTime/],
    ['an impossible date', { expirationTime: '2099-02-30T00:00:00Z' }, /expirationTime/],
    ['hour 24', { expirationTime: '2099-01-01T24:00:00Z' }, /expirationTime/],
    ['an oversized string', { expirationTime: `2099-01-01T00:00:00${'0'.repeat(100)}Z` }, /expirationTime/],
    ['a number', { expirationTime: 1893456000 }, /expirationTime/],
    ['a note that is not a string', { note: 42 }, /note/],
    ['a note too long', { note: 'x'.repeat(256) }, /note/],
    ['a note with NUL', { note: 'a\u0000b' }, /note/],
    ['an unknown field', { admin: true }, /admin|unevaluated|additional/i],
    ['an array', [], /body/i],
  ])('an expirationTime or body %s is 400 bad_request with a clear message', async (_name, payload, message) => {
    const u = await newUser();
    const body = await expectError(await login(basicAuth(u.username, PASSWORD), payload), 400, 'bad_request');
    expect(body.message).toMatch(message);
    const rows = await srv.db.knex('tokens').where({ user_id: u.id });
    expect(rows).toHaveLength(0);
  });

  test('malformed JSON, JSON null, a non-JSON body and an oversized body', async () => {
    const u = await newUser();
    const auth = basicAuth(u.username, PASSWORD);
    const post = (body: string, type = JSON_TYPE) =>
      fetch(url('/auth/login'), { method: 'POST', headers: { authorization: auth, 'content-type': type }, body });
    await expectError(await post('{"note": '), 400, 'bad_request');
    await expectError(await post('null'), 400, 'bad_request');
    await expectError(await post('note=x', FORM), 415, 'unsupported_media_type');
    await expectError(await post('note', 'text/plain'), 415, 'unsupported_media_type');
    await expectError(await post(JSON.stringify({ note: 'x'.repeat(40_000) })), 413, 'payload_too_large');
  });
});

describe('POST /auth/bump', () => {
  test("sets and answers the user's last login time; records the token's use", async () => {
    const u = await newUser();
    const { token } = await loginOk(u.username);
    const before = await tokenRow(token);
    expect(before.last_used_at).toBeNull();

    const r = await bearer('/auth/bump', token);
    expect(r.status).toBe(200);
    expect(r.headers.get('vary')).toBe('Accept');
    const body = (await r.json()) as { lastLoginTime: string };
    expect(keysOf(body)).toEqual(['lastLoginTime']);
    expect((await srv.services.accounts.user(u.id))?.lastLoginAt?.toISOString()).toBe(body.lastLoginTime);
    // Written behind (LAST_LOGIN_FLUSH_MS): in the database once flushed.
    await srv.services.lastLogins.flush();
    const user = await srv.services.store.users.byId(u.id);
    expect(user?.lastLoginAt?.toISOString()).toBe(body.lastLoginTime);
    expect((await tokenRow(token)).last_used_at).toBeInstanceOf(Date);
  });

  test('uses within LAST_USED_GRANULARITY are coalesced into one write', async () => {
    const u = await newUser();
    const { token } = await loginOk(u.username);
    const writes = jest.spyOn(srv.services.store.tokens, 'touch');
    try {
      for (let i = 0; i < 3; i++) expect((await bearer('/auth/bump', token)).status).toBe(200);
      expect(writes).toHaveBeenCalledTimes(1);
    } finally {
      writes.mockRestore();
    }
  });

  test('a missing or foreign-scheme header is 401 with the bare Bearer challenge', async () => {
    const u = await newUser();
    for (const headers of [{}, { authorization: basicAuth(u.username, PASSWORD) }] as Array<Record<string, string>>) {
      const r = await fetch(url('/auth/bump'), { method: 'POST', headers });
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="polyauth"');
      await expectError(r, 401, 'invalid_token');
    }
  });

  test.each([
    ['a malformed token', 'not-a-uuid'],
    ['an unknown token', randomUUID()],
    ['an oversized token', 'a'.repeat(5000)],
  ])('%s is 401 invalid_token with error="invalid_token"', async (_n, token) => {
    const r = await bearer('/auth/bump', token);
    expect(r.headers.get('www-authenticate')).toBe('Bearer realm="polyauth", error="invalid_token"');
    await expectError(r, 401, 'invalid_token');
  });

  test('a disabled token, an expired token and a disabled user are refused', async () => {
    const u = await newUser();
    const a = await loginOk(u.username);
    const b = await loginOk(u.username);
    await srv.db.knex('tokens').where({ token_hash: sha256(a.token) }).update({ enabled: false });
    await expectError(await bearer('/auth/bump', a.token), 401, 'invalid_token');
    await srv.db.knex('tokens').where({ token_hash: sha256(b.token) }).update({ expires_at: new Date(Date.now() - 1000) });
    await expectError(await bearer('/auth/bump', b.token), 401, 'invalid_token');

    const c = await loginOk(u.username);
    expect((await bearer('/auth/bump', c.token)).status).toBe(200);
    await srv.services.store.users.update(u.id, { disabled: true });
    await expectError(await bearer('/auth/bump', c.token), 401, 'invalid_token');
  });

  test('a body is ignored unread: malformed, oversized or hostile JSON, or no type at all', async () => {
    const u = await newUser();
    const { token } = await loginOk(u.username);
    const post = (body: string, type: string | undefined = JSON_TYPE) =>
      fetch(url('/auth/bump'), {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, ...(type ? { 'content-type': type } : {}) },
        body: type ? body : new TextEncoder().encode(body),
      });
    expect((await post('{"ignored": true}')).status).toBe(200);
    expect((await post('{')).status).toBe(200);
    expect((await post(JSON.stringify({ x: 'x'.repeat(40_000) }))).status).toBe(200);
    expect((await post('{"x":"\\u0000\\ud800"}')).status).toBe(200);
    expect((await post('{}', undefined)).status).toBe(200);
  });
});

describe('POST /auth/logout', () => {
  test('answers {success: true}; the token fails at once, the user’s other tokens do not', async () => {
    const u = await newUser();
    const a = await loginOk(u.username);
    const b = await loginOk(u.username, { note: 'second' });
    const r = await bearer('/auth/logout', a.token);
    expect(r.status).toBe(200);
    expect(r.headers.get('vary')).toBe('Accept');
    expect(await r.json()).toEqual({ success: true });
    await expectError(await bearer('/auth/bump', a.token), 401, 'invalid_token');
    await expectError(await bearer('/auth/logout', a.token), 401, 'invalid_token');
    expect((await bearer('/auth/bump', b.token)).status).toBe(200);
    const audit = await srv.services.store.audit.recent({ action: 'token.revoke', userId: u.id });
    expect(audit[0]).toMatchObject({ api: 'user-token-auth', actorUserId: u.id });
  });

  test('two racing logouts with one token: one 200, one 401', async () => {
    const u = await newUser();
    const { token } = await loginOk(u.username);
    const results = await Promise.all([bearer('/auth/logout', token), bearer('/auth/logout', token)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
  });
});

describe('tokens are scoped to the API that issued them', () => {
  async function mtsToken(email: string) {
    const created = await srv.services.clients.create('oauth', `uta-${email}`);
    const r = await fetch(url('/oauth/token'), {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basicAuth(created.client.clientId, created.secret!) },
      body: form({ grant_type: 'password', username: email, password: PASSWORD }),
    });
    expect(r.status).toBe(200);
    return ((await r.json()) as { access_token: string }).access_token;
  }

  test('a UserToken is refused by mts-auth', async () => {
    const u = await newUser();
    const { token } = await loginOk(u.email);
    const r = await fetch(url('/user'), { headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error: string }).error).toBe('invalid_token');
  });

  test('an mts-auth access token is refused here', async () => {
    const u = await newUser();
    const access = await mtsToken(u.email);
    expect((await fetch(url('/user'), { headers: { authorization: `Bearer ${access}` } })).status).toBe(200);
    await expectError(await bearer('/auth/bump', access), 401, 'invalid_token');
    await expectError(await bearer('/auth/logout', access), 401, 'invalid_token');
  });

  test("another API's token of the same shape (a UUID) is refused here", async () => {
    const u = await newUser();
    const value = randomUUID();
    await srv.services.tokens.issueOpaque({ api: 'mint-auth', kind: 'user', userId: u.id, value });
    await expectError(await bearer('/auth/bump', value), 401, 'invalid_token');
  });
});

describe('content negotiation and Vary', () => {
  test.each([
    ['no Accept', undefined],
    ['*/*', '*/*'],
    ['application/*', 'application/*'],
    ['a list with JSON', 'text/html, application/json;q=0.5'],
  ])('%s is served JSON', async (_n, accept) => {
    const u = await newUser();
    const headers: Record<string, string> = { authorization: basicAuth(u.username, PASSWORD) };
    if (accept) headers.accept = accept;
    const r = await fetch(url('/auth/login'), { method: 'POST', headers });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  });

  test.each([
    ['text/html', '/auth/login'],
    ['application/xml', '/auth/bump'],
    ['application/json;q=0, text/plain', '/auth/logout'],
    ['text/html', '/auth/nope'],
  ])('Accept: %s on %s is 406 not_acceptable', async (accept, path) => {
    const r = await fetch(url(path), { method: 'POST', headers: { accept } });
    await expectError(r, 406, 'not_acceptable');
  });

  test('every error names Accept in Vary (expectError checks it)', async () => {
    await expectError(await fetch(url('/auth/nope')), 404, 'not_found');
    await expectError(await fetch(url('/auth')), 404, 'not_found');
    await expectError(await fetch(url('/auth/login'), { method: 'GET' }), 405, 'method_not_allowed');
    await expectError(await fetch(url('/auth/bump'), { method: 'DELETE' }), 405, 'method_not_allowed');
    await expectError(await fetch(url('/auth/login/extra'), { method: 'POST' }), 404, 'not_found');
  });
});

describe('hostile input never gives a 500', () => {
  test('odd paths, headers and bodies get the dialect', async () => {
    const u = await newUser();
    const auth = basicAuth(u.username, PASSWORD);
    const cases: Array<[string, RequestInit]> = [
      ['/auth/%E0%A4%A', { method: 'POST' }],
      ['/auth/login?x=%ZZ', { method: 'POST' }], // the unknown parameter is ignored: no credentials, 401
      ['/auth/login', { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json; charset=latin9' }, body: '{}' }],
      ['/auth/login', { method: 'POST', headers: { authorization: auth, 'content-type': JSON_TYPE }, body: '{"note":{"a":1}}' }],
      ['/auth/login', { method: 'POST', headers: { authorization: auth, 'content-type': JSON_TYPE }, body: '"just a string"' }],
      ['/auth/login', { method: 'POST', headers: { authorization: `Basic ${Buffer.from('\u00ff\u00fe:\ud800').toString('base64')}` } }],
      ['/auth/bump', { method: 'POST', headers: { authorization: 'Bearer\t' } }],
      ['/auth/bump', { method: 'POST', headers: { authorization: `Bearer ${'é'.repeat(10)}` } }],
    ];
    for (const [p, init] of cases) {
      const r = await fetch(url(p), init);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expect(r.headers.get('vary')).toMatch(/Accept/);
      const body = (await r.json()) as { error: string; message: string };
      expect(keysOf(body)).toEqual(['error', 'message']);
    }
  });
});

describe('throttling, token lifetime config', () => {
  let small: TestServer;
  beforeAll(async () => {
    small = await startServer({
      THROTTLE_ACCOUNT_MAX_FAILURES: '3',
      THROTTLE_IP_MAX_FAILURES: '8',
      THROTTLE_LOCKOUT_SECONDS: '120',
      USER_TOKEN_TTL: '7200',
    });
  });
  afterAll(async () => {
    await small?.close();
  });

  test('failed logins lock the user-id with 429 and Retry-After, registered or not', async () => {
    const u = await newUser(small);
    for (let i = 0; i < 3; i++) {
      await expectError(await login(basicAuth(u.username, 'wrong password!'), undefined, small.baseUrl), 401, 'invalid_credentials');
    }
    const locked = await login(basicAuth(u.username, PASSWORD), undefined, small.baseUrl);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(60);
    await expectError(locked, 429, 'too_many_requests');
    const audit = await small.services.store.audit.recent({ action: 'login.lockout' });
    expect(audit[0]).toMatchObject({ api: 'user-token-auth', targetUserId: u.id });

    const ghost = `ghost_${u.username}`;
    for (let i = 0; i < 3; i++) {
      await expectError(await login(basicAuth(ghost, 'wrong password!'), undefined, small.baseUrl), 401, 'invalid_credentials');
    }
    await expectError(await login(basicAuth(ghost, 'wrong password!'), undefined, small.baseUrl), 429, 'too_many_requests');
  });

  test('refused tokens from one address are throttled; a valid token keeps working', async () => {
    const u = await newUser(small);
    const r = await login(basicAuth(u.email, PASSWORD), undefined, small.baseUrl);
    expect(r.status).toBe(200);
    const { token } = (await r.json()) as UserToken;
    for (let i = 0; i < 8; i++) await expectError(await bearer('/auth/bump', randomUUID(), small.baseUrl), 401, 'invalid_token');
    const throttled = await bearer('/auth/bump', randomUUID(), small.baseUrl);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(60);
    await expectError(throttled, 429, 'too_many_requests');
    expect((await bearer('/auth/bump', token, small.baseUrl)).status).toBe(200);
  });

  test('without expirationTime the token expires after USER_TOKEN_TTL; an explicit one wins', async () => {
    const u = await newUser(small);
    const r = await login(basicAuth(u.username, PASSWORD), undefined, small.baseUrl);
    const body = (await r.json()) as UserToken;
    const lifetime = (Date.parse(body.expirationTime!) - Date.parse(body.creationTime)) / 1000;
    expect(lifetime).toBeGreaterThan(7100);
    expect(lifetime).toBeLessThan(7300);

    const far = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const r2 = await login(basicAuth(u.username, PASSWORD), { expirationTime: far }, small.baseUrl);
    expect(((await r2.json()) as UserToken).expirationTime).toBe(far);
  });
});
