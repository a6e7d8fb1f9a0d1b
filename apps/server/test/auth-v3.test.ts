import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { Role, User } from '@polyauth/store';
import { safeRedirectPath } from '../src/apis/auth-v3/redirect.ts';
import { LoginThrottle } from '../src/identity/throttle.ts';
import { newTotpSecret, totpCode } from '../src/identity/totp.ts';
import { startServer, type TestServer } from './harness.ts';
import { basicAuth, form, FORM, keysOf, uniqueEmail } from './helpers.ts';

let srv: TestServer;
const PASSWORD = 'correct horse battery';
const API = '/api/v3/auth';
const TOKEN_RE = /^([1-9][0-9]*)-[0-9a-f]{32}$/;

beforeAll(async () => {
  srv = await startServer({
    THROTTLE_ACCOUNT_MAX_FAILURES: '3',
    THROTTLE_LOCKOUT_SECONDS: '120',
    // Every test comes from 127.0.0.1: keep the per-address limit out of the way.
    THROTTLE_IP_MAX_FAILURES: '100000',
  });
});
afterAll(async () => {
  await srv?.close();
});

const url = (p: string) => `${srv.baseUrl}${p}`;
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

type Mode = 'query' | 'form' | 'json';
type Params = Record<string, string | undefined>;

/** Calls an auth-v3 action as GET with a query string, or POST with a form or JSON body. */
async function call(action: string, params: Params, mode: Mode = 'form'): Promise<Response> {
  const defined = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as Record<string, string>;
  if (mode === 'query') return fetch(url(`${API}/${action}?${form(defined)}`));
  if (mode === 'json') {
    return fetch(url(`${API}/${action}`), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(defined) });
  }
  return fetch(url(`${API}/${action}`), { method: 'POST', headers: { 'content-type': FORM }, body: form(defined) });
}

interface LoginBody {
  user: { id: number; firstName: string; lastName: string; userName: string; role: Role };
  token: string;
  expires: string;
}

async function expectError(r: Response, status: number, errorCode: string) {
  expect({ status: r.status, type: r.headers.get('content-type') }).toEqual({ status, type: expect.stringMatching(/^application\/json/) });
  const body = (await r.json()) as { errorCode: string; errorDescription: string };
  expect(keysOf(body)).toEqual(['errorCode', 'errorDescription']);
  expect(body.errorCode).toBe(errorCode);
  expect(body.errorDescription.length).toBeGreaterThan(0);
  return body;
}

interface TestUser extends User {
  password: string;
}

/** A user made through the identity services (the admin CLI is another helper's work). */
async function makeUser(opts: { role?: Role; totp?: boolean; firstName?: string; lastName?: string; domains?: string[] } = {}): Promise<TestUser & { secret?: string }> {
  const email = uniqueEmail('v3');
  const username = email.split('@')[0]!;
  let user = await srv.services.accounts.register(
    { username, email, firstName: opts.firstName ?? 'Ada', lastName: opts.lastName ?? 'Lovelace', password: PASSWORD },
    { api: 'test', ip: '127.0.0.1' },
  );
  if (opts.role) user = (await srv.services.store.users.update(user.id, { role: opts.role }))!;
  for (const d of opts.domains ?? []) await srv.services.store.domains.addMember(d, user.id);
  let secret: string | undefined;
  if (opts.totp) {
    secret = newTotpSecret();
    await srv.services.store.users.setTotp(user.id, secret);
  }
  return { ...user, password: PASSWORD, secret };
}

async function loginOk(userName: string, extra: Params = {}, mode: Mode = 'form'): Promise<LoginBody> {
  const r = await call('login', { userName, password: PASSWORD, ...extra }, mode);
  expect(r.status).toBe(200);
  return (await r.json()) as LoginBody;
}

let domainCounter = 0;
async function newDomain(): Promise<string> {
  domainCounter += 1;
  return (await srv.services.store.domains.create(`org-${process.pid}-${domainCounter}-${Math.random().toString(36).slice(2, 8)}`)).id;
}

/**
 * Waits out the last two seconds of a 30 s TOTP step, so a code computed
 * here belongs to the step the server sees a moment later (this is not a
 * timing assertion: it only keeps the step boundary out of the test).
 */
async function awayFromStepEdge(): Promise<void> {
  const into = Date.now() % 30_000;
  if (into > 28_000) await new Promise((r) => setTimeout(r, 30_000 - into + 50));
}

/** A six-digit code that is valid in none of the steps the server accepts now. */
function wrongCode(secret: string): string {
  const now = Date.now();
  const valid = new Set([-60_000, -30_000, 0, 30_000, 60_000].map((d) => totpCode(secret, now + d)));
  for (let i = 0; ; i++) {
    const c = String(123456 + i * 7919).slice(-6);
    if (!valid.has(c)) return c;
  }
}

describe('login', () => {
  test.each<Mode>(['query', 'form', 'json'])('answers user, token and expiry (%s)', async (mode) => {
    const u = await makeUser({ role: 'PROJECT_MANAGER', firstName: 'Grace', lastName: 'Hopper' });
    const r = await call('login', { userName: u.username, password: PASSWORD }, mode);
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const body = (await r.json()) as LoginBody;
    expect(body.user).toEqual({ id: Number(u.id), firstName: 'Grace', lastName: 'Hopper', userName: u.username, role: 'PROJECT_MANAGER' });
    expect(body.token).toMatch(TOKEN_RE);
    expect(TOKEN_RE.exec(body.token)![1]).toBe(u.id);
    expect(body.expires).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);

    // Stored only as a hash; the stored expiry is the one answered, 24 h after issue.
    const row = await srv.db.knex('tokens').where({ token_hash: sha256(body.token) }).first();
    expect(row).toMatchObject({ api: 'auth-v3', kind: 'session', user_id: expect.anything() });
    expect(String(row.user_id)).toBe(u.id);
    expect(new Date(row.expires_at).toISOString().replace('.000Z', 'Z')).toBe(body.expires);
    const lifetime = (new Date(body.expires).getTime() - new Date(row.created_at).getTime()) / 1000;
    expect(Math.abs(lifetime - 86_400)).toBeLessThanOrEqual(2);
    expect(await srv.db.knex('tokens').where({ token_hash: body.token }).first()).toBeUndefined();
  });

  test('userName may be the email, in any case', async () => {
    const u = await makeUser();
    const body = await loginOk(u.email!.toUpperCase());
    expect(body.user.userName).toBe(u.username);
  });

  test('a user registered through mts-auth logs in here as a LINGUIST', async () => {
    const email = uniqueEmail('mts');
    const reg = await fetch(url('/user'), {
      method: 'POST',
      headers: { 'content-type': FORM },
      body: form({ firstName: 'Alan', lastName: 'Turing', email, password: PASSWORD }),
    });
    expect(reg.status).toBe(201);
    const body = await loginOk(email);
    expect(body.user).toMatchObject({ firstName: 'Alan', lastName: 'Turing', userName: email, role: 'LINGUIST' });
  });

  test('unknown user, wrong password and disabled account are the same 401', async () => {
    const u = await makeUser();
    const d = await makeUser();
    await srv.services.store.users.update(d.id, { disabled: true });
    const wrong = await expectError(await call('login', { userName: u.username, password: 'wrong password!' }), 401, 'AuthInvalidCredentials');
    const unknown = await expectError(await call('login', { userName: `ghost-${u.username}`, password: 'wrong password!' }), 401, 'AuthInvalidCredentials');
    const disabled = await expectError(await call('login', { userName: d.username, password: PASSWORD }), 401, 'AuthInvalidCredentials');
    expect(unknown).toEqual(wrong);
    expect(disabled).toEqual(wrong);
  });

  test('failed logins lock the account: 429 AuthTooManyAttempts with Retry-After, known or not', async () => {
    const u = await makeUser();
    for (let i = 0; i < 3; i++) await expectError(await call('login', { userName: u.username, password: 'nope nope' }), 401, 'AuthInvalidCredentials');
    const locked = await call('login', { userName: u.username, password: PASSWORD });
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(60);
    await expectError(locked, 429, 'AuthTooManyAttempts');

    const ghost = `ghost-${u.username}`;
    for (let i = 0; i < 3; i++) await call('login', { userName: ghost, password: 'nope nope' });
    await expectError(await call('login', { userName: ghost, password: 'nope nope' }), 429, 'AuthTooManyAttempts');
    const audit = await srv.services.store.audit.recent({ action: 'login.lockout', userId: u.id });
    expect(audit).toHaveLength(1);
  });

  test('a successful login is audited', async () => {
    const u = await makeUser();
    await loginOk(u.username);
    const [entry] = await srv.services.store.audit.recent({ action: 'login.success', userId: u.id });
    expect(entry).toMatchObject({ api: 'auth-v3', actorUserId: u.id, targetUserId: u.id });
  });
});

describe('two-factor login', () => {
  test('a missing code is AuthAccountTwoFactorProtected; the current code logs in', async () => {
    const u = await makeUser({ totp: true });
    await expectError(await call('login', { userName: u.username, password: PASSWORD }), 401, 'AuthAccountTwoFactorProtected');
    await expectError(await call('login', { userName: u.username, password: PASSWORD, code: '' }, 'query'), 401, 'AuthAccountTwoFactorProtected');
    await awayFromStepEdge();
    const body = await loginOk(u.username, { code: totpCode(u.secret!) }, 'json');
    expect(body.user.id).toBe(Number(u.id));
  });

  test('a wrong password is AuthInvalidCredentials, with or without a code: nothing about 2FA or the password leaks', async () => {
    const u = await makeUser({ totp: true });
    const plain = await makeUser();
    await awayFromStepEdge();
    const code = totpCode(u.secret!);
    const noCode = await expectError(await call('login', { userName: u.username, password: 'wrong password!' }), 401, 'AuthInvalidCredentials');
    const withCode = await expectError(await call('login', { userName: u.username, password: 'wrong password!', code }), 401, 'AuthInvalidCredentials');
    const withBadCode = await expectError(await call('login', { userName: u.username, password: 'wrong password!', code: wrongCode(u.secret!) }), 401, 'AuthInvalidCredentials');
    const noTotp = await expectError(await call('login', { userName: plain.username, password: 'wrong password!', code }), 401, 'AuthInvalidCredentials');
    const unknown = await expectError(await call('login', { userName: `ghost-${u.username}`, password: 'wrong password!', code }), 401, 'AuthInvalidCredentials');
    for (const b of [withCode, withBadCode, noTotp, unknown]) expect(b).toEqual(noCode);
    await srv.services.store.throttle.clear(LoginThrottle.userKey(u.id));
    // The code was not looked at, let alone used up, without the password.
    expect((await loginOk(u.username, { code })).user.id).toBe(Number(u.id));
  });

  test('a wrong code with the right password is AuthAccountTwoFactorProtected', async () => {
    const u = await makeUser({ totp: true });
    for (const code of [wrongCode(u.secret!), '12345', 'abcdef', '1234567', ' 123456']) {
      await expectError(await call('login', { userName: u.username, password: PASSWORD, code }), 401, 'AuthAccountTwoFactorProtected');
      await srv.services.store.throttle.clear(LoginThrottle.userKey(u.id));
    }
  });

  test('a code works only once, and no older code works after it', async () => {
    const u = await makeUser({ totp: true });
    await awayFromStepEdge();
    const now = Date.now();
    const code = totpCode(u.secret!, now);
    await loginOk(u.username, { code });
    const replay = await expectError(await call('login', { userName: u.username, password: PASSWORD, code }), 401, 'AuthAccountTwoFactorProtected');
    expect(replay.errorDescription).not.toMatch(/password/i);
    await expectError(await call('login', { userName: u.username, password: PASSWORD, code: totpCode(u.secret!, now - 30_000) }), 401, 'AuthAccountTwoFactorProtected');
    // The next step's code is still good.
    await loginOk(u.username, { code: totpCode(u.secret!, now + 30_000) });
    const audit = await srv.services.store.audit.recent({ action: 'login.second_factor_failure', userId: u.id });
    expect(audit.map((a) => a.detail?.code)).toEqual(['replayed', 'replayed']);
  });

  test('codes one step either side are accepted, two steps away refused', async () => {
    await awayFromStepEdge();
    const now = Date.now();
    const before = await makeUser({ totp: true });
    await loginOk(before.username, { code: totpCode(before.secret!, now - 30_000) });
    const after = await makeUser({ totp: true });
    await loginOk(after.username, { code: totpCode(after.secret!, now + 30_000) });
    const stale = await makeUser({ totp: true });
    await expectError(await call('login', { userName: stale.username, password: PASSWORD, code: totpCode(stale.secret!, now - 90_000) }), 401, 'AuthAccountTwoFactorProtected');
    await expectError(await call('login', { userName: stale.username, password: PASSWORD, code: totpCode(stale.secret!, now + 90_000) }), 401, 'AuthAccountTwoFactorProtected');
  });

  test('wrong codes count as failed logins: the account locks', async () => {
    const u = await makeUser({ totp: true });
    for (let i = 0; i < 3; i++) {
      await expectError(await call('login', { userName: u.username, password: PASSWORD, code: wrongCode(u.secret!) }), 401, 'AuthAccountTwoFactorProtected');
    }
    await awayFromStepEdge();
    const locked = await call('login', { userName: u.username, password: PASSWORD, code: totpCode(u.secret!) });
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    await expectError(locked, 429, 'AuthTooManyAttempts');
    expect(await srv.services.store.audit.recent({ action: 'login.lockout', userId: u.id })).toHaveLength(1);
  });

  test('a missing code does not count as a failure, and does not reset the count', async () => {
    const u = await makeUser({ totp: true });
    for (let i = 0; i < 4; i++) {
      await expectError(await call('login', { userName: u.username, password: PASSWORD }), 401, 'AuthAccountTwoFactorProtected');
    }
    await awayFromStepEdge();
    await loginOk(u.username, { code: totpCode(u.secret!) });

    const v = await makeUser({ totp: true });
    for (let i = 0; i < 2; i++) await call('login', { userName: v.username, password: PASSWORD, code: wrongCode(v.secret!) });
    await call('login', { userName: v.username, password: PASSWORD });
    await call('login', { userName: v.username, password: PASSWORD, code: wrongCode(v.secret!) });
    await expectError(await call('login', { userName: v.username, password: PASSWORD }), 429, 'AuthTooManyAttempts');
  });

  test('a user without TOTP: code is ignored', async () => {
    const u = await makeUser();
    await loginOk(u.username, { code: 'whatever' });
  });
});

describe('whoAmI and logout', () => {
  test.each<Mode>(['query', 'form', 'json'])('whoAmI answers the user (%s)', async (mode) => {
    const u = await makeUser({ role: 'ADMIN', firstName: 'Admin', lastName: 'Istrator' });
    const { token } = await loginOk(u.username);
    const r = await call('whoAmI', { token }, mode);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ user: { id: Number(u.id), firstName: 'Admin', lastName: 'Istrator', userName: u.username, role: 'ADMIN' } });
  });

  test.each<Mode>(['query', 'form', 'json'])('logout invalidates the token at once (%s)', async (mode) => {
    const u = await makeUser();
    const { token } = await loginOk(u.username);
    const other = await loginOk(u.username);
    const r = await call('logout', { token }, mode);
    expect(r.status).toBe(204);
    expect(await r.text()).toBe('');
    await expectError(await call('whoAmI', { token }, mode), 401, 'AuthTokenInvalid');
    await expectError(await call('logout', { token }, mode), 401, 'AuthTokenInvalid');
    expect((await call('whoAmI', { token: other.token })).status).toBe(200);
    expect(await srv.services.store.audit.recent({ action: 'logout', userId: u.id })).toHaveLength(1);
  });

  test('expired, disabled-user, malformed and mismatched tokens are 401 AuthTokenInvalid', async () => {
    const u = await makeUser();
    const v = await makeUser();
    const hex = 'a3bf70333f8f1316cb7841cd774c9ce8';
    const expired = `${u.id}-${hex.replace('a3', 'b4')}`;
    await srv.services.tokens.issueOpaque({ api: 'auth-v3', kind: 'session', userId: u.id, value: expired, expiresAt: new Date(Date.now() - 1000) });
    // A stored token whose id prefix names another user.
    const mismatched = `${v.id}-${hex.replace('a3', 'c5')}`;
    await srv.services.tokens.issueOpaque({ api: 'auth-v3', kind: 'session', userId: u.id, value: mismatched, ttl: 600 });
    for (const token of [expired, mismatched, `${u.id}-${hex}`, 'x', `${u.id}-${hex.toUpperCase()}`, `0${u.id}-${hex}`, `${u.id}-${hex}0`]) {
      await expectError(await call('whoAmI', { token }), 401, 'AuthTokenInvalid');
    }
    const { token } = await loginOk(u.username);
    await srv.services.store.users.update(u.id, { disabled: true });
    await expectError(await call('whoAmI', { token }), 401, 'AuthTokenInvalid');
  });
});

describe('token scoping', () => {
  test('an auth-v3 token is refused by mts-auth', async () => {
    const u = await makeUser();
    const { token } = await loginOk(u.username);
    const r = await fetch(url('/user'), { headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error: string }).error).toBe('invalid_token');
  });

  test('an mts-auth token, and a token of another API in the auth-v3 shape, are refused here', async () => {
    const u = await makeUser();
    const client = await srv.services.clients.create('oauth', 'scoping');
    const t = await fetch(url('/oauth/token'), {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basicAuth(client.client.clientId, client.secret!) },
      body: form({ grant_type: 'password', username: u.username, password: PASSWORD }),
    });
    expect(t.status).toBe(200);
    const { access_token } = (await t.json()) as { access_token: string };
    expect((await fetch(url('/user'), { headers: { authorization: `Bearer ${access_token}` } })).status).toBe(200);
    await expectError(await call('whoAmI', { token: access_token }), 401, 'AuthTokenInvalid');

    const lookalike = `${u.id}-0123456789abcdef0123456789abcdef`;
    await srv.services.tokens.issueOpaque({ api: 'mint-auth', kind: 'session', userId: u.id, value: lookalike, ttl: 600 });
    await expectError(await call('whoAmI', { token: lookalike }), 401, 'AuthTokenInvalid');
  });
});

describe('loginOther', () => {
  async function org() {
    const d = await newDomain();
    const foreign = await newDomain();
    const admin = await makeUser({ role: 'ADMIN', domains: [d] });
    const linguist = await makeUser({ firstName: 'Linguist', lastName: 'Lingo', domains: [d] });
    const outsider = await makeUser({ domains: [foreign] });
    const adminToken = (await loginOk(admin.username)).token;
    return { d, admin, linguist, outsider, adminToken };
  }

  test.each<Mode>(['query', 'form', 'json'])('an ADMIN gets a token of a user of the organization (%s)', async (mode) => {
    const { admin, linguist, adminToken } = await org();
    const r = await call('loginOther', { token: adminToken, userName: linguist.username }, mode);
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const body = (await r.json()) as LoginBody;
    expect(body.user).toEqual({ id: Number(linguist.id), firstName: 'Linguist', lastName: 'Lingo', userName: linguist.username, role: 'LINGUIST' });
    expect(TOKEN_RE.exec(body.token)?.[1]).toBe(linguist.id);
    expect(body.expires).toMatch(/Z$/);
    const who = await call('whoAmI', { token: body.token });
    expect(((await who.json()) as { user: { id: number } }).user.id).toBe(Number(linguist.id));

    const row = await srv.db.knex('tokens').where({ token_hash: sha256(body.token) }).first();
    expect(String(row.actor_user_id)).toBe(admin.id);
    expect(String(row.user_id)).toBe(linguist.id);
    const [entry] = await srv.services.store.audit.recent({ action: 'impersonation.token', userId: linguist.id });
    expect(entry).toMatchObject({ api: 'auth-v3', actorUserId: admin.id, targetUserId: linguist.id });
  });

  test('the target may be named by email', async () => {
    const { linguist, adminToken } = await org();
    expect((await call('loginOther', { token: adminToken, userName: linguist.email! })).status).toBe(200);
  });

  test('for an ADMIN, a missing, disabled or foreign target is the same 404 AuthUserNotFound', async () => {
    const { d, outsider, adminToken } = await org();
    const disabled = await makeUser({ domains: [d] });
    await srv.services.store.users.update(disabled.id, { disabled: true });
    const missing = await expectError(await call('loginOther', { token: adminToken, userName: `nobody-${outsider.username}` }), 404, 'AuthUserNotFound');
    const foreign = await expectError(await call('loginOther', { token: adminToken, userName: outsider.username }), 404, 'AuthUserNotFound');
    const off = await expectError(await call('loginOther', { token: adminToken, userName: disabled.username }), 404, 'AuthUserNotFound');
    expect(foreign).toEqual(missing);
    expect(off).toEqual(missing);
    const refused = await srv.services.store.audit.recent({ action: 'impersonation.refused', userId: outsider.id });
    expect(refused[0]?.detail).toMatchObject({ reason: 'not_found' });
  });

  test('an ADMIN of another organization is refused too', async () => {
    const { linguist } = await org();
    const otherAdmin = await makeUser({ role: 'ADMIN', domains: [await newDomain()] });
    const { token } = await loginOk(otherAdmin.username);
    await expectError(await call('loginOther', { token, userName: linguist.username }), 404, 'AuthUserNotFound');
  });

  test('a non-admin is 403 AuthForbidden whether or not the target exists', async () => {
    const { admin, linguist, d } = await org();
    const pm = await makeUser({ role: 'PROJECT_MANAGER', domains: [d] });
    for (const who of [linguist, pm]) {
      const { token } = await loginOk(who.username);
      const existing = await expectError(await call('loginOther', { token, userName: admin.username }), 403, 'AuthForbidden');
      const missing = await expectError(await call('loginOther', { token, userName: `nobody-${admin.username}` }), 403, 'AuthForbidden');
      expect(missing).toEqual(existing);
    }
  });

  test('a token from loginOther cannot itself call loginOther', async () => {
    const { d, linguist, adminToken } = await org();
    const admin2 = await makeUser({ role: 'ADMIN', domains: [d] });
    const r = await call('loginOther', { token: adminToken, userName: admin2.username });
    const { token } = (await r.json()) as LoginBody;
    await expectError(await call('loginOther', { token, userName: linguist.username }), 403, 'AuthForbidden');
  });

  test('a bad admin token is 401 AuthTokenInvalid', async () => {
    const { linguist } = await org();
    await expectError(await call('loginOther', { token: '1-a3bf70333f8f1316cb7841cd774c9ce8', userName: linguist.username }), 401, 'AuthTokenInvalid');
  });
});

describe('/web/login/authByToken', () => {
  async function impersonationToken(names: { firstName?: string; lastName?: string } = {}) {
    const d = await newDomain();
    const admin = await makeUser({ role: 'ADMIN', domains: [d] });
    const target = await makeUser({ domains: [d], ...names });
    const { token: adminToken } = await loginOk(admin.username);
    const r = await call('loginOther', { token: adminToken, userName: target.username });
    expect(r.status).toBe(200);
    const { token } = (await r.json()) as LoginBody;
    return { admin, target, token };
  }
  const authByToken = (query: string, init: RequestInit = {}) => fetch(url(`/web/login/authByToken?${query}`), { redirect: 'manual', ...init });
  const cookieOf = (r: Response) => r.headers.get('set-cookie')!.split(';')[0]!;

  test('consumes the token once, starts a hashed session and redirects to the local path', async () => {
    const { admin, target, token } = await impersonationToken({ firstName: '<script>alert(1)</script>', lastName: '"&\'' });
    const r = await authByToken(form({ token, url: '/web/' }));
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/web/');
    const setCookie = r.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^polyauth_web=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Lax/);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).not.toMatch(/Secure/);
    const value = cookieOf(r).split('=')[1]!;
    const session = await srv.db.knex('tokens').where({ token_hash: sha256(value) }).first();
    expect(session).toMatchObject({ api: 'web', kind: 'session' });
    expect(String(session.user_id)).toBe(target.id);
    expect(String(session.actor_user_id)).toBe(admin.id);
    expect(await srv.db.knex('tokens').where({ token_hash: value }).first()).toBeUndefined();

    // Single use: gone for the web and for the API.
    const again = await authByToken(form({ token, url: '/web/' }));
    expect(again.status).toBe(401);
    expect(again.headers.get('set-cookie')).toBeNull();
    await expectError(await call('whoAmI', { token }), 401, 'AuthTokenInvalid');

    const [entry] = await srv.services.store.audit.recent({ action: 'impersonation.web_session', userId: target.id });
    expect(entry).toMatchObject({ api: 'auth-v3', actorUserId: admin.id, targetUserId: target.id });

    // The landing page shows who is signed in, escaped.
    const pageRes = await fetch(url('/web/'), { headers: { cookie: cookieOf(r) } });
    expect(pageRes.status).toBe(200);
    expect(pageRes.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await pageRes.text();
    expect(html).toContain('Signed in');
    expect(html).toContain(`<span id="user-login">${target.username}</span>`);
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62; &#34;&#38;&#39;');
    expect(html).not.toContain('<script>');
    expect(html).toContain(admin.username);
  });

  test('POST /web/logout ends the session', async () => {
    const { token } = await impersonationToken();
    const r = await authByToken(form({ token }));
    const cookie = cookieOf(r);
    const out = await fetch(url('/web/logout'), { method: 'POST', headers: { cookie }, redirect: 'manual' });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/web/');
    const html = await (await fetch(url('/web/'), { headers: { cookie } })).text();
    expect(html).toContain('Not signed in');
    expect(html).not.toContain('Signed in as');
  });

  test('without a session /web/ says so', async () => {
    const r = await fetch(url('/web/'));
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('You are not signed in');
    const bogus = await fetch(url('/web'), { headers: { cookie: 'polyauth_web=not-a-session' } });
    expect(await bogus.text()).toContain('You are not signed in');
    expect(bogus.headers.get('set-cookie')).toMatch(/^polyauth_web=;/);
  });

  test('an ordinary login token is refused and stays usable', async () => {
    const u = await makeUser();
    const { token } = await loginOk(u.username);
    const r = await authByToken(form({ token }));
    expect(r.status).toBe(401);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect((await call('whoAmI', { token })).status).toBe(200);
  });

  test('a HEAD request does not use the token up', async () => {
    const { token } = await impersonationToken();
    const head = await authByToken(form({ token }), { method: 'HEAD' });
    expect(head.status).toBe(405);
    expect(head.headers.get('allow')).toBe('GET');
    expect((await authByToken(form({ token }))).status).toBe(303);
  });

  test.each([
    ['a missing token', ''],
    ['a malformed token', 'token=abc'],
    ['a repeated token', 'token=1-a3bf70333f8f1316cb7841cd774c9ce8&token=2-a3bf70333f8f1316cb7841cd774c9ce8'],
    ['an unknown token', 'token=1-a3bf70333f8f1316cb7841cd774c9ce8'],
    ['bad percent-encoding', 'token=%ZZ&url=%E0%A4%A'],
  ])('%s is a 401 page', async (_n, query) => {
    const r = await authByToken(query);
    expect(r.status).toBe(401);
    expect(r.headers.get('content-type')).toMatch(/^text\/html/);
    expect(r.headers.get('set-cookie')).toBeNull();
  });

  test.each([
    ['/web/', '/web/'],
    ['/projects/42?tab=files#top', '/projects/42?tab=files#top'],
    ['/a b', '/a%20b'],
    ['/a/./b/../c', '/a/c'],
    [undefined, '/'],
    ['', '/'],
    ['//evil.example', '/'],
    ['///evil.example', '/'],
    ['/\\evil.example', '/'],
    ['\\\\evil.example', '/'],
    ['/foo\\bar', '/'],
    ['https://evil.example/', '/'],
    ['HTTPS:evil.example', '/'],
    ['javascript:alert(1)', '/'],
    ['evil.example', '/'],
    ['/%2F%2Fevil.example', '/'],
    ['/%2fevil.example', '/'],
    ['%2F%2Fevil.example', '/'],
    ['/%5Cevil.example', '/'],
    ['/%252F%252Fevil.example', '/'],
    ['/..//evil.example', '/'],
    ['/%2e%2e//evil.example', '/'],
    ['/\t/evil.example', '/'],
    ['/\n/evil.example', '/'],
    ['/%09/evil.example', '/'],
    [`/${'a'.repeat(3000)}`, '/'],
  ])('url=%j redirects to %s', async (target, expected) => {
    const { token } = await impersonationToken();
    const params: Record<string, string> = { token };
    if (target !== undefined) params.url = target;
    const r = await authByToken(form(params));
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe(expected);
  });

  test('a repeated url falls back to /', async () => {
    const { token } = await impersonationToken();
    const r = await authByToken(`token=${token}&url=/a&url=/b`);
    expect(r.headers.get('location')).toBe('/');
  });

  test('unknown pages and methods under /web are HTML 404 and 405', async () => {
    const nope = await fetch(url('/web/nope'));
    expect(nope.status).toBe(404);
    expect(nope.headers.get('content-type')).toMatch(/^text\/html/);
    const del = await fetch(url('/web/'), { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET');
    const post = await fetch(url('/web/login/authByToken'), { method: 'POST' });
    expect(post.status).toBe(405);
  });
});

describe('/web over https', () => {
  let https: TestServer;
  beforeAll(async () => {
    https = await startServer({ PUBLIC_URL: 'https://auth.example.com' });
  });
  afterAll(async () => {
    await https?.close();
  });

  test('the session cookie is __Host- and Secure when PUBLIC_URL is https', async () => {
    const s = https.services;
    const d = await s.store.domains.create(`https-org-${process.pid}`);
    const admin = await s.accounts.register({ username: 'https-admin', email: 'https-admin@example.com', password: PASSWORD }, { api: 'test', ip: '127.0.0.1' });
    await s.store.users.update(admin.id, { role: 'ADMIN' });
    const target = await s.accounts.register({ username: 'https-target', password: PASSWORD }, { api: 'test', ip: '127.0.0.1' });
    await s.store.domains.addMember(d.id, admin.id);
    await s.store.domains.addMember(d.id, target.id);
    const post = (action: string, body: Record<string, string>) =>
      fetch(`${https.baseUrl}${API}/${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const { token: adminToken } = (await (await post('login', { userName: 'https-admin', password: PASSWORD })).json()) as LoginBody;
    const { token } = (await (await post('loginOther', { token: adminToken, userName: 'https-target' })).json()) as LoginBody;
    const r = await fetch(`${https.baseUrl}/web/login/authByToken?${form({ token })}`, { redirect: 'manual' });
    expect(r.status).toBe(303);
    const setCookie = r.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^__Host-polyauth_web=[A-Za-z0-9_-]{43};/);
    expect(setCookie).toMatch(/; Secure/);
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Lax/);
    const html = await (await fetch(`${https.baseUrl}/web/`, { headers: { cookie: setCookie.split(';')[0]! } })).text();
    expect(html).toContain('https-target');
  });
});

describe('safeRedirectPath', () => {
  test.each([
    ['/ok', '/ok'],
    ['/ok?x=%2F', '/ok?x=%2F'],
    ['/caf\u00e9', '/caf%C3%A9'],
    ['/%', '/'],
    ['/%E0%A4%A', '/'],
    ['/\u0000', '/'],
    ['/\u007f', '/'],
    ['/%00', '/'],
    ['/%255C', '/'],
    [42, '/'],
    [['/a'], '/'],
  ])('%j → %s', (input, expected) => {
    expect(safeRedirectPath(input)).toBe(expected);
  });
});

describe('hostile input: always the dialect, never a 500', () => {
  const json = (body: string, type = 'application/json'): RequestInit => ({ method: 'POST', headers: { 'content-type': type }, body });
  test.each<[string, string, RequestInit, number, string]>([
    ['no parameters', '/login', {}, 400, 'InvalidRequest'],
    ['no password', '/login?userName=a', {}, 400, 'InvalidRequest'],
    ['an unknown parameter is ignored', '/login?userName=a&password=b&admin=1', {}, 401, 'AuthInvalidCredentials'],
    ['a repeated parameter', '/login?userName=a&userName=b&password=c', {}, 400, 'InvalidRequest'],
    ['an empty userName', '/login?userName=&password=c', {}, 400, 'InvalidRequest'],
    ['a too long userName', `/login?userName=${'a'.repeat(255)}&password=c`, {}, 400, 'InvalidRequest'],
    ['a too long password', `/login?userName=a&password=${'a'.repeat(1025)}`, {}, 400, 'InvalidRequest'],
    ['a too long code', `/login?userName=a&password=b&code=${'1'.repeat(33)}`, {}, 400, 'InvalidRequest'],
    ['a repeated form field', '/login', { method: 'POST', headers: { 'content-type': FORM }, body: 'userName=a&userName=b&password=c' }, 400, 'InvalidRequest'],
    ['a bracketed form field', '/login', { method: 'POST', headers: { 'content-type': FORM }, body: 'userName[x]=a&password=c' }, 400, 'InvalidRequest'],
    ['a number in JSON', '/login', json('{"userName":1,"password":"x"}'), 400, 'InvalidRequest'],
    ['a numeric JSON code', '/login', json('{"userName":"a","password":"x","code":123456}'), 400, 'InvalidRequest'],
    ['an extra JSON field', '/login', json('{"userName":"a","password":"x","role":"ADMIN"}'), 400, 'InvalidRequest'],
    ['a JSON array', '/login', json('[]'), 400, 'InvalidRequest'],
    ['JSON null', '/login', json('null'), 400, 'InvalidRequest'],
    ['broken JSON', '/login', json('{"userName":'), 400, 'InvalidRequest'],
    ['a text/plain body', '/login', json('userName=a&password=b', 'text/plain'), 415, 'UnsupportedMediaType'],
    ['a latin1 JSON body', '/login', json('{}', 'application/json; charset=latin1'), 415, 'UnsupportedMediaType'],
    ['an oversized body', '/login', json(JSON.stringify({ userName: 'a', password: 'x'.repeat(40_000) })), 413, 'PayloadTooLarge'],
    ['no token', '/whoAmI', {}, 400, 'InvalidRequest'],
    ['a too long token', `/whoAmI?token=${'1'.repeat(300)}`, {}, 400, 'InvalidRequest'],
    ['a garbage token', '/whoAmI?token=%ZZ', {}, 401, 'AuthTokenInvalid'],
    ['a NUL in the token', '/logout?token=%00', {}, 400, 'InvalidRequest'],
    ['a NUL in userName', '/login?userName=%00&password=x', {}, 400, 'InvalidRequest'],
    ['a lone surrogate in JSON', '/login', json('{"userName":"\\ud800x","password":"x"}'), 400, 'InvalidRequest'],
    ['a lone surrogate in loginOther', '/loginOther', json('{"token":"1-a3bf70333f8f1316cb7841cd774c9ce8","userName":"\\udc00"}'), 400, 'InvalidRequest'],
    ['loginOther without userName', '/loginOther?token=1-a3bf70333f8f1316cb7841cd774c9ce8', {}, 400, 'InvalidRequest'],
    ['a query parameter on POST is ignored', '/whoAmI?token=x', json('{"token":"x"}'), 401, 'AuthTokenInvalid'],
    ['an unknown path', '/nope', {}, 404, 'NotFound'],
    ['the mount itself', '', {}, 404, 'NotFound'],
    ['a sub-path', '/login/extra', {}, 404, 'NotFound'],
    ['DELETE', '/login', { method: 'DELETE' }, 405, 'MethodNotAllowed'],
    ['PUT', '/whoAmI', { method: 'PUT' }, 405, 'MethodNotAllowed'],
    ['OPTIONS', '/logout', { method: 'OPTIONS' }, 405, 'MethodNotAllowed'],
  ])('%s', async (_name, path, init, status, code) => {
    const r = await fetch(url(`${API}${path}`), init);
    expect(r.headers.get('cache-control')).toBe('no-store');
    await expectError(r, status, code);
  });

  test('an Accept header asking for HTML still gets the dialect, and HEAD is no 500', async () => {
    const r = await fetch(url(`${API}/whoAmI?token=x`), { headers: { accept: 'text/html' } });
    expect(r.status).toBe(401);
    const head = await fetch(url(`${API}/whoAmI?token=x`), { method: 'HEAD' });
    expect(head.status).toBeGreaterThanOrEqual(400);
    expect(head.status).toBeLessThan(500);
  });
});
