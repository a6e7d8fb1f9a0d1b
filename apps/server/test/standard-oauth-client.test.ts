// A standard OAuth 2 client library (oauth4webapi, unmodified, default
// settings but for plain http on the loopback test server) against both OAuth
// APIs: RFC 8414 discovery, the password and refresh grants, a wrong password
// (400 invalid_grant), a wrong client secret (401 invalid_client with a
// challenge), and oauth-service's RFC 7662 introspection.
//
// mts-auth has only the password grant (its seed's one grant type): the
// library's refresh grant gets unsupported_grant_type there, as it should.
// oauth-service's seed has only the refresh grant; its password grant is a
// documented extension, which is what the library uses to get a refresh token.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import jwt from 'jsonwebtoken';
import * as oauth from 'oauth4webapi';
import { startServer, TEST_JWT_SECRET, type TestServer } from './harness.ts';
import { basicAuth, form, FORM, uniqueEmail } from './helpers.ts';

const PASSWORD = 'correct horse battery';
const http = { [oauth.allowInsecureRequests]: true } as const;

let srv: TestServer;
/** A confidential client (has a secret) and a public one (client_id only). */
let confidential: { id: string; secret: string };
let publicId: string;

beforeAll(async () => {
  srv = await startServer();
  // The issuer is PUBLIC_URL; the test server listens on an ephemeral port,
  // known only now, and the metadata reads the setting per request.
  srv.services.config.publicUrl = srv.baseUrl;
  const c = await srv.services.clients.create('oauth', 'standard client');
  confidential = { id: c.client.clientId, secret: c.secret! };
  publicId = (await srv.services.clients.create('oauth', 'public client', { withSecret: false })).client.clientId;
});
afterAll(async () => {
  await srv?.close();
});

async function registerMts(email = uniqueEmail('lib')) {
  const r = await fetch(`${srv.baseUrl}/user`, {
    method: 'POST',
    headers: { 'content-type': FORM },
    body: form({ firstName: 'Ada', lastName: 'Lovelace', email, password: PASSWORD }),
  });
  expect(r.status).toBe(201);
  return { id: (await r.json()) as string, email };
}

async function discover(issuer: string): Promise<oauth.AuthorizationServer> {
  const url = new URL(issuer);
  return oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, { algorithm: 'oauth2', ...http }));
}

/** The error a library call rejects with. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
}

async function passwordGrant(as: oauth.AuthorizationServer, clientId: string, auth: oauth.ClientAuth, username: string, password: string) {
  const params = new URLSearchParams({ username, password });
  const response = await oauth.genericTokenEndpointRequest(as, { client_id: clientId }, auth, 'password', params, http);
  return oauth.processGenericTokenEndpointResponse(as, { client_id: clientId }, response);
}

async function expectInvalidClient(p: Promise<unknown>) {
  const err = await rejection(p);
  expect(err).toBeInstanceOf(oauth.WWWAuthenticateChallengeError);
  const challenge = err as oauth.WWWAuthenticateChallengeError;
  expect(challenge.status).toBe(401);
  expect(challenge.cause[0]?.scheme).toBe('basic');
  expect(((await challenge.response.json()) as { error: string }).error).toBe('invalid_client');
}

async function expectBodyError(p: Promise<unknown>, status: number, error: string) {
  const err = await rejection(p);
  expect(err).toBeInstanceOf(oauth.ResponseBodyError);
  expect((err as oauth.ResponseBodyError).status).toBe(status);
  expect((err as oauth.ResponseBodyError).error).toBe(error);
}

describe('mts-auth (issuer at the server root)', () => {
  let as: oauth.AuthorizationServer;
  beforeAll(async () => {
    as = await discover(srv.baseUrl);
  });

  test('discovery lists its real endpoint, grant and client authentication', () => {
    expect(as).toEqual({
      issuer: srv.baseUrl,
      token_endpoint: `${srv.baseUrl}/oauth/token`,
      grant_types_supported: ['password'],
      response_types_supported: [],
      response_modes_supported: [],
      token_endpoint_auth_methods_supported: ['client_secret_basic'],
      service_documentation: `${srv.baseUrl}/docs/mts-auth.html`,
    });
  });

  test('password grant with client_secret_basic; the token works on GET /user', async () => {
    const { id, email } = await registerMts();
    const tokens = await passwordGrant(as, confidential.id, oauth.ClientSecretBasic(confidential.secret), email, PASSWORD);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.expires_in).toBe(3600);
    const me = await oauth.protectedResourceRequest(tokens.access_token, 'GET', new URL(`${srv.baseUrl}/user`), undefined, undefined, http);
    expect(await me.json()).toEqual({ Id: id });
  });

  test('a wrong password is 400 invalid_grant; a wrong secret 401 invalid_client with a Basic challenge', async () => {
    const { email } = await registerMts();
    await expectBodyError(passwordGrant(as, confidential.id, oauth.ClientSecretBasic(confidential.secret), email, 'not the password'), 400, 'invalid_grant');
    await expectInvalidClient(passwordGrant(as, confidential.id, oauth.ClientSecretBasic(`${confidential.secret}x`), email, PASSWORD));
  });

  test('the refresh grant, which mts-auth does not have, is 400 unsupported_grant_type', async () => {
    await expectBodyError(
      oauth.refreshTokenGrantRequest(as, { client_id: confidential.id }, oauth.ClientSecretBasic(confidential.secret), 'any', http).then((r) =>
        oauth.processRefreshTokenResponse(as, { client_id: confidential.id }, r),
      ),
      400,
      'unsupported_grant_type',
    );
  });
});

describe('oauth-service (issuer /api/oauth)', () => {
  let as: oauth.AuthorizationServer;
  let user: { username: string; password: string };
  const methods: Array<[string, () => { clientId: string; auth: oauth.ClientAuth }]> = [
    ['client_secret_basic', () => ({ clientId: confidential.id, auth: oauth.ClientSecretBasic(confidential.secret) })],
    ['client_secret_post', () => ({ clientId: confidential.id, auth: oauth.ClientSecretPost(confidential.secret) })],
    ['none (a public client)', () => ({ clientId: publicId, auth: oauth.None() })],
  ];

  beforeAll(async () => {
    as = await discover(`${srv.baseUrl}/api/oauth`);
    const { email } = await registerMts();
    user = { username: email, password: PASSWORD };
  });

  test('discovery (RFC 8414 §3.1 location) lists the real endpoints, grants and methods; the appended location serves the same', async () => {
    const issuer = `${srv.baseUrl}/api/oauth`;
    expect(as).toEqual({
      issuer,
      token_endpoint: `${issuer}/token`,
      introspection_endpoint: `${issuer}/introspect`,
      grant_types_supported: ['refresh_token', 'password'],
      response_types_supported: [],
      response_modes_supported: [],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      service_documentation: `${srv.baseUrl}/docs/oauth-service.html`,
    });
    const appended = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
    expect(appended.status).toBe(200);
    expect(await appended.json()).toEqual(as);
  });

  test.each(methods)('password grant, then refresh grant, with %s', async (_name, pick) => {
    const { clientId, auth } = pick();
    const client = { client_id: clientId };
    // a public client may use the password grant only when it has no secret: the public one here
    const first = await passwordGrant(as, clientId, auth, user.username, user.password);
    expect(first.token_type).toBe('bearer');
    expect(first.expires_in).toBe(3600);
    expect(first.refresh_token).toEqual(expect.any(String));
    const refreshed = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, first.refresh_token!, http));
    expect(refreshed.access_token).not.toBe(first.access_token);
    expect(refreshed.refresh_token).toBe(first.refresh_token); // not rotated, as the seed documents
    expect(refreshed.expires_in).toBeGreaterThan(3590);
  });

  test('a wrong password is 400 invalid_grant', async () => {
    for (const [, pick] of methods) {
      const { clientId, auth } = pick();
      await expectBodyError(passwordGrant(as, clientId, auth, user.username, 'not the password'), 400, 'invalid_grant');
    }
  });

  test('a wrong secret is 401 invalid_client with a Basic challenge, in the header or in the body, for either grant', async () => {
    const client = { client_id: confidential.id };
    const first = await passwordGrant(as, confidential.id, oauth.ClientSecretBasic(confidential.secret), user.username, user.password);
    for (const auth of [oauth.ClientSecretBasic(`${confidential.secret}x`), oauth.ClientSecretPost('wrong')]) {
      await expectInvalidClient(passwordGrant(as, confidential.id, auth, user.username, user.password));
      await expectInvalidClient(oauth.refreshTokenGrantRequest(as, client, auth, first.refresh_token!, http).then((r) => oauth.processRefreshTokenResponse(as, client, r)));
    }
    // a client that has a secret must use it for the password grant
    await expectInvalidClient(passwordGrant(as, confidential.id, oauth.None(), user.username, user.password));
    // the seed's refresh grant stays open to its public client_id alone
    const viaId = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), first.refresh_token!, http);
    expect((await oauth.processRefreshTokenResponse(as, client, viaId)).refresh_token).toBe(first.refresh_token);
  });

  test('introspection: active for live tokens, false once expired or revoked, for anything unknown, and for another API’s token', async () => {
    const client = { client_id: confidential.id };
    const auth = oauth.ClientSecretBasic(confidential.secret);
    const introspect = async (token: string, hint?: string) =>
      oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, token, { ...http, ...(hint ? { additionalParameters: { token_type_hint: hint } } : {}) }));
    const reg = await fetch(`${srv.baseUrl}/api/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: `lib_${Date.now()}`, email: uniqueEmail('intro'), password: PASSWORD, accept_terms: 1 }),
    });
    const { user: u, access_token, refreshToken } = (await reg.json()) as { user: { id: string; username: string }; access_token: string; refreshToken: string };

    // a burst, all at once: the access and refresh tokens, with and without hints
    const live = await Promise.all([introspect(access_token), introspect(refreshToken), introspect(access_token, 'refresh_token'), introspect(refreshToken, 'access_token')]);
    for (const r of [live[0], live[2]]) {
      expect(r).toEqual({ active: true, token_type: 'Bearer', sub: u.id, username: u.username, aud: 'oauth-service', exp: expect.any(Number) });
    }
    for (const r of [live[1], live[3]]) expect(r).toEqual({ active: true, token_type: 'refresh_token', sub: u.id, username: u.username, aud: 'oauth-service' });

    const mtsUser = await registerMts();
    const mts = await passwordGrant(await discover(srv.baseUrl), confidential.id, oauth.ClientSecretBasic(confidential.secret), mtsUser.email, PASSWORD);
    for (const dead of ['nope', 'A'.repeat(43), mts.access_token, `${access_token.slice(0, -2)}AA`]) expect(await introspect(dead)).toEqual({ active: false });
    // expired: the same claims (the session still live), exp in the past, signed with the server's key
    const expired = jwt.sign({ ...(jwt.decode(access_token) as jwt.JwtPayload), exp: Math.floor(Date.now() / 1000) - 1 }, TEST_JWT_SECRET);
    expect(await introspect(expired)).toEqual({ active: false });
    expect(await introspect(access_token)).toMatchObject({ active: true });

    const revoke = await fetch(`${srv.baseUrl}/api/oauth/revoke`, { method: 'POST', headers: { authorization: `Bearer ${access_token}` } });
    expect(revoke.status).toBe(200);
    expect(await Promise.all([introspect(access_token), introspect(refreshToken)])).toEqual([{ active: false }, { active: false }]);
  });

  test('introspection needs a client secret: none, or a wrong one, is 401 invalid_client', async () => {
    for (const [clientId, auth] of [
      [publicId, oauth.None()],
      [confidential.id, oauth.None()],
      [confidential.id, oauth.ClientSecretPost('wrong')],
    ] as const) {
      const client = { client_id: clientId };
      await expectInvalidClient(oauth.introspectionRequest(as, client, auth, 'x', http).then((r) => oauth.processIntrospectionResponse(as, client, r)));
    }
    // no client named at all: the same 401, with its challenge
    const bare = await fetch(`${srv.baseUrl}/api/oauth/introspect`, { method: 'POST', headers: { 'content-type': FORM }, body: form({ token: 'x' }) });
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toMatch(/^Basic /);
    expect(((await bare.json()) as { error: string }).error).toBe('invalid_client');
  });
});

describe('oauth-service token endpoint, by hand', () => {
  const token = (body: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${srv.baseUrl}/api/oauth/token`, { method: 'POST', headers: { 'content-type': FORM, ...headers }, body: form(body) });

  test('two client authentication methods in one request are 400 invalid_request', async () => {
    const basic = basicAuth(confidential.id, confidential.secret);
    const both = await token({ grant_type: 'refresh_token', refresh_token: 'x', client_id: confidential.id, client_secret: confidential.secret }, { authorization: basic });
    expect(both.status).toBe(400);
    expect(((await both.json()) as { error: string }).error).toBe('invalid_request');
    const otherId = await token({ grant_type: 'refresh_token', refresh_token: 'x', client_id: publicId }, { authorization: basic });
    expect(otherId.status).toBe(400);
    expect(((await otherId.json()) as { error: string }).error).toBe('invalid_request');
  });

  test('grant_type defaults to refresh_token; expires_in is given beside expire_at', async () => {
    const reg = await fetch(`${srv.baseUrl}/api/oauth/register?${new URLSearchParams({ username: `dflt_${Date.now()}`, email: uniqueEmail('dflt'), password: PASSWORD, accept_terms: '1' })}`);
    const { refreshToken } = (await reg.json()) as { refreshToken: string };
    const r = await token({ client_id: publicId, refresh_token: refreshToken });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { expire_at: string; expires_in: number; refresh_token: string };
    expect(body.refresh_token).toBe(refreshToken);
    expect(body.expires_in).toBe(3600);
    expect(Math.abs(Date.parse(body.expire_at) - Date.now() - 3600_000)).toBeLessThan(5000);
  });
});
