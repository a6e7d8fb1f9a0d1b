import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { messages, SIGNUP_MIN_PASSWORD_LENGTH } from '../src/apis/mint-auth/index.ts';
import { MIN_PASSWORD_LENGTH } from '../src/identity/passwords.ts';
import { specPath } from '../src/paths.ts';
import { firstRunBootstrap } from '../src/bootstrap.ts';
import { startServer, type TestServer } from './harness.ts';
import { basicAuth, form, FORM, keysOf, uniqueEmail } from './helpers.ts';

let srv: TestServer;
let app: { id: string; secret: string };
let oauth: { id: string; secret: string };
const PASSWORD = 'correct horse battery';
const JSON_CT = 'application/json';

beforeAll(async () => {
  srv = await startServer({ THROTTLE_ACCOUNT_MAX_FAILURES: '3', THROTTLE_LOCKOUT_SECONDS: '120' });
  const a = await srv.services.clients.create('application', 'mint test app');
  app = { id: a.client.clientId, secret: a.secret! };
  const o = await srv.services.clients.create('oauth', 'mts test client');
  oauth = { id: o.client.clientId, secret: o.secret! };
});
afterAll(async () => {
  await srv?.close();
});

const url = (p: string) => `${srv.baseUrl}/mint/api/v1${p}`;
const appAuth = () => `Application ${app.id}:${app.secret}`;

function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url(path), {
    method: 'POST',
    headers: { 'content-type': JSON_CT, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function signupBody(username: string, password = PASSWORD) {
  return { grant_type: 'signup', firstname: 'Kate', lastname: 'Smith', username, password };
}

/** `auth: null` sends no Authorization header. */
const register = (username: string, password = PASSWORD, auth: string | null = appAuth()) =>
  post('/auth/register', signupBody(username, password), auth === null ? {} : { authorization: auth });

const authorize = (username: string, password: string) => post('/auth/authorize', { grant_type: 'password', username, password });

const tokenInfo = (authorization?: string) => fetch(url('/auth/token_info'), { headers: authorization ? { authorization } : {} });

interface AccessToken {
  user: number;
  access_token: string;
  token_type: string;
  expires_in?: number;
}

async function signUp(username = uniqueEmail('mint')) {
  const r = await register(username);
  expect(r.status).toBe(200);
  const body = (await r.json()) as AccessToken;
  return { ...body, username, auth: `UserToken ${body.access_token}` };
}

/** Checks the dialect: JSON `{response}` with a message, the status, nothing else. */
async function expectError(r: Response, status: number, message?: string | RegExp) {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await r.json()) as { response: string };
  expect(keysOf(body)).toEqual(['response']);
  expect(body.response.length).toBeGreaterThan(0);
  if (typeof message === 'string') expect(body.response).toBe(message);
  else if (message) expect(body.response).toMatch(message);
  return body;
}

async function expectUnauthorized(r: Response, scheme: 'Application' | 'UserToken', message?: string) {
  expect(r.headers.get('www-authenticate')).toBe(scheme);
  return expectError(r, 401, message);
}

describe('POST /auth/authorize (password grant)', () => {
  test('signs in: user, opaque token, token_type user, expires_in from MINT_TOKEN_TTL', async () => {
    const me = await signUp();
    const r = await authorize(me.username, PASSWORD);
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const body = (await r.json()) as AccessToken;
    expect(keysOf(body)).toEqual(['access_token', 'expires_in', 'token_type', 'user']);
    expect(body).toMatchObject({ user: me.user, token_type: 'user', expires_in: 3600 });
    expect(body.access_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.access_token).not.toBe(me.access_token);
    const info = await tokenInfo(`UserToken ${body.access_token}`);
    expect(info.status).toBe(200);
    expect(await info.json()).toEqual({ user: me.user, token_type: 'user' });
  });

  test('the token is stored only as a hash, scoped to mint-auth', async () => {
    const me = await signUp();
    const rows = await srv.db.knex('tokens').where({ user_id: String(me.user) });
    expect(rows).toHaveLength(1);
    expect(rows[0].api).toBe('mint-auth');
    expect(JSON.stringify(rows)).not.toContain(me.access_token);
  });

  test('the username is matched case-insensitively, and an Authorization header is not read', async () => {
    const me = await signUp(`Mixed.${uniqueEmail()}`);
    const r = await post('/auth/authorize', { grant_type: 'password', username: me.username.toUpperCase(), password: PASSWORD }, { authorization: 'Garbage !!!' });
    expect(r.status).toBe(200);
  });

  test('unknown user and wrong password are the same 404, and both are audited', async () => {
    const me = await signUp();
    const wrong = await authorize(me.username, 'not the password');
    const unknown = await authorize(uniqueEmail('ghost'), 'not the password');
    const wrongBody = await expectError(wrong, 404, messages.badCredentials);
    const unknownBody = await expectError(unknown, 404, messages.badCredentials);
    expect(wrongBody).toEqual(unknownBody);
    const failures = await srv.services.store.audit.recent({ action: 'login.failure', userId: String(me.user) });
    expect(failures[0]).toMatchObject({ api: 'mint-auth', targetUserId: String(me.user) });
  });

  test('a disabled account gets the same 404, and its tokens stop working', async () => {
    const me = await signUp();
    await srv.services.store.users.update(String(me.user), { disabled: true });
    await expectError(await authorize(me.username, PASSWORD), 404, messages.badCredentials);
    await expectError(await tokenInfo(me.auth), 403, messages.tokenRejected);
  });

  test('a password over 72 bytes never matches: 404, not 400', async () => {
    const me = await signUp();
    await expectError(await authorize(me.username, `${PASSWORD}${'x'.repeat(100)}`), 404, messages.badCredentials);
  });

  test('failed sign-ins lock the username with 429 and Retry-After, registered or not', async () => {
    const me = await signUp();
    for (let i = 0; i < 3; i++) await expectError(await authorize(me.username, 'wrong password'), 404);
    const locked = await authorize(me.username, PASSWORD);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(60);
    await expectError(locked, 429, /try again later/);

    const ghost = uniqueEmail('ghost');
    for (let i = 0; i < 3; i++) await expectError(await authorize(ghost, 'wrong password'), 404);
    const ghostLocked = await authorize(ghost, 'wrong password');
    expect(Number(ghostLocked.headers.get('retry-after'))).toBeGreaterThan(60);
    await expectError(ghostLocked, 429);

    const lockouts = await srv.services.store.audit.recent({ action: 'login.lockout' });
    expect(lockouts.filter((e) => e.api === 'mint-auth').length).toBeGreaterThanOrEqual(2);
  });

  test("an account's username and email share one budget: failures under either lock both", async () => {
    const email = uniqueEmail('shared');
    const username = `${email.split('@')[0]!}-name`;
    const user = await srv.services.accounts.register({ username, email, firstName: 'S', lastName: 'B', password: PASSWORD }, { api: 'test', ip: '127.0.0.1' });
    await expectError(await authorize(username, 'wrong password'), 404);
    await expectError(await authorize(email.toUpperCase(), 'wrong password'), 404);
    await expectError(await authorize(email, 'wrong password'), 404);
    for (const identifier of [username, email]) await expectError(await authorize(identifier, PASSWORD), 429, /try again later/);
    expect(await srv.services.store.audit.recent({ action: 'login.lockout', userId: user.id })).toHaveLength(1);
  });
});

describe('token lifetime', () => {
  test('with MINT_TOKEN_TTL=never, expires_in is left out and the token does not expire', async () => {
    const other = await startServer({ MINT_TOKEN_TTL: 'never' });
    try {
      const a = await other.services.clients.create('application', 'no-expiry app');
      const r = await fetch(`${other.baseUrl}/mint/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': JSON_CT, authorization: `Application ${a.client.clientId}:${a.secret}` },
        body: JSON.stringify(signupBody(uniqueEmail())),
      });
      expect(r.status).toBe(200);
      const body = (await r.json()) as AccessToken;
      expect(keysOf(body)).toEqual(['access_token', 'token_type', 'user']);
      const row = await other.db.knex('tokens').where({ user_id: String(body.user) }).first();
      expect(row.expires_at).toBeNull();
    } finally {
      await other.close();
    }
  });

  test('MINT_TOKEN_TTL sets expires_in and the stored expiry', async () => {
    const other = await startServer({ MINT_TOKEN_TTL: '120' });
    try {
      const a = await other.services.clients.create('application', 'short app');
      const r = await fetch(`${other.baseUrl}/mint/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'content-type': JSON_CT, authorization: `Application ${a.client.clientId}:${a.secret}` },
        body: JSON.stringify(signupBody(uniqueEmail())),
      });
      const body = (await r.json()) as AccessToken;
      expect(body.expires_in).toBe(120);
      const row = await other.db.knex('tokens').where({ user_id: String(body.user) }).first();
      const lifetime = (new Date(row.expires_at).getTime() - new Date(row.created_at).getTime()) / 1000;
      expect(lifetime).toBeGreaterThan(100);
      expect(lifetime).toBeLessThanOrEqual(121);
    } finally {
      await other.close();
    }
  });
});

describe('POST /auth/register', () => {
  test('creates a user and answers with their token, audited with the application', async () => {
    const username = uniqueEmail('kate');
    const me = await signUp(username);
    expect(me.user).toBeGreaterThan(0);
    expect(me.token_type).toBe('user');
    expect(me.expires_in).toBe(3600);
    const user = await srv.services.store.users.byId(String(me.user));
    expect(user).toMatchObject({ username, email: username, firstName: 'Kate', lastName: 'Smith' });
    expect(user!.passwordHash).toMatch(/^\$2[aby]\$/);
    const audit = await srv.services.store.audit.recent({ userId: String(me.user) });
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['user.register', 'token.issue']));
    expect(audit.find((e) => e.action === 'token.issue')?.detail).toMatchObject({ application: app.id });
    expect((await tokenInfo(me.auth)).status).toBe(200);
  });

  test('a username that is not an email address is kept as a username only', async () => {
    const username = `kate_${Math.random().toString(36).slice(2, 10)}`;
    const me = await signUp(username);
    const user = await srv.services.store.users.byId(String(me.user));
    expect(user).toMatchObject({ username, email: null });
    expect((await authorize(username, PASSWORD)).status).toBe(200);
  });

  test('an existing username, in any case, is 403', async () => {
    const me = await signUp();
    await expectError(await register(me.username.toUpperCase()), 403, messages.usernameTaken);
  });

  test('two racing sign-ups of one username: one 200, one 403, one user', async () => {
    const username = uniqueEmail('race');
    const results = await Promise.all([register(username), register(username)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 403]);
    const rows = await srv.db.knex('user_identifiers').where({ value: username.toLowerCase() });
    expect(rows).toHaveLength(1);
  });

  test(`the password needs ${SIGNUP_MIN_PASSWORD_LENGTH} characters: the stricter of the seed's (>5) and the shared policy's`, async () => {
    expect(SIGNUP_MIN_PASSWORD_LENGTH).toBe(Math.max(6, MIN_PASSWORD_LENGTH));
    for (const length of [3, 6, SIGNUP_MIN_PASSWORD_LENGTH - 1]) {
      const body = await expectError(await register(uniqueEmail(), 'p'.repeat(length)), 400);
      expect(body.response).toContain(`${SIGNUP_MIN_PASSWORD_LENGTH} characters`);
      expect(body.response).toMatch(/password/);
    }
    expect((await register(uniqueEmail(), 'p'.repeat(SIGNUP_MIN_PASSWORD_LENGTH))).status).toBe(200);
  });

  test("the spec's minLength is the rule the server applies", () => {
    const spec = parseYaml(readFileSync(specPath('mint-auth'), 'utf8')) as {
      components: { schemas: { SignupGrant: { properties: { password: { minLength: number } } } } };
    };
    expect(spec.components.schemas.SignupGrant.properties.password.minLength).toBe(SIGNUP_MIN_PASSWORD_LENGTH);
  });

  test('a password over 72 UTF-8 bytes is 400 naming the limit', async () => {
    await expectError(await register(uniqueEmail(), 'é'.repeat(37)), 400, /72 bytes/);
  });

  test.each([
    ['a missing field', { grant_type: 'signup', firstname: 'Kate', username: 'kate@example.com', password: PASSWORD }, /lastname/],
    ['another grant_type', { ...signupBody('kate@example.com'), grant_type: 'password' }, /grant_type/],
    ['an unknown field', { ...signupBody('kate@example.com'), role: 'ADMIN' }, /role|unevaluated/i],
    ['an empty username', signupBody(''), /username/],
    ['a number for a name', { ...signupBody('kate@example.com'), firstname: 42 }, /firstname/],
  ])('%s is 400 naming the problem', async (_n, body, message) => {
    await expectError(await post('/auth/register', body, { authorization: appAuth() }), 400, message);
  });
});

describe('grant_type "signup" on POST /auth/authorize (the seed\'s own example)', () => {
  test('signs up with Application authentication, as /auth/register does', async () => {
    const username = uniqueEmail('via-authorize');
    const r = await post('/auth/authorize', signupBody(username), { authorization: appAuth() });
    expect(r.status).toBe(200);
    const body = (await r.json()) as AccessToken;
    expect(body).toMatchObject({ token_type: 'user', expires_in: 3600 });
    expect((await tokenInfo(`UserToken ${body.access_token}`)).status).toBe(200);
    expect((await authorize(username, PASSWORD)).status).toBe(200);
    await expectError(await post('/auth/authorize', signupBody(username), { authorization: appAuth() }), 403, messages.usernameTaken);
  });

  test('without Application authentication it is 401, and no user is created', async () => {
    const username = uniqueEmail('no-app');
    await expectUnauthorized(await post('/auth/authorize', signupBody(username)), 'Application', messages.applicationRequired);
    await expectUnauthorized(await post('/auth/authorize', signupBody(username), { authorization: `Application ${app.id}:wrong` }), 'Application');
    expect(await srv.services.store.users.byIdentifier(username)).toBeUndefined();
  });

  test('the same password rule applies', async () => {
    await expectError(await post('/auth/authorize', signupBody(uniqueEmail(), 'short'), { authorization: appAuth() }), 400, /8 characters/);
  });
});

describe("the seed's curl examples, sent exactly as printed", () => {
  // The bodies are the seed's bytes; only the host differs.
  const seedAuthorize = '{"grant_type" : "password", "username":"kc@goact.com.au","password":"xyz"}';
  const seedRegister = '{"grant_type" : "signup", "firstname":"Kate", "lastname":"Smith", "username":"kc@goact.com.au","password":"xyz"}';

  test('sign-in for an unknown user: 404 "The password does not match, suggest reset?"', async () => {
    await expectError(await post('/auth/authorize', seedAuthorize), 404, 'The password does not match, suggest reset?');
  });

  test('token_info with the example token: 403, sign in again', async () => {
    const r = await fetch(url('/auth/token_info'), {
      method: 'GET',
      headers: { 'Content-Type': 'application/json', Authorization: 'UserToken 2YotnFZFEjr1zCsicMWpAA' },
    });
    await expectError(r, 403, messages.tokenRejected);
  });

  test('sign-up (posted to /auth/authorize, no Application header, password "xyz"): 401 naming the scheme', async () => {
    const body = await expectUnauthorized(await post('/auth/authorize', seedRegister), 'Application');
    expect(body.response).toBe(messages.applicationRequired);
    expect(body.response).toContain('Authorization: Application <application id>:<application secret>');
  });

  test('the same sign-up on /auth/register: the same 401', async () => {
    await expectUnauthorized(await post('/auth/register', seedRegister), 'Application', messages.applicationRequired);
  });

  test('with the Application header added, the short password is 400 stating the real rule', async () => {
    for (const path of ['/auth/authorize', '/auth/register']) {
      const body = await expectError(await post(path, seedRegister, { authorization: appAuth() }), 400);
      expect(body.response).toMatch(/password/);
      expect(body.response).toContain(`${SIGNUP_MIN_PASSWORD_LENGTH} characters`);
    }
    expect(await srv.services.store.users.byIdentifier('kc@goact.com.au')).toBeUndefined();
  });
});

describe('Application authentication', () => {
  test.each([
    ['no header', undefined, messages.applicationRequired],
    ['Basic', () => basicAuth(app.id, app.secret), messages.applicationRequired],
    ['Bearer', () => `Bearer ${app.secret}`, messages.applicationRequired],
    ['UserToken', () => `UserToken ${app.secret}`, messages.applicationRequired],
    ['the scheme alone', () => 'Application', messages.applicationRequired],
    ['no colon', () => `Application ${app.id}${app.secret}`, messages.applicationMalformed],
    ['an empty id', () => `Application :${app.secret}`, messages.applicationMalformed],
    ['an empty secret', () => `Application ${app.id}:`, messages.applicationMalformed],
    ['a space instead of the colon', () => `Application ${app.id} ${app.secret}`, messages.applicationRequired],
    ['an unknown application', () => `Application app_nobody:${app.secret}`, messages.applicationInvalid],
    ['a wrong secret', () => `Application ${app.id}:not-the-secret`, messages.applicationInvalid],
    ['an OAuth client id and secret', () => `Application ${oauth.id}:${oauth.secret}`, messages.applicationInvalid],
    ['a huge header', () => `Application ${app.id}:${'x'.repeat(5000)}`, messages.applicationRequired],
    ['a long secret', () => `Application ${app.id}:${'x'.repeat(1000)}`, messages.applicationInvalid],
  ])('%s is 401 with WWW-Authenticate: Application', async (_n, header, message) => {
    const username = uniqueEmail('bad-app');
    await expectUnauthorized(await register(username, PASSWORD, header ? header() : null), 'Application', message);
    expect(await srv.services.store.users.byIdentifier(username)).toBeUndefined();
  });

  test('unknown application and wrong secret are indistinguishable', async () => {
    const a = await register(uniqueEmail(), PASSWORD, `Application app_nobody:${app.secret}`);
    const b = await register(uniqueEmail(), PASSWORD, `Application ${app.id}:wrong`);
    expect(a.status).toBe(b.status);
    expect(await a.json()).toEqual(await b.json());
  });

  test('the scheme name is case-insensitive', async () => {
    expect((await register(uniqueEmail(), PASSWORD, `application ${app.id}:${app.secret}`)).status).toBe(200);
  });

  test('a revoked application is refused', async () => {
    const a = await srv.services.clients.create('application', 'to revoke');
    const auth = `Application ${a.client.clientId}:${a.secret}`;
    expect((await register(uniqueEmail(), PASSWORD, auth)).status).toBe(200);
    await srv.services.store.clients.revoke('application', a.client.clientId);
    await expectUnauthorized(await register(uniqueEmail(), PASSWORD, auth), 'Application', messages.applicationInvalid);
  });

  test('the secret is stored hashed', async () => {
    const row = await srv.db.knex('clients').where({ client_id: app.id }).first();
    expect(row.kind).toBe('application');
    expect(row.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(row)).not.toContain(app.secret);
  });
});

describe('GET /auth/token_info', () => {
  test.each([
    ['no header', undefined],
    ['Bearer', 'Bearer abcdefghijklmnopqrstuvwxyz'],
    ['Application credentials', 'APP'],
    ['the scheme alone', 'UserToken'],
    ['a token with spaces', 'UserToken abc def'],
    ['a huge header', `UserToken ${'a'.repeat(5000)}`],
  ])('%s is 401 with WWW-Authenticate: UserToken', async (_n, header) => {
    await expectUnauthorized(await tokenInfo(header === 'APP' ? appAuth() : header), 'UserToken', messages.userTokenRequired);
  });

  test('an unknown token is 403', async () => {
    await expectError(await tokenInfo('UserToken not-a-token-we-ever-issued'), 403, messages.tokenRejected);
    await expectError(await tokenInfo(`UserToken ${'a'.repeat(1000)}`), 403, messages.tokenRejected);
  });

  test('an expired token is 403', async () => {
    const me = await signUp();
    const expired = await srv.services.tokens.issueOpaque({
      api: 'mint-auth',
      kind: 'user',
      userId: String(me.user),
      expiresAt: new Date(Date.now() - 1000),
    });
    await expectError(await tokenInfo(`UserToken ${expired.token}`), 403, messages.tokenRejected);
  });

  test('a revoked token is 403 at once', async () => {
    const me = await signUp();
    expect((await tokenInfo(me.auth)).status).toBe(200);
    expect(await srv.services.store.tokens.revokeAllForUser(String(me.user))).toBe(1);
    await expectError(await tokenInfo(me.auth), 403, messages.tokenRejected);
  });

  test('a password change through any API revokes mint tokens', async () => {
    const me = await signUp();
    await srv.services.accounts.changePassword(String(me.user), 'a brand new password', { api: 'mts-auth', ip: '127.0.0.1' });
    await expectError(await tokenInfo(me.auth), 403, messages.tokenRejected);
    await expectError(await authorize(me.username, PASSWORD), 404);
    expect((await authorize(me.username, 'a brand new password')).status).toBe(200);
  });

  test('records the last use', async () => {
    const me = await signUp();
    expect((await tokenInfo(me.auth)).status).toBe(200);
    const row = await srv.db.knex('tokens').where({ user_id: String(me.user) }).first();
    expect(row.last_used_at).not.toBeNull();
  });

  test('an unknown query parameter is ignored (cache-busting ?_=1)', async () => {
    const me = await signUp();
    expect((await fetch(url('/auth/token_info?x=1&_=1'), { headers: { authorization: me.auth } })).status).toBe(200);
  });
});

describe('one identity across APIs (mts-auth ↔ mint-auth)', () => {
  const mtsRegister = (email: string) =>
    fetch(`${srv.baseUrl}/user`, { method: 'POST', headers: { 'content-type': FORM }, body: form({ firstName: 'Ada', lastName: 'Lovelace', email, password: PASSWORD }) });
  const mtsToken = (username: string) =>
    fetch(`${srv.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basicAuth(oauth.id, oauth.secret) },
      body: form({ grant_type: 'password', username, password: PASSWORD }),
    });

  test('a person registered through mts-auth (email only) signs in through mint with that email and password', async () => {
    const email = uniqueEmail('ada');
    const reg = await mtsRegister(email);
    expect(reg.status).toBe(201);
    const id = (await reg.json()) as string; // mts-auth's bare new id
    const r = await authorize(email, PASSWORD);
    expect(r.status).toBe(200);
    const body = (await r.json()) as AccessToken;
    expect(body.user).toBe(Number(id));
    await expectError(await authorize(email, 'wrong password'), 404, messages.badCredentials);
  });

  test('a person registered through mint signs in through mts-auth, by email-like username or plain username', async () => {
    const me = await signUp(uniqueEmail('kate'));
    const t = await mtsToken(me.username);
    expect(t.status).toBe(200);
    const { access_token } = (await t.json()) as { access_token: string };
    const who = await fetch(`${srv.baseUrl}/user`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(await who.json()).toEqual({ Id: String(me.user) });

    const plain = await signUp(`kate_${Math.random().toString(36).slice(2, 10)}`);
    expect((await mtsToken(plain.username)).status).toBe(200);
  });

  test('sign-up of a name another API holds as an email is 403', async () => {
    const email = uniqueEmail('taken');
    expect((await mtsRegister(email)).status).toBe(201);
    await expectError(await register(email), 403, messages.usernameTaken);
  });

  test('a mint token is refused by mts-auth, an mts-auth token by mint', async () => {
    const me = await signUp();
    const onMts = await fetch(`${srv.baseUrl}/user`, { headers: { authorization: `Bearer ${me.access_token}` } });
    expect(onMts.status).toBe(401);
    const onMtsUserToken = await fetch(`${srv.baseUrl}/user`, { headers: { authorization: me.auth } });
    expect(onMtsUserToken.status).toBe(401);

    const t = await mtsToken(me.username);
    const { access_token } = (await t.json()) as { access_token: string };
    expect((await fetch(`${srv.baseUrl}/user`, { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(200);
    await expectError(await tokenInfo(`UserToken ${access_token}`), 403, messages.tokenRejected);

    // A valid mts-auth token row presented by its raw jti is no mint token either.
    const jwtRow = await srv.services.tokens.issueOpaque({ api: 'mts-auth', kind: 'access', userId: String(me.user), value: 'mts-raw-value-0123456789' });
    await expectError(await tokenInfo(`UserToken ${jwtRow.token}`), 403, messages.tokenRejected);
    // Nor is a mint-auth row of another kind.
    const otherKind = await srv.services.tokens.issueOpaque({ api: 'mint-auth', kind: 'refresh', userId: String(me.user) });
    await expectError(await tokenInfo(`UserToken ${otherKind.token}`), 403, messages.tokenRejected);
  });
});

describe('hostile input, all in the {response} dialect', () => {
  test.each([
    ['malformed JSON', '{"grant_type": "password",', JSON_CT, 400, /JSON/],
    ['a JSON array', '[]', JSON_CT, 400, undefined],
    ['a JSON string', '"password"', JSON_CT, 400, /JSON/],
    ['JSON null', 'null', JSON_CT, 400, /JSON/],
    ['an empty body', '', JSON_CT, 400, undefined],
    ['no grant_type', '{"username":"a","password":"b"}', JSON_CT, 400, /grant_type/],
    ['an unknown grant_type', '{"grant_type":"client_credentials","username":"a","password":"b"}', JSON_CT, 400, /grant_type.*password, signup/],
    ['a numeric grant_type', '{"grant_type":1,"username":"a","password":"b"}', JSON_CT, 400, /grant_type/],
    ['a numeric username', '{"grant_type":"password","username":5,"password":"b"}', JSON_CT, 400, /username/],
    ['an array password', '{"grant_type":"password","username":"a","password":["b"]}', JSON_CT, 400, /password/],
    ['an empty password', '{"grant_type":"password","username":"a","password":""}', JSON_CT, 400, /password/],
    ['an extra field', '{"grant_type":"password","username":"a","password":"b","scope":"all"}', JSON_CT, 400, /scope|unevaluated/i],
    ['a NUL in the username', '{"grant_type":"password","username":"a\\u0000b","password":"b"}', JSON_CT, 400, /username/],
    ['a username over 254 characters', JSON.stringify({ grant_type: 'password', username: 'u'.repeat(255), password: 'b' }), JSON_CT, 400, /username/],
    ['a form body', 'grant_type=password&username=a&password=b', FORM, 415, /application\/json/],
    ['text/plain', '{"grant_type":"password","username":"a","password":"b"}', 'text/plain', 415, /application\/json/],
    ['a latin1 charset', '{"grant_type":"password","username":"a","password":"b"}', 'application/json; charset=latin9', 415, undefined],
    ['an oversized body', JSON.stringify({ grant_type: 'password', username: 'a', password: 'x'.repeat(40_000) }), JSON_CT, 413, /too large/],
  ])('%s on /auth/authorize', async (_n, body, contentType, status, message) => {
    const r = await fetch(url('/auth/authorize'), { method: 'POST', headers: { 'content-type': contentType }, body });
    await expectError(r, status as number, message as RegExp | undefined);
  });

  test('a POST without a body or content type is 400 or 415, never 500', async () => {
    const r = await fetch(url('/auth/authorize'), { method: 'POST' });
    expect([400, 415]).toContain(r.status);
    await expectError(r, r.status);
    const reg = await fetch(url('/auth/register'), { method: 'POST', headers: { authorization: appAuth() } });
    expect([400, 415]).toContain(reg.status);
    await expectError(reg, reg.status);
  });

  test('malformed JSON on a sign-up with no Application header: 401 on /auth/register, 400 on /auth/authorize', async () => {
    await expectUnauthorized(await post('/auth/register', '{"oops'), 'Application');
    await expectError(await post('/auth/authorize', '{"oops'), 400, /JSON/);
  });

  test('unknown paths under the mount are 404 in the dialect', async () => {
    for (const p of ['', '/', '/auth', '/auth/nope', '/auth/authorize/extra', '/%E0%A4%A']) {
      await expectError(await fetch(url(p)), 404, 'The requested resource was not found on server');
    }
    await expectError(await post('/auth/revoke', {}), 404, 'The requested resource was not found on server');
    // Paths are case-sensitive.
    await expectError(await post('/AUTH/AUTHORIZE', { grant_type: 'password', username: 'a', password: 'b' }), 404, 'The requested resource was not found on server');
  });

  test('known paths with another method are 405 in the dialect', async () => {
    await expectError(await fetch(url('/auth/authorize')), 405, /method/i);
    await expectError(await fetch(url('/auth/register'), { method: 'PUT', headers: { 'content-type': JSON_CT }, body: '{}' }), 405, /method/i);
    await expectError(await fetch(url('/auth/token_info'), { method: 'DELETE' }), 405, /method/i);
    await expectError(await post('/auth/token_info', {}), 405, /method/i);
  });

  test('odd inputs never give a 500', async () => {
    const cases: Array<[string, RequestInit]> = [
      ['/auth/authorize', { method: 'POST', headers: { 'content-type': JSON_CT }, body: '{"grant_type":"password","username":"\\u0000","password":"\\ud800"}' }],
      ['/auth/authorize', { method: 'POST', headers: { 'content-type': JSON_CT }, body: '{"__proto__":{"x":1},"grant_type":"password","username":"a","password":"b"}' }],
      ['/auth/authorize', { method: 'POST', headers: { 'content-type': JSON_CT, 'content-encoding': 'br' }, body: '{}' }],
      ['/auth/authorize', { method: 'POST', headers: { 'content-type': 'application/vnd.api+json' }, body: '{"grant_type":"password","username":"a","password":"b"}' }],
      ['/auth/register', { method: 'POST', headers: { 'content-type': JSON_CT, authorization: appAuth() }, body: '{"grant_type":"signup","firstname":"","lastname":"","username":"","password":""}' }],
      ['/auth/register', { method: 'POST', headers: { 'content-type': JSON_CT, authorization: `Application ${'x'.repeat(200)}:${'y'.repeat(300)}` }, body: '{}' }],
      ['/auth/token_info?token=1&token=2', { headers: { authorization: 'UserToken 1' } }], // unknown parameters are ignored
      ['/auth/token_info', { headers: { authorization: 'UserToken \u00ff\u00fe' } }],
    ];
    for (const [p, init] of cases) {
      const r = await fetch(url(p), init);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      await expectError(r, r.status);
    }
  });
});

describe('first-run bootstrap (mint part)', () => {
  test('creates a development application and prints curl commands that work as printed', async () => {
    const fresh = await startServer();
    try {
      let printed = '';
      const created = await firstRunBootstrap(fresh.services, (text) => {
        printed += text;
      });
      if (fresh.db.kind !== 'pglite') {
        // Never on a real database: nothing is created or printed.
        expect(created).toBe(false);
        expect(printed).toBe('');
        expect(await fresh.services.store.clients.count()).toBe(0);
        return;
      }
      expect(created).toBe(true);
      const apps = await fresh.services.store.clients.list('application');
      expect(apps).toHaveLength(1);
      expect(printed).toContain(`id: ${apps[0]!.clientId}`);

      // Replay each printed mint curl command over HTTP, against the test port.
      const mintCurls = printed.split('\n').filter((l) => l.includes('/mint/api/v1/'));
      expect(mintCurls).toHaveLength(3);
      const replay = (line: string, token?: string) => {
        const headers: Record<string, string> = {};
        for (const [, h] of line.matchAll(/-H '([^']+)'/g)) {
          const [name, ...value] = h!.replace('<access_token from above>', token ?? '').split(': ');
          headers[name!] = value.join(': ');
        }
        const body = /-d '([^']+)'/.exec(line)?.[1];
        const target = /(http:\/\/\S+\/mint\/api\/v1\/\S+)/.exec(line)![1]!.replace(fresh.services.config.publicUrl, fresh.baseUrl);
        return fetch(target, { method: body ? 'POST' : 'GET', headers, body });
      };
      const signup = await replay(mintCurls[0]!);
      expect(signup.status).toBe(200);
      const signin = await replay(mintCurls[1]!);
      expect(signin.status).toBe(200);
      const { access_token, user } = (await signin.json()) as AccessToken;
      const info = await replay(mintCurls[2]!, access_token);
      expect(info.status).toBe(200);
      expect(await info.json()).toEqual({ user, token_type: 'user' });
      // A second start prints nothing new.
      expect(await firstRunBootstrap(fresh.services, () => undefined)).toBe(false);
    } finally {
      await fresh.close();
    }
  });
});
