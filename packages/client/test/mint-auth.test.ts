// The mint-auth client against a real server on an ephemeral port.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startServer, type TestServer } from '../../../apps/server/test/harness.ts';
import { applicationAuthorization, createMintAuthClient, PolyauthError, MintAuthError } from '../src/index.ts';

let srv: TestServer;
let application: { id: string; secret: string };
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  srv = await startServer();
  const created = await srv.services.clients.create('application', 'client test app');
  application = { id: created.client.clientId, secret: created.secret! };
});
afterAll(async () => {
  await srv?.close();
});

let n = 0;
const uniqueUsername = () => `client.${process.pid}.${++n}.${Math.random().toString(36).slice(2, 8)}@example.com`;

/** Runs `fn` and returns the PolyauthError it must throw. */
async function rejection(fn: () => Promise<unknown>): Promise<MintAuthError> {
  const err = await fn().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MintAuthError);
  expect(err).toBeInstanceOf(PolyauthError);
  expect(err).toMatchObject({ name: 'MintAuthError', api: 'mint-auth' });
  return err as MintAuthError;
}

function signupOf(username: string, password = PASSWORD) {
  return { firstname: 'Kate', lastname: 'Smith', username, password };
}

describe('createMintAuthClient', () => {
  test('register sends Application auth, keeps the token and currentUser sends it as UserToken', async () => {
    const client = createMintAuthClient({ baseUrl: srv.baseUrl, application });
    const token = await client.register(signupOf(uniqueUsername()));
    expect(token).toMatchObject({ token_type: 'user', expires_in: 3600 });
    expect(client.userToken).toBe(token.access_token);
    expect(await client.currentUser()).toEqual({ user: token.user, token_type: 'user' });
  });

  test('signIn needs no application, and a fresh client can sign in with the same password', async () => {
    const username = uniqueUsername();
    const registered = await createMintAuthClient({ baseUrl: srv.baseUrl, application }).register(signupOf(username));
    const client = createMintAuthClient({ baseUrl: `${srv.baseUrl}/` });
    const token = await client.signIn({ username: username, password: PASSWORD });
    expect(token.user).toBe(registered.user);
    expect(token.access_token).not.toBe(registered.access_token);
    expect((await client.currentUser()).user).toBe(registered.user);
  });

  test('bad credentials throw PolyauthError with the 404 and its message', async () => {
    const client = createMintAuthClient({ baseUrl: srv.baseUrl });
    const err = await rejection(() => client.signIn({ username: uniqueUsername(), password: 'not the password' }));
    expect(err.status).toBe(404);
    expect(err.body).toEqual({ response: 'The password does not match, suggest reset?' });
    expect(err.message).toBe('The password does not match, suggest reset?');
    expect(client.userToken).toBeUndefined();
  });

  test('register without an application is the 401 naming the scheme', async () => {
    const client = createMintAuthClient({ baseUrl: srv.baseUrl });
    const err = await rejection(() => client.register(signupOf(uniqueUsername())));
    expect(err.status).toBe(401);
    expect(err.body.response).toContain('Authorization: Application <application id>:<application secret>');
  });

  test('register with a wrong secret is 401; a taken username 403; a short password 400', async () => {
    const wrong = createMintAuthClient({ baseUrl: srv.baseUrl, application: { id: application.id, secret: 'wrong' } });
    expect((await rejection(() => wrong.register(signupOf(uniqueUsername())))).status).toBe(401);

    const client = createMintAuthClient({ baseUrl: srv.baseUrl, application });
    const username = uniqueUsername();
    await client.register(signupOf(username));
    const taken = await rejection(() => client.register(signupOf(username)));
    expect(taken.status).toBe(403);
    expect(taken.body.response).toBe('The username has already existed');

    const short = await rejection(() => client.register(signupOf(uniqueUsername(), 'xyz')));
    expect(short.status).toBe(400);
    expect(short.body.response).toMatch(/password.*8 characters/);
  });

  test('currentUser without a token is 401; after signOut too; with a revoked token 403', async () => {
    const client = createMintAuthClient({ baseUrl: srv.baseUrl, application });
    expect((await rejection(() => client.currentUser())).status).toBe(401);
    const token = await client.register(signupOf(uniqueUsername()));
    await client.signOut();
    expect(client.userToken).toBeUndefined();
    expect((await rejection(() => client.currentUser())).status).toBe(401);

    const again = createMintAuthClient({ baseUrl: srv.baseUrl, userToken: token.access_token });
    expect((await again.currentUser()).user).toBe(token.user);
    await srv.services.store.tokens.revokeAllForUser(String(token.user));
    const revoked = await rejection(() => again.currentUser());
    expect(revoked.status).toBe(403);
  });

  test('the middleware adds Application auth to a signup grant posted to /auth/authorize through the typed api', async () => {
    const client = createMintAuthClient({ baseUrl: srv.baseUrl, application });
    const { data, response } = await client.api.POST('/auth/authorize', { body: { grant_type: 'signup', ...signupOf(uniqueUsername()) } });
    expect(response.status).toBe(200);
    expect(data?.token_type).toBe('user');

    const anonymous = createMintAuthClient({ baseUrl: srv.baseUrl });
    const denied = await anonymous.api.POST('/auth/authorize', { body: { grant_type: 'signup', ...signupOf(uniqueUsername()) } });
    expect(denied.response.status).toBe(401);
    expect(denied.error?.response).toContain('Application');
  });

  test('the middleware sends nothing on the password grant and keeps a header the caller set', async () => {
    const seen: Array<string | null> = [];
    const spy: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      seen.push(request.headers.get('authorization'));
      return fetch(request);
    };
    const username = uniqueUsername();
    const client = createMintAuthClient({ baseUrl: srv.baseUrl, application, fetch: spy });
    await client.register(signupOf(username));
    await client.signIn({ username: username, password: PASSWORD });
    await client.currentUser();
    const own = await client.api.GET('/auth/token_info', { headers: { authorization: 'UserToken caller-chosen-token' } });
    expect(own.response.status).toBe(403);
    expect(seen[0]).toBe(applicationAuthorization(application.id, application.secret));
    expect(seen[1]).toBeNull();
    expect(seen[2]).toBe(`UserToken ${client.userToken}`);
    expect(seen[3]).toBe('UserToken caller-chosen-token');
  });
});
