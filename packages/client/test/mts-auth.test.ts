// The mts-auth client against a real polyauth server on an ephemeral port.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createMtsAuthClient, PolyauthError, MtsAuthError, type MtsAuthClient } from '../src/index.ts';
import { startServer, type TestServer } from '../../../apps/server/test/harness.ts';

const PASSWORD = 'correct horse battery';
let srv: TestServer;
let creds: { clientId: string; clientSecret: string };
/** Every request the clients sent: method, URL and Authorization header. */
const sent: Array<{ method: string; url: string; authorization: string | null }> = [];
const recordingFetch: typeof fetch = async (input, init) => {
  const req = new Request(input, init);
  sent.push({ method: req.method, url: req.url, authorization: req.headers.get('authorization') });
  return fetch(req);
};

beforeAll(async () => {
  srv = await startServer({ THROTTLE_ACCOUNT_MAX_FAILURES: '3' });
  const created = await srv.services.clients.create('oauth', 'client test');
  creds = { clientId: created.client.clientId, clientSecret: created.secret! };
});
afterAll(async () => {
  await srv?.close();
});

let n = 0;
const email = () => `client.${process.pid}.${++n}.${Math.random().toString(36).slice(2, 8)}@example.com`;
const newClient = (extra: Partial<Parameters<typeof createMtsAuthClient>[0]> = {}): MtsAuthClient =>
  createMtsAuthClient({ baseUrl: srv.baseUrl, ...creds, fetch: recordingFetch, ...extra });

/** The PolyauthError a call rejects with. */
async function failure(p: Promise<unknown>): Promise<MtsAuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(MtsAuthError);
  expect(err).toBeInstanceOf(PolyauthError);
  expect(err).toMatchObject({ api: 'mts-auth' });
  return err as MtsAuthError;
}

describe('createMtsAuthClient', () => {
  test('register, signIn, then the bearer middleware authenticates currentUser (GET /user, GET /user/{id})', async () => {
    const c = newClient();
    const user = email();
    const id = await c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user, password: PASSWORD });
    expect(id).toMatch(/^[1-9][0-9]*$/);
    expect(c.accessToken).toBeUndefined();

    const tok = await c.signIn({ username: user, password: PASSWORD });
    expect(tok.token_type).toBe('Bearer');
    expect(tok.expires_in).toBeGreaterThan(0);
    expect(c.accessToken).toBe(tok.access_token);
    const login = sent.at(-1)!;
    expect(login.url).toBe(`${srv.baseUrl}/oauth/token`);
    expect(login.authorization).toMatch(/^Basic /); // the client's credentials, not a bearer

    sent.length = 0;
    expect(await c.currentUser()).toEqual({ FirstName: 'Ada', LastName: 'Lovelace', Email: user, ActiveDomains: false });
    expect(sent).toEqual([
      { method: 'GET', url: `${srv.baseUrl}/user`, authorization: `Bearer ${tok.access_token}` },
      { method: 'GET', url: `${srv.baseUrl}/user/${id}`, authorization: `Bearer ${tok.access_token}` },
    ]);

    // the typed openapi-fetch client carries the token too
    const { data, response } = await c.api.GET('/user/{id}', { params: { path: { id } } });
    expect(response.status).toBe(200);
    expect(data).toEqual({ FirstName: 'Ada', LastName: 'Lovelace', Email: user, ActiveDomains: false });
  });

  test('a base URL with a trailing slash works the same', async () => {
    const c = newClient({ baseUrl: `${srv.baseUrl}/` });
    const user = email();
    await c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user, password: PASSWORD });
    await c.signIn({ username: user, password: PASSWORD });
    expect((await c.currentUser()).Email).toBe(user);
  });

  test('client ids and secrets with reserved characters are form-encoded inside Basic (RFC 6749 §2.3.1)', async () => {
    const clientId = `legacy client:${n}+ü%`;
    const clientSecret = 'p@ss:w+rd ü%41 /=';
    await srv.services.store.clients.create({
      kind: 'oauth',
      clientId,
      secretHash: createHash('sha256').update(clientSecret).digest('hex'),
      name: 'reserved characters',
    });
    const c = newClient({ clientId, clientSecret });
    const user = email();
    await c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user, password: PASSWORD });
    await c.signIn({ username: user, password: PASSWORD });
    expect((await c.currentUser()).Email).toBe(user);
    expect((await failure(newClient({ clientId, clientSecret: 'p@ss:w+rd ü%41 /' }).signIn({ username: user, password: PASSWORD }))).status).toBe(401);
  });

  test('errors are PolyauthError with the status and the dialect body', async () => {
    const c = newClient();
    const user = email();
    await c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user, password: PASSWORD });

    const taken = await failure(c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user.toUpperCase(), password: PASSWORD }));
    expect(taken.status).toBe(406);
    expect(taken.body).toEqual(expect.stringMatching(/already registered/)); // the document's bare "<error_message>"
    expect(taken.message).toBe(taken.body);
    expect(taken.name).toBe('MtsAuthError');

    const wrong = await failure(c.signIn({ username: user, password: 'not the password' }));
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({ code: 400, error: 'invalid_grant' });
    expect(c.accessToken).toBeUndefined();

    const anonymous = await failure(c.currentUser());
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ code: 401, error: 'invalid_token' });

    const badClient = await failure(newClient({ clientSecret: `${creds.clientSecret}x` }).signIn({ username: user, password: PASSWORD }));
    expect(badClient.status).toBe(401);
    expect(badClient.body).toMatchObject({ error: 'invalid_client' });
  });

  test('a lockout is a PolyauthError 429', async () => {
    const c = newClient();
    const user = email();
    await c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user, password: PASSWORD });
    for (let i = 0; i < 3; i++) expect((await failure(c.signIn({ username: user, password: 'wrong password!' }))).status).toBe(400);
    const locked = await failure(c.signIn({ username: user, password: PASSWORD }));
    expect(locked.status).toBe(429);
    expect(locked.body).toMatchObject({ code: 429, error: 'too_many_requests' });
  });

  test('signOut forgets the token: no bearer is sent any more (the token itself stays valid until it expires)', async () => {
    const c = newClient();
    const user = email();
    await c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user, password: PASSWORD });
    const { access_token } = await c.signIn({ username: user, password: PASSWORD });
    await c.currentUser();
    await c.signOut();
    expect(c.accessToken).toBeUndefined();
    sent.length = 0;
    expect((await failure(c.currentUser())).status).toBe(401);
    expect(sent.map((s) => s.authorization)).toEqual([null]);
    // mts-auth has no server-side logout: as documented, the token still works when sent
    const direct = await fetch(`${srv.baseUrl}/user`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(direct.status).toBe(200);
  });

  test('two clients keep their own tokens', async () => {
    const [c1, c2] = [newClient(), newClient()];
    const [u1, u2] = [email(), email()];
    const id1 = await c1.register({ firstName: 'A', lastName: 'One', email: u1, password: PASSWORD });
    const id2 = await c2.register({ firstName: 'B', lastName: 'Two', email: u2, password: PASSWORD });
    await c1.signIn({ username: u1, password: PASSWORD });
    await c2.signIn({ username: u2, password: PASSWORD });
    expect(id1).not.toBe(id2);
    expect(await c1.currentUser()).toMatchObject({ LastName: 'One', Email: u1 });
    expect(await c2.currentUser()).toMatchObject({ LastName: 'Two', Email: u2 });
  });
});
