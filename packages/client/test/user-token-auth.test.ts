// The client against a real polyauth server on an ephemeral port.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { basicAuthorization, createUserTokenAuthClient, PolyauthError, UserTokenAuthError } from '../src/index.ts';
import { startServer, type TestServer } from '../../../apps/server/test/harness.ts';
import { uniqueEmail } from '../../../apps/server/test/helpers.ts';

let srv: TestServer;
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  srv = await startServer({ THROTTLE_IP_MAX_FAILURES: '100000' });
});
afterAll(async () => {
  await srv?.close();
});

async function newUser() {
  const email = uniqueEmail('client');
  const username = `c_${email.split('@')[0]!.replace(/\./g, '_')}`;
  await srv.services.accounts.register({ username, email, password: PASSWORD }, { api: 'test', ip: '127.0.0.1' });
  return { username, email };
}

async function rejection(p: Promise<unknown>): Promise<UserTokenAuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserTokenAuthError);
  expect(err).toBeInstanceOf(PolyauthError);
  expect(err).toMatchObject({ name: 'UserTokenAuthError', api: 'user-token-auth' });
  return err as UserTokenAuthError;
}

describe('createUserTokenAuthClient', () => {
  test('signIn (Basic), bump and signOut (Bearer middleware)', async () => {
    const u = await newUser();
    const client = createUserTokenAuthClient({ baseUrl: srv.baseUrl });
    expect(client.token).toBeUndefined();

    const year = new Date().getUTCFullYear() + 1;
    const issued = await client.signIn({ username: u.username, password: PASSWORD }, { note: 'CI', expirationTime: `${year}-01-01T00:00:00Z` });
    expect(issued).toMatchObject({ note: 'CI', enabled: true, version: 0, expirationTime: `${year}-01-01T00:00:00.000Z` });
    expect(client.token).toBe(issued.token);

    const bumped = await client.bump();
    expect(Date.parse(bumped.lastLoginTime)).not.toBeNaN();

    await client.signOut();
    expect(client.token).toBeUndefined();
    await client.signOut(); // signed out already: nothing sent

    // The old token, passed explicitly, is refused by the server.
    const stale = createUserTokenAuthClient({ baseUrl: srv.baseUrl, token: issued.token });
    const err = await rejection(stale.bump());
    expect(err.status).toBe(401);
    expect(err.body.error).toBe('invalid_token');
    // signOut with it: the server refuses, the client forgets it all the same
    expect((await rejection(stale.signOut())).status).toBe(401);
    expect(stale.token).toBeUndefined();
  });

  test('signs in with the email too, and without a body', async () => {
    const u = await newUser();
    const client = createUserTokenAuthClient({ baseUrl: srv.baseUrl });
    const issued = await client.signIn({ username: u.email, password: PASSWORD });
    expect(issued.note).toBeUndefined();
    expect(issued.expirationTime).toBeUndefined();
    expect((await client.bump()).lastLoginTime).toEqual(expect.any(String));
  });

  test('bad credentials and a past expirationTime are PolyauthErrors with the dialect body', async () => {
    const u = await newUser();
    const bad = createUserTokenAuthClient({ baseUrl: srv.baseUrl });
    const e401 = await rejection(bad.signIn({ username: u.username, password: 'wrong password!' }));
    expect(e401.status).toBe(401);
    expect(e401.body).toEqual({ error: 'invalid_credentials', message: expect.any(String) });
    expect(bad.token).toBeUndefined();

    const good = createUserTokenAuthClient({ baseUrl: srv.baseUrl });
    const e400 = await rejection(good.signIn({ username: u.username, password: PASSWORD }, { expirationTime: '2019-07-29T23:59:59-05:00' }));
    expect(e400.status).toBe(400);
    expect(e400.body.error).toBe('bad_request');
    expect(e400.message).toMatch(/future/);
  });

  test('without a token a call gets the 401', async () => {
    const client = createUserTokenAuthClient({ baseUrl: srv.baseUrl });
    const err = await rejection(client.bump());
    expect(err.status).toBe(401);
  });

  test('the raw api keeps the middlewares; an explicit Authorization header wins', async () => {
    const u = await newUser();
    const client = createUserTokenAuthClient({ baseUrl: srv.baseUrl });
    const { data, response } = await client.api.POST('/login', { headers: { authorization: basicAuthorization({ username: u.username, password: PASSWORD }) } });
    expect(response.status).toBe(200);
    expect(response.headers.get('vary')).toBe('Accept');
    const other = await client.api.POST('/bump', { headers: { authorization: `Bearer ${data!.token}` } });
    expect(other.response.status).toBe(200);
    const explicit = await client.api.POST('/login', { headers: { authorization: basicAuthorization({ username: u.email, password: 'nope nope' }) } });
    expect(explicit.response.status).toBe(401);
  });

  test('basicAuthorization encodes UTF-8 and refuses a colon in the user-id', () => {
    expect(basicAuthorization({ username: 'zoë', password: 'p:w' })).toBe(`Basic ${Buffer.from('zoë:p:w', 'utf8').toString('base64')}`);
    expect(() => basicAuthorization({ username: 'a:b', password: 'x' })).toThrow(/colon/);
  });
});
