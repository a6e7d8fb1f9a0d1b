import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createAuthV3Client, PolyauthError, AuthV3Error, NotSignedInError } from '../src/index.ts';
// The client never imports the server; its tests start one to talk to over real HTTP.
import { startServer, type TestServer } from '../../../apps/server/test/harness.ts';
import { newTotpSecret, totpCode } from '../../../apps/server/src/identity/totp.ts';

let srv: TestServer;
const PASSWORD = 'correct horse battery';
let admin: { id: string; username: string };
let linguist: { id: string; username: string };

beforeAll(async () => {
  srv = await startServer({ THROTTLE_IP_MAX_FAILURES: '100000' });
  const s = srv.services;
  const mk = async (username: string, firstName: string) =>
    s.accounts.register({ username, email: `${username}@example.com`, firstName, lastName: 'Test', password: PASSWORD }, { api: 'test', ip: '127.0.0.1' });
  admin = await mk('client-admin', 'Admin');
  await s.store.users.update(admin.id, { role: 'ADMIN' });
  linguist = await mk('client-linguist', 'Linguist');
  const d = await s.store.domains.create('client-org');
  await s.store.domains.addMember(d.id, admin.id);
  await s.store.domains.addMember(d.id, linguist.id);
});
afterAll(async () => {
  await srv?.close();
});

async function rejection(p: Promise<unknown>): Promise<AuthV3Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthV3Error);
  expect(err).toBeInstanceOf(PolyauthError);
  expect(err).toMatchObject({ name: 'AuthV3Error', api: 'auth-v3' });
  return err as AuthV3Error;
}

describe('createAuthV3Client', () => {
  test('signIn, currentUser, signOut', async () => {
    const c = createAuthV3Client({ baseUrl: `${srv.baseUrl}/` });
    const login = await c.signIn({ username: 'client-admin', password: PASSWORD });
    expect(login.user).toEqual({ id: Number(admin.id), firstName: 'Admin', lastName: 'Test', userName: 'client-admin', role: 'ADMIN' });
    expect(c.token).toBe(login.token);
    expect(c.token).toMatch(new RegExp(`^${admin.id}-[0-9a-f]{32}$`));
    expect((await c.currentUser()).userName).toBe('client-admin');
    const kept = c.token!;
    await c.signOut();
    expect(c.token).toBeUndefined();
    const again = createAuthV3Client({ baseUrl: srv.baseUrl, token: kept });
    const err = await rejection(again.currentUser());
    expect(err.status).toBe(401);
    expect(err.body.errorCode).toBe('AuthTokenInvalid');
    // signed out already: nothing to do
    await c.signOut();
  });

  test('signOut forgets the token even when the server refuses it', async () => {
    const c = createAuthV3Client({ baseUrl: srv.baseUrl, token: '1-00000000000000000000000000000000' });
    const err = await rejection(c.signOut());
    expect(err.status).toBe(401);
    expect(c.token).toBeUndefined();
  });

  test('a wrong password is a PolyauthError with the dialect body', async () => {
    const c = createAuthV3Client({ baseUrl: srv.baseUrl });
    const err = await rejection(c.signIn({ username: 'client-admin', password: 'wrong password!' }));
    expect(err.status).toBe(401);
    expect(err.body).toEqual({ errorCode: 'AuthInvalidCredentials', errorDescription: expect.any(String) });
    expect(err.message).toBe(err.body.errorDescription);
    expect(c.token).toBeUndefined();
  });

  test('two-factor: no code is AuthAccountTwoFactorProtected, the code logs in', async () => {
    const secret = newTotpSecret();
    const u = await srv.services.accounts.register({ username: 'client-2fa', password: PASSWORD }, { api: 'test', ip: '127.0.0.1' });
    await srv.services.store.users.setTotp(u.id, secret);
    const c = createAuthV3Client({ baseUrl: srv.baseUrl });
    const err = await rejection(c.signIn({ username: 'client-2fa', password: PASSWORD }));
    expect(err.body.errorCode).toBe('AuthAccountTwoFactorProtected');
    // Stay clear of a step boundary so the code is the server's current one.
    const into = Date.now() % 30_000;
    if (into > 28_000) await new Promise((r) => setTimeout(r, 30_000 - into + 50));
    expect((await c.signIn({ username: 'client-2fa', password: PASSWORD, code: totpCode(secret) })).user.userName).toBe('client-2fa');
  });

  test('signInAs and the web sign-in link', async () => {
    const c = createAuthV3Client({ baseUrl: srv.baseUrl });
    await c.signIn({ username: 'client-admin', password: PASSWORD });
    const other = await c.signInAs('client-linguist');
    expect(other.user.id).toBe(Number(linguist.id));
    expect(c.token).not.toBe(other.token);
    expect((await c.currentUser()).userName).toBe('client-admin');

    const link = c.authByTokenUrl(other.token, '/web/');
    expect(link).toBe(`${srv.baseUrl}/web/login/authByToken?token=${other.token}&url=%2Fweb%2F`);
    const r = await fetch(link, { redirect: 'manual' });
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/web/');
    const page = await fetch(`${srv.baseUrl}/web/`, { headers: { cookie: r.headers.get('set-cookie')!.split(';')[0]! } });
    expect(await page.text()).toContain('client-linguist');

    const consumed = await rejection(createAuthV3Client({ baseUrl: srv.baseUrl, token: other.token }).signInAs('client-admin'));
    expect(consumed.status).toBe(401); // used up by the web sign-in
    const lc = createAuthV3Client({ baseUrl: srv.baseUrl });
    await lc.signIn({ username: 'client-linguist', password: PASSWORD });
    const refused = await rejection(lc.signInAs('client-admin'));
    expect(refused.status).toBe(403);
    expect(refused.body.errorCode).toBe('AuthForbidden');
  });

  test('calls that need a token fail clearly before signIn', async () => {
    const c = createAuthV3Client({ baseUrl: srv.baseUrl });
    await expect(c.currentUser()).rejects.toThrow(NotSignedInError);
    await expect(c.signInAs('client-admin')).rejects.toMatchObject({ name: 'NotSignedInError', api: 'auth-v3', message: expect.stringMatching(/not signed in/) });
  });
});
