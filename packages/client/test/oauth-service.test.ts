// The oauth-service client against a real server over HTTP (the server's
// test harness; the client itself never imports the server).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import jwt from 'jsonwebtoken';
import { createOauthServiceClient, NotSignedInError, OauthServiceError, PolyauthError, type OauthServiceClient } from '../src/index.ts';
import { startServer, TEST_JWT_SECRET, type TestServer } from '../../../apps/server/test/harness.ts';
import { linkIn, startSmtpSink, type SmtpSink } from '../../../apps/server/test/smtp-sink.ts';

const PASSWORD = 'correct horse battery';
let srv: TestServer;
let smtp: SmtpSink;
let clientId: string;

beforeAll(async () => {
  smtp = await startSmtpSink();
  srv = await startServer({ SMTP_URL: smtp.url, MAIL_MAX_PER_HOUR: '100', MAIL_MAX_PER_HOUR_PER_IP: '10000' });
  clientId = (await srv.services.clients.create('oauth', 'client tests', { withSecret: false })).client.clientId;
});
afterAll(async () => {
  await srv?.close();
  await smtp?.close();
});

let n = 0;
function newUser() {
  n += 1;
  const tag = `${process.pid}_${n}_${Math.random().toString(36).slice(2, 7)}`;
  return { username: `client_${tag}`, email: `client.${tag}@example.com`, password: PASSWORD, accept_terms: 1 };
}

/** A client whose fetch counts the refresh-token grants it sends. */
function countingClient(session?: { accessToken?: string; refreshToken?: string }) {
  const grants: string[] = [];
  const countingFetch: typeof fetch = async (input, init) => {
    const req = new Request(input, init);
    if (new URL(req.url).pathname === '/api/oauth/token') grants.push(new URLSearchParams(await req.clone().text()).get('grant_type') ?? '');
    return fetch(req);
  };
  const client = createOauthServiceClient({ baseUrl: srv.baseUrl, clientId, fetch: countingFetch, session });
  return { client, refreshes: () => grants.filter((g) => g === 'refresh_token').length };
}

async function tokenRows(userId: string): Promise<number> {
  const rows = await srv.db.knex('tokens').where({ user_id: userId });
  return rows.length;
}

async function verified(client: OauthServiceClient, email: string): Promise<void> {
  await client.sendEmailLink();
  const link = linkIn(await smtp.next(email));
  await client.verifyEmail(link.slice(link.lastIndexOf('/') + 1));
}

describe('createOauthServiceClient', () => {
  test('register, verify the email, revoke, sign in again', async () => {
    const seen: Array<string | undefined> = [];
    const client = createOauthServiceClient({ baseUrl: srv.baseUrl, clientId, onSession: (s) => seen.push(s.refreshToken) });
    const user = newUser();
    const reg = await client.register(user);
    expect(reg.user.username).toBe(user.username);
    expect(client.session).toEqual({ accessToken: reg.access_token, refreshToken: reg.refreshToken });

    await verified(client, user.email);
    expect((await srv.services.store.users.byId(reg.user.id))?.emailVerifiedAt).toBeInstanceOf(Date);

    const refreshed = await client.refresh();
    expect(refreshed.refresh_token).toBe(reg.refreshToken);

    await client.signOut();
    expect(client.session).toEqual({ accessToken: undefined, refreshToken: undefined });
    const err = await client.sendEmailLink().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OauthServiceError);
    expect(err).toBeInstanceOf(PolyauthError);
    expect(err).toMatchObject({ name: 'OauthServiceError', api: 'oauth-service', status: 401, body: { error: 'unauthorized' } });
    await expect(client.refresh()).rejects.toThrow(NotSignedInError);
    await client.signOut(); // signed out already: nothing to do

    const t = await client.signIn({ username: user.email, password: PASSWORD });
    expect(t.token_type).toBe('Bearer');
    await client.sendEmailLink();
    expect(seen).toEqual([reg.refreshToken, reg.refreshToken, undefined, t.refresh_token]);
  });

  test('a confidential client sends its secret with HTTP Basic; without it, its password grant is 401 invalid_client', async () => {
    const created = await srv.services.clients.create('oauth', 'confidential client tests');
    const sent: Array<string | null> = [];
    const recording: typeof fetch = async (input, init) => {
      const req = new Request(input, init);
      sent.push(req.headers.get('authorization'));
      return fetch(req);
    };
    const user = newUser();
    await createOauthServiceClient({ baseUrl: srv.baseUrl, clientId }).register(user);
    const client = createOauthServiceClient({ baseUrl: srv.baseUrl, clientId: created.client.clientId, clientSecret: created.secret!, fetch: recording });
    const t = await client.signIn({ username: user.username, password: PASSWORD });
    expect(t.expires_in).toBe(3600);
    expect(sent.at(-1)).toMatch(/^Basic /);
    expect((await client.refresh()).refresh_token).toBe(t.refresh_token);
    expect(sent.at(-1)).toMatch(/^Basic /);
    const withoutSecret = createOauthServiceClient({ baseUrl: srv.baseUrl, clientId: created.client.clientId });
    await expect(withoutSecret.signIn({ username: user.username, password: PASSWORD })).rejects.toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const wrongSecret = createOauthServiceClient({ baseUrl: srv.baseUrl, clientId: created.client.clientId, clientSecret: 'wrong' });
    await expect(wrongSecret.signIn({ username: user.username, password: PASSWORD })).rejects.toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  test('password reset through the client', async () => {
    const client = createOauthServiceClient({ baseUrl: srv.baseUrl, clientId });
    const user = newUser();
    await client.register(user);
    await client.resetPassword(user.email);
    const token = new URL(linkIn(await smtp.next(user.email))).searchParams.get('token')!;
    await client.confirmResetPassword(token, 'a brand new password');
    const again = await client.confirmResetPassword(token, 'a brand new password').catch((e: unknown) => e);
    expect((again as PolyauthError).body).toMatchObject({ error: 'invalid_grant' });
    await expect(client.signIn({ username: user.username, password: PASSWORD })).rejects.toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    await client.signIn({ username: user.username, password: 'a brand new password' });
  });

  test('concurrent calls after the access token is revoked share exactly one refresh', async () => {
    const user = newUser();
    const first = createOauthServiceClient({ baseUrl: srv.baseUrl, clientId });
    const reg = await first.register(user);
    await verified(first, user.email); // send_email_link then sends nothing: a cheap authenticated call
    // an access token whose session is revoked, held next to another live session's refresh token
    const dead = first.session.accessToken!;
    const second = await createOauthServiceClient({ baseUrl: srv.baseUrl, clientId }).signIn({ username: user.username, password: PASSWORD });
    await first.signOut();
    const { client, refreshes } = countingClient({ accessToken: dead, refreshToken: second.refresh_token });
    const before = await tokenRows(reg.user.id);

    await Promise.all(Array.from({ length: 6 }, () => client.sendEmailLink()));

    expect(refreshes()).toBe(1);
    expect(await tokenRows(reg.user.id)).toBe(before); // a refresh stores nothing
    expect(client.session.accessToken).not.toBe(dead);
    expect(client.session.refreshToken).toBe(second.refresh_token);
    await client.sendEmailLink();
    expect(refreshes()).toBe(1);
  });

  test('concurrent calls with an expired access token share exactly one refresh', async () => {
    const owner = createOauthServiceClient({ baseUrl: srv.baseUrl, clientId });
    const user = newUser();
    const reg = await owner.register(user);
    await verified(owner, user.email);
    // the same claims (live session) but an exp in the past
    const expired = jwt.sign({ ...(jwt.decode(reg.access_token) as jwt.JwtPayload), exp: 2000 }, TEST_JWT_SECRET);

    const { client, refreshes } = countingClient({ accessToken: expired, refreshToken: reg.refreshToken });
    await Promise.all([client.sendEmailLink(), client.sendEmailLink(), client.sendEmailLink(), client.api.POST('/send_email_link')]);
    expect(refreshes()).toBe(1);
    expect(client.session.accessToken).not.toBe(expired);
  });

  test('a dead refresh token ends the session: the calls fail with 401, one refresh tried', async () => {
    const { client, refreshes } = countingClient();
    const user = newUser();
    const reg = await client.register(user);
    await srv.services.store.tokens.revokeAllForUser(reg.user.id);
    const results = await Promise.all([client.sendEmailLink(), client.sendEmailLink()].map((p) => p.catch((e: unknown) => e)));
    for (const r of results) expect(r).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
    expect(refreshes()).toBe(1);
    expect(client.session).toEqual({ accessToken: undefined, refreshToken: undefined });
  });
});
