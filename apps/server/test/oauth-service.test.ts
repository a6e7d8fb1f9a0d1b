import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { request as httpRequest } from 'node:http';
import { Writable } from 'node:stream';
import jwt from 'jsonwebtoken';
import pino from 'pino';
import { Mailer } from '../src/identity/mail.ts';
import { sha256 } from '../src/identity/secrets.ts';
import { startServer, TEST_JWT_SECRET, type TestServer } from './harness.ts';
import { basicAuth, form, FORM, keysOf, uniqueEmail } from './helpers.ts';
import { linkIn, startSmtpSink, type SmtpSink } from './smtp-sink.ts';

const PASSWORD = 'correct horse battery';
const REDIRECT = 'https://app.example.com/email-verified';
const JSON_TYPE = 'application/json';

let srv: TestServer;
let smtp: SmtpSink;
let clientId: string;

beforeAll(async () => {
  smtp = await startSmtpSink();
  srv = await startServer({
    SMTP_URL: smtp.url,
    EMAIL_VERIFIED_REDIRECT: REDIRECT,
    RESET_PASSWORD_PAGE: 'https://app.example.com/reset#form',
    MAIL_MAX_PER_HOUR: '3',
    MAIL_MAX_PER_HOUR_PER_IP: '10000',
    THROTTLE_ACCOUNT_MAX_FAILURES: '3',
    THROTTLE_LOCKOUT_SECONDS: '120',
  });
  clientId = (await srv.services.clients.create('oauth', 'oauth-service tests', { withSecret: false })).client.clientId;
});
afterAll(async () => {
  await srv?.close();
  await smtp?.close();
});

const url = (p: string) => `${srv.baseUrl}/api/oauth${p}`;
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

let n = 0;
function newUser(extra: Record<string, unknown> = {}) {
  n += 1;
  return { username: `user_${process.pid}_${n}_${Math.random().toString(36).slice(2, 7)}`, email: uniqueEmail('oauth'), password: PASSWORD, accept_terms: 1, ...extra };
}

async function post(p: string, body: unknown, type = JSON_TYPE, headers: Record<string, string> = {}) {
  return fetch(url(p), {
    method: 'POST',
    headers: { 'content-type': type, ...headers },
    body: type === JSON_TYPE ? JSON.stringify(body) : form(body as Record<string, string>),
  });
}

interface Registration {
  user: { id: string; username: string; email: string; email_verified: boolean; role?: string; company?: string; created_at: string };
  access_token: string;
  refreshToken: string;
}

async function register(fields = newUser()) {
  const r = await post('/register', fields);
  expect(r.status).toBe(200);
  return { ...((await r.json()) as Registration), fields };
}

/**
 * GET with a body, as the seed's register example sends it. fetch refuses a
 * body on GET (the Fetch standard), so node:http sends it; the answer comes
 * back as a Response.
 */
function getWithBody(p: string, type: string, body: string): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url(p), { method: 'GET', headers: { 'content-type': type, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers }));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A registered user whose email counts as verified, so send_email_link is a cheap authenticated probe that mails nothing. */
async function registerVerified() {
  const reg = await register();
  await srv.services.store.users.update(reg.user.id, { emailVerifiedAt: new Date() });
  return reg;
}

async function tokenGrant(body: Record<string, string>, type = FORM) {
  return post('/token', { client_id: clientId, ...body }, type);
}

async function expectError(r: Response, status: number, error: string) {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await r.json()) as { error: string; message: string };
  expect(keysOf(body)).toEqual(['error', 'message']);
  expect(body.error).toBe(error);
  expect(body.message.length).toBeGreaterThan(0);
  return body;
}

/** Whether an access token still authenticates (send_email_link on a verified user sends nothing). */
async function sendEmailLink(token: string) {
  return fetch(url('/send_email_link'), { method: 'POST', headers: bearer(token) });
}

test('response validation is on', () => {
  expect(srv.services.config.validateResponses).toBe(true);
});

describe('register', () => {
  test('POST JSON creates the user and answers its tokens', async () => {
    const fields = newUser({ role: 'Translator', company: 'Example Ltd' });
    const r = await post('/register', fields);
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const body = (await r.json()) as Registration;
    expect(keysOf(body)).toEqual(['access_token', 'refreshToken', 'user']);
    expect(body.user).toEqual({
      id: expect.stringMatching(/^[1-9][0-9]*$/),
      username: fields.username,
      email: fields.email,
      role: 'Translator',
      company: 'Example Ltd',
      email_verified: false,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    const claims = jwt.verify(body.access_token, TEST_JWT_SECRET, { audience: 'oauth-service' }) as jwt.JwtPayload;
    expect(claims.sub).toBe(body.user.id);
    expect(body.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const row = await srv.db.knex('users').where({ id: body.user.id }).first();
    expect(row.job_title).toBe('Translator');
    expect(row.terms_accepted_at).not.toBeNull();
    const stored = await srv.db.knex('tokens').where({ user_id: body.user.id });
    expect(stored.map((t: { token_hash: string }) => t.token_hash)).toContain(sha256(body.refreshToken));
    const audit = await srv.services.store.audit.recent({ action: 'user.register', userId: body.user.id });
    expect(audit).toHaveLength(1);
  });

  test('POST form and GET with query parameters work alike', async () => {
    const f = newUser();
    const r1 = await post('/register', { ...f, accept_terms: '1' }, FORM);
    expect(r1.status).toBe(200);
    const g = newUser({ company: 'ACME' });
    const q = new URLSearchParams(Object.entries(g).map(([k, v]) => [k, String(v)]));
    const r2 = await fetch(url(`/register?${q}`));
    expect(r2.status).toBe(200);
    expect(((await r2.json()) as Registration).user).toMatchObject({ username: g.username, company: 'ACME' });
  });

  test('GET with the fields in a JSON or form body, as the seed sends them, works like the query', async () => {
    const j = newUser({ role: 'Translator' });
    const r1 = await getWithBody('/register', JSON_TYPE, JSON.stringify(j));
    expect(r1.status).toBe(200);
    expect(((await r1.json()) as Registration).user).toMatchObject({ username: j.username, email: j.email, role: 'Translator' });
    const f = newUser();
    const r2 = await getWithBody('/register', FORM, form({ ...f, accept_terms: '1' } as Record<string, string>));
    expect(r2.status).toBe(200);
    expect(((await r2.json()) as Registration).user.username).toBe(f.username);
    // the same rules and messages as the query
    const terms = await getWithBody('/register', JSON_TYPE, JSON.stringify(newUser({ accept_terms: 0 })));
    await expectError(terms, 400, 'terms_not_accepted');
    const missing = await getWithBody('/register', JSON_TYPE, JSON.stringify({ username: 'x' }));
    expect((await expectError(missing, 400, 'invalid_request')).message).toMatch(/email/);
  });

  test('GET with a query string and a body, or a body that is not flat, is 400 invalid_request', async () => {
    const f = newUser();
    const both = await getWithBody(`/register?username=${f.username}`, JSON_TYPE, JSON.stringify(f));
    await expectError(both, 400, 'invalid_request');
    for (const body of ['[1]', '"x"', JSON.stringify({ ...f, email: [f.email] }), JSON.stringify({ ...f, accept_terms: true })]) {
      const r = await getWithBody('/register', JSON_TYPE, body);
      await expectError(r, 400, 'invalid_request');
    }
    expect(await srv.services.store.users.byIdentifier(f.username)).toBeUndefined();
  });

  test.each([
    ['JSON', (f: Record<string, unknown>) => post('/register', { ...f, accept_terms: 0 })],
    ['form', (f: Record<string, unknown>) => post('/register', { ...f, accept_terms: '0' }, FORM)],
    ['query', (f: Record<string, unknown>) => fetch(url(`/register?${new URLSearchParams({ ...(f as Record<string, string>), accept_terms: '2' })}`))],
  ])('registration without accepted terms (%s) is 400 terms_not_accepted', async (_n, send) => {
    const f = newUser();
    await expectError(await send(f), 400, 'terms_not_accepted');
    expect(await srv.services.store.users.byIdentifier(f.username)).toBeUndefined();
  });

  test('a taken username or email, in any case, through any API, is 409', async () => {
    const { fields } = await register();
    const a = await expectError(await post('/register', newUser({ username: fields.username.toUpperCase() })), 409, 'conflict');
    expect(a.message).toMatch(/username/);
    const b = await expectError(await post('/register', newUser({ email: fields.email.toUpperCase() })), 409, 'conflict');
    expect(b.message).toMatch(/email/);
    // a user created through mts-auth holds its email as username and email
    const mtsEmail = uniqueEmail('mts');
    const m = await fetch(`${srv.baseUrl}/user`, { method: 'POST', headers: { 'content-type': FORM }, body: form({ firstName: 'A', lastName: 'B', email: mtsEmail, password: PASSWORD }) });
    expect(m.status).toBe(201);
    await expectError(await post('/register', newUser({ email: mtsEmail })), 409, 'conflict');
  });

  test('two identical concurrent registrations: one 200, one 409, one user', async () => {
    const f = newUser();
    const results = await Promise.all([post('/register', f), post('/register', f)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    const loser = results.find((r) => r.status === 409)!;
    await expectError(loser, 409, 'conflict');
    const rows = await srv.db.knex('users').whereRaw('lower(username) = ?', [f.username.toLowerCase()]);
    expect(rows).toHaveLength(1);
  });

  test.each([
    ['a missing field', { email: undefined }, /email/],
    ['a malformed email', { email: 'not-an-email' }, /email/],
    ['a password over 72 UTF-8 bytes', { password: 'é'.repeat(37) }, /72 bytes/],
    ['a short password', { password: 'short' }, /password/],
    ['an unknown field', { admin: true }, /admin|unevaluated/i],
    ['a string accept_terms in JSON', { accept_terms: '1' }, /accept_terms/],
    ['a username with a space', { username: 'two words' }, /username/],
    ['a username that is an email', { username: 'a@b.example' }, /username/],
  ])('%s is 400 invalid_request', async (_n, patch, message) => {
    const body = await expectError(await post('/register', newUser(patch)), 400, 'invalid_request');
    expect(body.message).toMatch(message);
  });

  test('repeated query parameters, a non-integer accept_terms in a form, bad JSON: 400', async () => {
    const f = newUser();
    const q = `username=${f.username}&username=x&email=${encodeURIComponent(f.email)}&password=${encodeURIComponent(PASSWORD)}&accept_terms=1`;
    await expectError(await fetch(url(`/register?${q}`)), 400, 'invalid_request');
    await expectError(await post('/register', { ...f, accept_terms: 'yes' }, FORM), 400, 'invalid_request');
    const bad = await fetch(url('/register'), { method: 'POST', headers: { 'content-type': JSON_TYPE }, body: '{"username":' });
    await expectError(bad, 400, 'invalid_request');
  });

  test('a text body is 415, an oversized body 413', async () => {
    const text = await fetch(url('/register'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    await expectError(text, 415, 'unsupported_media_type');
    await expectError(await post('/register', newUser({ company: 'x'.repeat(40_000) })), 413, 'payload_too_large');
  });
});

describe('token', () => {
  test('refresh_token grant: a fresh access token and the same refresh token (form and JSON)', async () => {
    const reg = await register();
    for (const type of [FORM, JSON_TYPE]) {
      const before = Math.floor(Date.now() / 1000);
      const r = await tokenGrant({ grant_type: 'refresh_token', refresh_token: reg.refreshToken }, type);
      const after = Math.ceil(Date.now() / 1000);
      expect(r.status).toBe(200);
      expect(r.headers.get('cache-control')).toBe('no-store');
      const body = (await r.json()) as { access_token: string; refresh_token: string; expire_at: string; expires_in: number; token_type: string };
      expect(keysOf(body)).toEqual(['access_token', 'expire_at', 'expires_in', 'refresh_token', 'token_type']);
      expect(body.refresh_token).toBe(reg.refreshToken);
      expect(body.token_type).toBe('Bearer');
      expect(body.access_token).not.toBe(reg.access_token);
      const claims = jwt.verify(body.access_token, TEST_JWT_SECRET, { audience: 'oauth-service' }) as jwt.JwtPayload;
      expect(body.expire_at).toBe(new Date(claims.exp! * 1000).toISOString().replace('.000Z', 'Z'));
      // expires_in (RFC 6749 §5.1) names the same moment as expire_at
      expect(Math.abs(before + body.expires_in - claims.exp!)).toBeLessThanOrEqual(after - before + 1);
      // ACCESS_TOKEN_TTL (3600 s) from the moment it was issued
      expect(claims.exp).toBeGreaterThanOrEqual(before + 3600);
      expect(claims.exp).toBeLessThanOrEqual(after + 3600);
      expect((await sendEmailLink(body.access_token)).status).toBe(200);
    }
  });

  test('a refresh writes no token row; each access token is a JWT naming its session, with a unique jti', async () => {
    const reg = await registerVerified();
    const session = await srv.db.knex('tokens').where({ token_hash: sha256(reg.refreshToken) }).first();
    const rows = async () => Number((await srv.db.knex('tokens').count({ n: '*' }))[0]!.n);
    const before = await rows();
    const jtis = new Set<string>();
    jtis.add((jwt.decode(reg.access_token) as jwt.JwtPayload).jti!);
    const issued = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const r = await tokenGrant({ grant_type: 'refresh_token', refresh_token: reg.refreshToken });
        expect(r.status).toBe(200);
        return ((await r.json()) as { access_token: string }).access_token;
      }),
    );
    expect(await rows()).toBe(before);
    for (const t of issued) {
      const claims = jwt.verify(t, TEST_JWT_SECRET, { audience: 'oauth-service', issuer: 'polyauth' }) as jwt.JwtPayload;
      expect(claims).toMatchObject({ sub: reg.user.id, sid: String(session.id), jti: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/) });
      expect(t.length).toBeLessThanOrEqual(256);
      jtis.add(claims.jti!);
    }
    // (send_email_link is throttled per address: probe two of them)
    for (const t of [issued[0]!, issued.at(-1)!]) expect((await sendEmailLink(t)).status).toBe(200);
    expect(jtis.size).toBe(issued.length + 1);
    expect(Number((await srv.db.knex('tokens').where({ user_id: reg.user.id, kind: 'access' }).count({ n: '*' }))[0]!.n)).toBe(0);
    // the use is recorded on the session row (coalesced), nothing else is written
    expect((await srv.db.knex('tokens').where({ id: session.id }).first()).last_used_at).not.toBeNull();
  });

  test('an access token naming a dead, foreign or unknown session, or a revoked client, is refused', async () => {
    const a = await registerVerified();
    const b = await registerVerified();
    const sessionOf = async (rt: string) => String((await srv.db.knex('tokens').where({ token_hash: sha256(rt) }).first()).id);
    const forge = (claims: Record<string, unknown>, sub: string) =>
      jwt.sign(claims, TEST_JWT_SECRET, { audience: 'oauth-service', issuer: 'polyauth', subject: sub, jwtid: 'forged-jti-0123456789', expiresIn: 60 });
    // well signed (as only the server can), to show the session check itself refuses them
    expect((await sendEmailLink(forge({ sid: await sessionOf(a.refreshToken) }, a.user.id))).status).toBe(200);
    await expectError(await sendEmailLink(forge({ sid: await sessionOf(b.refreshToken) }, a.user.id)), 401, 'unauthorized');
    await expectError(await sendEmailLink(forge({ sid: '999999999999' }, a.user.id)), 401, 'unauthorized');
    await expectError(await sendEmailLink(forge({ sid: 'x' }, a.user.id)), 401, 'unauthorized');
    await expectError(await sendEmailLink(forge({}, a.user.id)), 401, 'unauthorized');
    await expectError(await fetch(url('/revoke'), { method: 'POST', headers: bearer(forge({ sid: await sessionOf(b.refreshToken) }, a.user.id)) }), 404, 'not_found');
    expect((await sendEmailLink(b.access_token)).status).toBe(200);

    // a client's revocation ends the access tokens issued through it, cached or not
    const c = await srv.services.clients.create('oauth', 'revoked later', { withSecret: false });
    const viaC = (await (await post('/token', { grant_type: 'refresh_token', client_id: c.client.clientId, refresh_token: a.refreshToken }, FORM)).json()) as { access_token: string };
    expect((await sendEmailLink(viaC.access_token)).status).toBe(200);
    await srv.services.store.clients.revoke('oauth', c.client.clientId);
    await expectError(await sendEmailLink(viaC.access_token), 401, 'unauthorized');
    expect((await sendEmailLink(a.access_token)).status).toBe(200);
  });

  test('disabling the user refuses the access tokens of its sessions at once', async () => {
    const reg = await registerVerified();
    const refreshed = (await (await tokenGrant({ grant_type: 'refresh_token', refresh_token: reg.refreshToken })).json()) as { access_token: string };
    expect((await sendEmailLink(refreshed.access_token)).status).toBe(200);
    await srv.services.store.users.update(reg.user.id, { disabled: true });
    await expectError(await sendEmailLink(refreshed.access_token), 401, 'unauthorized');
    await expectError(await tokenGrant({ grant_type: 'refresh_token', refresh_token: reg.refreshToken }), 400, 'invalid_grant');
  });

  test('password grant (extension) with the username or the email issues a new refresh token', async () => {
    const reg = await register();
    for (const username of [reg.fields.username, reg.fields.email.toUpperCase()]) {
      const r = await tokenGrant({ grant_type: 'password', username, password: PASSWORD });
      expect(r.status).toBe(200);
      const body = (await r.json()) as { refresh_token: string; access_token: string };
      expect(body.refresh_token).not.toBe(reg.refreshToken);
      expect(jwt.decode(body.access_token)).toMatchObject({ sub: reg.user.id, aud: 'oauth-service' });
    }
  });

  test('unknown client_id is 400 invalid_client; a revoked client too', async () => {
    const reg = await register();
    await expectError(await post('/token', { grant_type: 'refresh_token', client_id: 'oc_nope', refresh_token: reg.refreshToken }, FORM), 400, 'invalid_client');
    const c = await srv.services.clients.create('oauth', 'short-lived', { withSecret: false });
    // used once, so a cached copy would answer if the revocation were not announced
    expect((await post('/token', { grant_type: 'refresh_token', client_id: c.client.clientId, refresh_token: reg.refreshToken }, FORM)).status).toBe(200);
    await srv.services.store.clients.revoke('oauth', c.client.clientId);
    await expectError(await post('/token', { grant_type: 'refresh_token', client_id: c.client.clientId, refresh_token: reg.refreshToken }, FORM), 400, 'invalid_client');
  });

  test('an unknown refresh token, or a mint application id as client_id, is refused', async () => {
    await expectError(await tokenGrant({ grant_type: 'refresh_token', refresh_token: 'A'.repeat(43) }), 400, 'invalid_grant');
    const app = await srv.services.clients.create('application', 'a mint app');
    const reg = await register();
    await expectError(await post('/token', { grant_type: 'refresh_token', client_id: app.client.clientId, refresh_token: reg.refreshToken }, FORM), 400, 'invalid_client');
  });

  test('bad parameters are 400 invalid_request, another grant_type unsupported_grant_type', async () => {
    await expectError(await tokenGrant({ grant_type: 'refresh_token' }), 400, 'invalid_request');
    await expectError(await post('/token', { grant_type: 'password', username: 'a', password: 'b' }, FORM), 400, 'invalid_request');
    await expectError(await tokenGrant({}), 400, 'invalid_request');
    await expectError(await tokenGrant({ grant_type: 'refresh_token', refresh_token: 'x', extra: 'y' }), 400, 'invalid_request');
    await expectError(await tokenGrant({ grant_type: 'client_credentials' }), 400, 'unsupported_grant_type');
    await expectError(await tokenGrant({ grant_type: 'authorization_code', code: 'x' }, JSON_TYPE), 400, 'unsupported_grant_type');
    const arr = await fetch(url('/token'), { method: 'POST', headers: { 'content-type': FORM }, body: `grant_type=refresh_token&client_id=${clientId}&refresh_token=a&refresh_token=b` });
    await expectError(arr, 400, 'invalid_request');
  });

  test('unknown user and wrong password are the same 400 invalid_grant; a 73-byte password with a right prefix fails', async () => {
    const reg = await register();
    const wrong = await tokenGrant({ grant_type: 'password', username: reg.fields.username, password: 'wrong password!' });
    const unknown = await tokenGrant({ grant_type: 'password', username: `ghost_${reg.fields.username}`, password: 'wrong password!' });
    const wb = await expectError(wrong, 400, 'invalid_grant');
    expect(await expectError(unknown, 400, 'invalid_grant')).toEqual(wb);
    const reg72 = await register(newUser({ password: 'p'.repeat(72) }));
    await expectError(await tokenGrant({ grant_type: 'password', username: reg72.fields.username, password: 'p'.repeat(72) + 'q' }), 400, 'invalid_grant');
    expect((await tokenGrant({ grant_type: 'password', username: reg72.fields.username, password: 'p'.repeat(72) })).status).toBe(200);
  });

  test('failed password grants lock the account: 429 with Retry-After, audited', async () => {
    const reg = await register();
    for (let i = 0; i < 3; i++) {
      expect((await tokenGrant({ grant_type: 'password', username: reg.fields.username, password: 'wrong password!' })).status).toBe(400);
    }
    const locked = await tokenGrant({ grant_type: 'password', username: reg.fields.username, password: PASSWORD });
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(60);
    await expectError(locked, 429, 'too_many_requests');
    const audit = await srv.services.store.audit.recent({ action: 'login.lockout', userId: reg.user.id });
    expect(audit.length).toBeGreaterThanOrEqual(1);
  });
});

describe('revoke', () => {
  test('kills the refresh token and every access token issued from it, at once, with the cache warm; other sessions live on', async () => {
    expect(srv.services.tokenCache.enabled).toBe(true);
    const reg = await registerVerified();
    const refreshed = (await (await tokenGrant({ grant_type: 'refresh_token', refresh_token: reg.refreshToken })).json()) as { access_token: string };
    const other = (await (await tokenGrant({ grant_type: 'password', username: reg.fields.username, password: PASSWORD })).json()) as { access_token: string; refresh_token: string };
    // both served once, so each check below could come from the cache
    for (const t of [reg.access_token, refreshed.access_token]) expect((await sendEmailLink(t)).status).toBe(200);

    const r = await fetch(url('/revoke'), { method: 'POST', headers: bearer(refreshed.access_token) });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ success: true });

    await expectError(await sendEmailLink(reg.access_token), 401, 'unauthorized');
    await expectError(await sendEmailLink(refreshed.access_token), 401, 'unauthorized');
    const reuse = await tokenGrant({ grant_type: 'refresh_token', refresh_token: reg.refreshToken });
    await expectError(reuse, 400, 'invalid_grant');

    expect((await sendEmailLink(other.access_token)).status).toBe(200);
    expect((await tokenGrant({ grant_type: 'refresh_token', refresh_token: other.refresh_token })).status).toBe(200);
    const audit = await srv.services.store.audit.recent({ action: 'token.revoke', userId: reg.user.id });
    // the session row: access tokens have no rows of their own
    expect(audit[0]?.detail).toEqual({ revokedTokens: 1 });
  });

  test('a second revoke is 404 not_found', async () => {
    const reg = await register();
    expect((await fetch(url('/revoke'), { method: 'POST', headers: bearer(reg.access_token) })).status).toBe(200);
    await expectError(await fetch(url('/revoke'), { method: 'POST', headers: bearer(reg.access_token) }), 404, 'not_found');
  });

  test.each([
    ['no header', {}],
    ['a malformed token', { authorization: 'Bearer not.a.jwt' }],
    ['Basic', { authorization: basicAuth('a', 'b') }],
    ['a huge token', { authorization: `Bearer ${'a'.repeat(5000)}` }],
    ['a token signed with another key', { authorization: `Bearer ${jwt.sign({ jti: 'x' }, 'another-secret-another-secret-0123456789', { audience: 'oauth-service', issuer: 'polyauth', subject: '1', expiresIn: 60 })}` }],
  ])('%s is 401 with WWW-Authenticate: Bearer', async (_n, headers) => {
    const r = await fetch(url('/revoke'), { method: 'POST', headers: headers as Record<string, string> });
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    await expectError(r, 401, 'unauthorized');
  });

  test('an expired access token is 401', async () => {
    const reg = await register();
    // the same claims (live session) but an exp in the past
    const expired = jwt.sign({ ...(jwt.decode(reg.access_token) as jwt.JwtPayload), exp: 2000 }, TEST_JWT_SECRET);
    await expectError(await fetch(url('/revoke'), { method: 'POST', headers: bearer(expired) }), 401, 'unauthorized');
    await expectError(await sendEmailLink(expired), 401, 'unauthorized');
  });
});

describe('token scoping', () => {
  test('an oauth-service token is refused by mts-auth, and an mts-auth token by oauth-service', async () => {
    const reg = await register();
    const mtsClient = await srv.services.clients.create('oauth', 'mts');
    const mine = await fetch(`${srv.baseUrl}/user`, { headers: bearer(reg.access_token) });
    expect(mine.status).toBe(401);
    expect(((await mine.json()) as { error: string }).error).toBe('invalid_token');

    // the same person signs in through mts-auth with the same password
    const t = await fetch(`${srv.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basicAuth(mtsClient.client.clientId, mtsClient.secret!) },
      body: form({ grant_type: 'password', username: reg.fields.email, password: PASSWORD }),
    });
    expect(t.status).toBe(200);
    const mts = ((await t.json()) as { access_token: string }).access_token;
    expect((await fetch(`${srv.baseUrl}/user`, { headers: bearer(mts) })).status).toBe(200);
    await expectError(await sendEmailLink(mts), 401, 'unauthorized');
    await expectError(await fetch(url('/revoke'), { method: 'POST', headers: bearer(mts) }), 401, 'unauthorized');
    await expectError(await tokenGrant({ grant_type: 'refresh_token', refresh_token: mts }), 400, 'invalid_grant');
  });
});

describe('reset_password', () => {
  test('mails a single-use link; confirm sets the password and revokes every token in every API', async () => {
    const reg = await register();
    const mtsClient = await srv.services.clients.create('oauth', 'mts');
    const mtsLogin = await fetch(`${srv.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basicAuth(mtsClient.client.clientId, mtsClient.secret!) },
      body: form({ grant_type: 'password', username: reg.fields.username, password: PASSWORD }),
    });
    const mts = ((await mtsLogin.json()) as { access_token: string }).access_token;

    const r = await post('/reset_password', { email: reg.fields.email.toUpperCase() });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ success: true });
    const mail = await smtp.next(reg.fields.email);
    expect(mail.raw).toMatch(/Subject: Reset your password/);
    const link = new URL(linkIn(mail));
    expect(`${link.origin}${link.pathname}${link.hash}`).toBe('https://app.example.com/reset#form');
    const token = link.searchParams.get('token')!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = await srv.db.knex('one_time_tokens').where({ user_id: reg.user.id, purpose: 'password_reset' });
    expect(stored).toHaveLength(1);
    expect(stored[0].token_hash).toBe(sha256(token));
    expect(new Date(stored[0].expires_at).getTime()).toBeGreaterThan(Date.now());

    // a bad new password does not burn the link
    await expectError(await post('/reset_password/confirm', { token, password: 'é'.repeat(37) }), 400, 'invalid_request');
    const ok = await post('/reset_password/confirm', { token, password: 'a new password' }, FORM);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ success: true });

    await expectError(await post('/reset_password/confirm', { token, password: 'another password' }), 400, 'invalid_grant');
    await expectError(await sendEmailLink(reg.access_token), 401, 'unauthorized');
    await expectError(await tokenGrant({ grant_type: 'refresh_token', refresh_token: reg.refreshToken }), 400, 'invalid_grant');
    expect((await fetch(`${srv.baseUrl}/user`, { headers: bearer(mts) })).status).toBe(401);
    await expectError(await tokenGrant({ grant_type: 'password', username: reg.fields.username, password: PASSWORD }), 400, 'invalid_grant');
    expect((await tokenGrant({ grant_type: 'password', username: reg.fields.username, password: 'a new password' })).status).toBe(200);
    const audit = await srv.services.store.audit.recent({ action: 'user.password_reset', userId: reg.user.id });
    // the oauth-service session and the mts-auth access token (oauth-service access tokens have no rows)
    expect(audit[0]?.detail).toEqual({ revokedTokens: 2 });
  });

  test('an unknown email gets the same answer and no token is stored (no enumeration)', async () => {
    const reg = await register();
    const before = Number((await srv.db.knex('one_time_tokens').count({ n: '*' }))[0]!.n);
    const unknown = await post('/reset_password', { email: uniqueEmail('ghost') });
    const known = await post('/reset_password', { email: reg.fields.email });
    expect(unknown.status).toBe(known.status);
    expect(await unknown.json()).toEqual(await known.json());
    await smtp.next(reg.fields.email);
    const after = Number((await srv.db.knex('one_time_tokens').count({ n: '*' }))[0]!.n);
    expect(after).toBe(before + 1);
  });

  test('throttled per email, known or not: 429 with Retry-After after MAIL_MAX_PER_HOUR', async () => {
    for (const email of [uniqueEmail('ghost'), (await register()).fields.email]) {
      for (let i = 0; i < 3; i++) expect((await post('/reset_password', { email }, FORM)).status).toBe(200);
      const r = await post('/reset_password', { email });
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      await expectError(r, 429, 'too_many_requests');
    }
  });

  test('an expired or made-up reset token is 400 invalid_grant', async () => {
    const reg = await register();
    expect((await post('/reset_password', { email: reg.fields.email })).status).toBe(200);
    const token = new URL(linkIn(await smtp.next(reg.fields.email))).searchParams.get('token')!;
    await srv.db.knex('one_time_tokens').where({ token_hash: sha256(token) }).update({ expires_at: new Date(Date.now() - 1000) });
    await expectError(await post('/reset_password/confirm', { token, password: 'a new password' }), 400, 'invalid_grant');
    await expectError(await post('/reset_password/confirm', { token: 'made-up', password: 'a new password' }), 400, 'invalid_grant');
    expect((await tokenGrant({ grant_type: 'password', username: reg.fields.username, password: PASSWORD })).status).toBe(200);
  });

  test('bad input is 400 invalid_request', async () => {
    await expectError(await post('/reset_password', {}), 400, 'invalid_request');
    await expectError(await post('/reset_password', { email: 'nope' }), 400, 'invalid_request');
    await expectError(await post('/reset_password', { email: ['a@b.co'] }), 400, 'invalid_request');
    await expectError(await post('/reset_password/confirm', { token: 'x' }), 400, 'invalid_request');
  });
});

describe('email verification', () => {
  async function mailedToken(reg: Awaited<ReturnType<typeof register>>) {
    const r = await sendEmailLink(reg.access_token);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ success: true });
    const link = linkIn(await smtp.next(reg.fields.email));
    expect(link).toMatch(new RegExp(`^${srv.services.config.publicUrl}/api/oauth/valid_email/[A-Za-z0-9_-]{43}$`));
    return link.slice(link.lastIndexOf('/') + 1);
  }

  test('HEAD checks without consuming; GET verifies and answers 301; the link works once', async () => {
    const reg = await register();
    const token = await mailedToken(reg);
    const head = await fetch(url(`/valid_email/${token}`), { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect((await fetch(url(`/valid_email/${token}`), { method: 'HEAD' })).status).toBe(200);

    const r = await fetch(url(`/valid_email/${token}?utm_source=mail`), { redirect: 'manual' });
    expect(r.status).toBe(301);
    expect(r.headers.get('location')).toBe(REDIRECT);
    const user = await srv.services.store.users.byId(reg.user.id);
    expect(user?.emailVerifiedAt).toBeInstanceOf(Date);

    await expectError(await fetch(url(`/valid_email/${token}`), { redirect: 'manual' }), 404, 'not_found');
    expect((await fetch(url(`/valid_email/${token}`), { method: 'HEAD' })).status).toBe(404);
    const audit = await srv.services.store.audit.recent({ action: 'email.verified', userId: reg.user.id });
    expect(audit).toHaveLength(1);

    // verified: 200 and no new link
    const count = await srv.db.knex('one_time_tokens').where({ user_id: reg.user.id });
    expect((await sendEmailLink(reg.access_token)).status).toBe(200);
    expect(await srv.db.knex('one_time_tokens').where({ user_id: reg.user.id })).toHaveLength(count.length);
  });

  test('a link fetched twice at once acts once: one 301, one 404', async () => {
    const reg = await register();
    const token = await mailedToken(reg);
    const results = await Promise.all([0, 1].map(() => fetch(url(`/valid_email/${token}`), { redirect: 'manual' })));
    expect(results.map((r) => r.status).sort()).toEqual([301, 404]);
  });

  test('a JSON client gets 200 {success: true}', async () => {
    const reg = await register();
    const token = await mailedToken(reg);
    const r = await fetch(url(`/valid_email/${token}`), { headers: { accept: 'application/json' } });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ success: true });
  });

  test('unknown, expired or oversized tokens are 404 (400 when too long), never consumed by HEAD', async () => {
    const reg = await register();
    const token = await mailedToken(reg);
    await srv.db.knex('one_time_tokens').where({ token_hash: sha256(token) }).update({ expires_at: new Date(Date.now() - 1000) });
    await expectError(await fetch(url(`/valid_email/${token}`), { redirect: 'manual' }), 404, 'not_found');
    await expectError(await fetch(url('/valid_email/nope'), { redirect: 'manual' }), 404, 'not_found');
    expect((await fetch(url('/valid_email/nope'), { method: 'HEAD' })).status).toBe(404);
    await expectError(await fetch(url(`/valid_email/${'a'.repeat(600)}`)), 400, 'invalid_request');
    // a reset token is not a verification token
    expect((await post('/reset_password', { email: reg.fields.email })).status).toBe(200);
    const reset = new URL(linkIn(await smtp.next(reg.fields.email))).searchParams.get('token')!;
    await expectError(await fetch(url(`/valid_email/${reset}`), { redirect: 'manual' }), 404, 'not_found');
  });

  test('send_email_link needs a bearer token and is throttled per email', async () => {
    await expectError(await fetch(url('/send_email_link'), { method: 'POST' }), 401, 'unauthorized');
    const reg = await register();
    for (let i = 0; i < 3; i++) expect((await sendEmailLink(reg.access_token)).status).toBe(200);
    const r = await sendEmailLink(reg.access_token);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    await expectError(r, 429, 'too_many_requests');
    expect(smtp.to(reg.fields.email)).toHaveLength(3);
  });
});

describe('hostile input', () => {
  test('unknown paths and methods are 404 and 405 in the dialect', async () => {
    await expectError(await fetch(url('/nope')), 404, 'not_found');
    await expectError(await fetch(url('/token')), 405, 'method_not_allowed');
    await expectError(await fetch(url('/revoke'), { method: 'DELETE' }), 405, 'method_not_allowed');
  });

  test('odd input never gives a 500', async () => {
    const cases: Array<[string, RequestInit]> = [
      ['/valid_email/%E0%A4%A', {}],
      ['/register?username=%ZZ', {}],
      ['/token', { method: 'POST', headers: { 'content-type': FORM }, body: 'grant_type=password&username=%ZZ&password=x&client_id=x' }],
      ['/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded; charset=latin9' }, body: 'a=b' }],
      ['/token', { method: 'POST', headers: { 'content-type': JSON_TYPE }, body: '[]' }],
      ['/token', { method: 'POST', headers: { 'content-type': JSON_TYPE }, body: 'null' }],
      ['/register', { method: 'POST', headers: { 'content-type': JSON_TYPE }, body: '"string"' }],
      ['/register', { method: 'POST', headers: { 'content-type': JSON_TYPE }, body: JSON.stringify({ ...newUser(), accept_terms: 1e30 }) }],
      ['/reset_password', { method: 'POST', headers: { 'content-type': JSON_TYPE }, body: '{"email":{"$ne":1}}' }],
      ['/reset_password/confirm', { method: 'POST', headers: { 'content-type': FORM }, body: 'token[]=a&password=xxxxxxxxxx' }],
      ['/send_email_link', { method: 'POST', headers: { authorization: 'Bearer a.b.c' } }],
      ['/register', { method: 'POST', headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(newUser({ company: 'a\u0000b' })) }],
      ['/register', { method: 'POST', headers: { 'content-type': FORM }, body: form({ ...newUser(), accept_terms: '1', role: 'a\u0000b' } as Record<string, string>) }],
      ['/token', { method: 'POST', headers: { 'content-type': FORM }, body: 'grant_type=password&client_id=a%00b&username=x&password=y' }],
      ['/token', { method: 'POST', headers: { 'content-type': FORM }, body: `grant_type=password&client_id=${'x'}&username=a%00b&password=y` }],
      ['/token', { method: 'POST', headers: { 'content-type': FORM }, body: 'grant_type=refresh_token&client_id=x&refresh_token=a%00b' }],
      ['/reset_password', { method: 'POST', headers: { 'content-type': FORM }, body: 'email=a%00b@example.com' }],
      ['/reset_password/confirm', { method: 'POST', headers: { 'content-type': FORM }, body: 'token=a%00b&password=xxxxxxxxxx' }],
      ['/valid_email/a%00b', {}],
    ];
    for (const [p, init] of cases) {
      const r = await fetch(url(p), init);
      expect([p, r.status >= 400 && r.status < 500]).toEqual([p, true]);
      const body = (await r.json()) as { error: string };
      expect(typeof body.error).toBe('string');
    }
  });
});

describe('configuration', () => {
  let off: TestServer;
  beforeAll(async () => {
    off = await startServer({ REGISTRATION_ENABLED: 'false', MAIL_MAX_PER_HOUR_PER_IP: '2' });
  });
  afterAll(async () => {
    await off?.close();
  });

  test('REGISTRATION_ENABLED=false: the documented 500 registration_disabled', async () => {
    const r = await fetch(`${off.baseUrl}/api/oauth/register`, { method: 'POST', headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(newUser()) });
    await expectError(r, 500, 'registration_disabled');
  });

  test('mails are throttled per client address too', async () => {
    const send = () => fetch(`${off.baseUrl}/api/oauth/reset_password`, { method: 'POST', headers: { 'content-type': JSON_TYPE }, body: JSON.stringify({ email: uniqueEmail('ip') }) });
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(200);
    await expectError(await send(), 429, 'too_many_requests');
  });
});

describe('default mail transport (no SMTP_URL)', () => {
  async function sendToOutbox() {
    const dir = mkdtempSync(path.join(tmpdir(), 'polyauth-outbox-'));
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const mailer = new Mailer({
      smtpUrl: undefined,
      from: 'polyauth <no-reply@localhost>',
      outboxDir: path.join(dir, 'outbox'),
      log: pino({ level: 'trace' }, sink),
    });
    try {
      const link = 'http://127.0.0.1:3000/api/oauth/valid_email/abc-live-token';
      await mailer.send({ to: 'someone@example.com', subject: 'Confirm your email address', text: `open ${link}` });
      const files = readdirSync(path.join(dir, 'outbox'));
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(/\.eml$/);
      const eml = readFileSync(path.join(dir, 'outbox', files[0]!), 'utf8');
      expect(eml).toMatch(/^To: someone@example\.com$/m);
      expect(eml).toContain(link);
      const logged = lines.map((l) => JSON.parse(l) as { link?: string; file?: string; msg: string });
      expect(logged.some((l) => l.msg === 'mail written to the outbox' && l.file === path.join(dir, 'outbox', files[0]!))).toBe(true);
      return { link, logged, text: lines.join('') };
    } finally {
      mailer.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  test('writes the mail into the outbox folder; the log names the file but never the link (its token is live)', async () => {
    const { text } = await sendToOutbox();
    expect(text).not.toContain('abc-live-token');
  });
});
