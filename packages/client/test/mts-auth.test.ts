// The mts-auth client against a real polyauth server on an ephemeral port.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createMtsAuthClient, PolyauthError, type MtsAuthClient, type MtsAuthError } from '../src/index.ts';
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
async function failure(p: Promise<unknown>): Promise<PolyauthError<MtsAuthError>> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PolyauthError);
  return err as PolyauthError<MtsAuthError>;
}

describe('createMtsAuthClient', () => {
  test('register, login, then the bearer middleware authenticates GET /user', async () => {
    const c = newClient();
    const user = email();
    const id = await c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user, password: PASSWORD });
    expect(id).toMatch(/^[1-9][0-9]*$/);
    expect(c.accessToken).toBeUndefined();

    const tok = await c.login(user, PASSWORD);
    expect(tok.token_type).toBe('Bearer');
    expect(tok.expires_in).toBeGreaterThan(0);
    expect(c.accessToken).toBe(tok.access_token);
    const login = sent.at(-1)!;
    expect(login.url).toBe(`${srv.baseUrl}/oauth/token`);
    expect(login.authorization).toMatch(/^Basic /); // the client's credentials, not a bearer

    sent.length = 0;
    expect(await c.me()).toEqual({ Id: id });
    expect(sent).toEqual([{ method: 'GET', url: `${srv.baseUrl}/user`, authorization: `Bearer ${tok.access_token}` }]);

    // the typed openapi-fetch client carries the token too
    const { data, response } = await c.api.GET('/user/{id}', { params: { path: { id } } });
    expect(response.status).toBe(200);
    expect(data).toEqual({ FirstName: 'Ada', LastName: 'Lovelace', Email: user, ActiveDomains: false });
  });

  test('a base URL with a trailing slash works the same', async () => {
    const c = newClient({ baseUrl: `${srv.baseUrl}/` });
    const user = email();
    await c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user, password: PASSWORD });
    await c.login(user, PASSWORD);
    expect((await c.me()).Id).toMatch(/^[1-9]/);
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
    await c.login(user, PASSWORD);
    expect((await c.me()).Id).toMatch(/^[1-9]/);
    expect((await failure(newClient({ clientId, clientSecret: 'p@ss:w+rd ü%41 /' }).login(user, PASSWORD))).status).toBe(401);
  });

  test('errors are PolyauthError with the status and the dialect body', async () => {
    const c = newClient();
    const user = email();
    await c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user, password: PASSWORD });

    const taken = await failure(c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user.toUpperCase(), password: PASSWORD }));
    expect(taken.status).toBe(406);
    // the seed's bare "<error_message>"
    expect(taken.body).toEqual(expect.stringMatching(/already registered/));
    expect(taken.message).toBe(taken.body);
    expect(taken.name).toBe('PolyauthError');

    const wrong = await failure(c.login(user, 'not the password'));
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({ code: 400, error: 'invalid_grant' });
    expect(c.accessToken).toBeUndefined();

    const anonymous = await failure(c.me());
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ code: 401, error: 'invalid_token' });

    const badClient = await failure(newClient({ clientSecret: `${creds.clientSecret}x` }).login(user, PASSWORD));
    expect(badClient.status).toBe(401);
    expect(badClient.body).toMatchObject({ error: 'invalid_client' });
  });

  test('a lockout is a PolyauthError 429', async () => {
    const c = newClient();
    const user = email();
    await c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user, password: PASSWORD });
    for (let i = 0; i < 3; i++) expect((await failure(c.login(user, 'wrong password!'))).status).toBe(400);
    const locked = await failure(c.login(user, PASSWORD));
    expect(locked.status).toBe(429);
    expect(locked.body).toMatchObject({ code: 429, error: 'too_many_requests' });
  });

  test('logout forgets the token: no bearer is sent any more (the token itself stays valid until it expires)', async () => {
    const c = newClient();
    const user = email();
    await c.register({ firstName: 'Ada', lastName: 'Lovelace', email: user, password: PASSWORD });
    const { access_token } = await c.login(user, PASSWORD);
    await c.me();
    c.logout();
    expect(c.accessToken).toBeUndefined();
    sent.length = 0;
    expect((await failure(c.me())).status).toBe(401);
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
    await c1.login(u1, PASSWORD);
    await c2.login(u2, PASSWORD);
    expect(await c1.me()).toEqual({ Id: id1 });
    expect(await c2.me()).toEqual({ Id: id2 });
  });
});
