// Two polyauth instances, each with its own connection pool, over one
// Postgres database: the server keeps nothing in memory that matters, so
// users, revocations and throttling are shared at once.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { openPostgres, type Database } from '@polyauth/store';
import { openTestDatabase, startServer, type TestServer } from './harness.ts';
import { basicAuth, form, FORM, keysOf, uniqueEmail } from './helpers.ts';

const PASSWORD = 'correct horse battery';
const DATABASE_URL = process.env.DATABASE_URL;

describe('two instances over one Postgres database', () => {
  if (!DATABASE_URL) {
    const reason =
      'NOT RUN: the two-instance test needs a shared Postgres (PGlite is single-process). Set ' +
      'DATABASE_URL=postgres://postgres@127.0.0.1:5432/test (npm run test:pg; CI always sets it).';
    process.stderr.write(`\n[polyauth] two-instances.test.ts: ${reason}\n`);
    test.skip(reason, () => undefined);
    return;
  }

  let dbA: Database;
  let dbB: Database;
  let a: TestServer;
  let b: TestServer;
  let client: { id: string; secret: string };
  const env = { THROTTLE_ACCOUNT_MAX_FAILURES: '3', THROTTLE_LOCKOUT_SECONDS: '120' };

  beforeAll(async () => {
    dbA = await openTestDatabase();
    const { rows } = await dbA.knex.raw('select current_database() as name');
    const url = new URL(DATABASE_URL);
    url.pathname = `/${(rows as Array<{ name: string }>)[0]!.name}`;
    dbB = await openPostgres({ url: url.toString(), poolMax: 5 }); // instance B's own pool
    a = await startServer(env, { db: dbA });
    b = await startServer(env, { db: dbB });
    // each listens for the other's changes on a connection of its own (bounded wait)
    for (let i = 0; !(a.services.tokenCache.enabled && b.services.tokenCache.enabled); i++) {
      if (i > 500) throw new Error('the token caches never started listening');
      await new Promise((r) => setTimeout(r, 20));
    }
    // created through A's services, verified by B
    const created = await a.services.clients.create('oauth', 'two-instances');
    client = { id: created.client.clientId, secret: created.secret! };
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await dbB?.close();
    await dbA?.close(); // drops the database
  });

  const register = (srv: TestServer, email: string) =>
    fetch(`${srv.baseUrl}/user`, {
      method: 'POST',
      headers: { 'content-type': FORM },
      body: form({ firstName: 'Ada', lastName: 'Lovelace', email, password: PASSWORD }),
    });
  const token = (srv: TestServer, username: string, password = PASSWORD) =>
    fetch(`${srv.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basicAuth(client.id, client.secret) },
      body: form({ grant_type: 'password', username, password }),
    });
  const me = (srv: TestServer, accessToken: string) => fetch(`${srv.baseUrl}/user`, { headers: { authorization: `Bearer ${accessToken}` } });
  async function accessToken(srv: TestServer, email: string, password = PASSWORD): Promise<string> {
    const r = await token(srv, email, password);
    expect(r.status).toBe(200);
    return ((await r.json()) as { access_token: string }).access_token;
  }

  /** Resolves when `srv`'s token cache has dropped `userId`'s entries. */
  const invalidatedOn = (srv: TestServer, userId: string) =>
    new Promise<void>((resolve) => {
      const on = (who: string) => {
        if (who !== userId && who !== '*') return;
        srv.services.tokenCache.off('invalidated', on);
        resolve();
      };
      srv.services.tokenCache.on('invalidated', on);
    });

  test('two separate listeners, each with its own connection pool', () => {
    expect(a.baseUrl).not.toBe(b.baseUrl);
    expect(a.services.db.knex).not.toBe(b.services.db.knex);
  });

  test('a user registered on one signs in on the other, and its token works on both', async () => {
    const email = uniqueEmail('twin');
    const r = await register(a, email);
    expect(r.status).toBe(201);
    const id = (await r.json()) as string;
    const t = await accessToken(b, email.toUpperCase());
    for (const srv of [a, b]) {
      const who = await me(srv, t);
      expect(who.status).toBe(200);
      expect(await who.json()).toEqual({ Id: id });
    }
    // and the email is taken on the other one too
    expect((await register(b, email)).status).toBe(406);
  });

  test('one registration racing on both servers: one 201, one 406', async () => {
    const email = uniqueEmail('twin-race');
    const [ra, rb] = await Promise.all([register(a, email), register(b, email)]);
    expect([ra.status, rb.status].sort()).toEqual([201, 406]);
  });

  test('a token revoked on one fails at once on the other', async () => {
    const email = uniqueEmail('twin-revoke');
    const id = (await (await register(a, email)).json()) as string;
    const onA = await accessToken(a, email);
    const onB = await accessToken(b, email);
    expect((await me(b, onA)).status).toBe(200);
    expect((await me(a, onB)).status).toBe(200);

    // B hears of a change committed through A's pool by NOTIFY on its own
    // connection: wait for that, not for a time, then B must refuse at once.
    // (A hears its own writes before they resolve: no wait there.)
    let heard = invalidatedOn(b, id);
    // Over HTTP on A: changing the password revokes every other token (onB).
    const put = await fetch(`${a.baseUrl}/user/${id}`, {
      method: 'PUT',
      headers: { 'content-type': FORM, authorization: `Bearer ${onA}` },
      body: form({ password: 'another good password' }),
    });
    expect(put.status).toBe(200);
    expect((await me(a, onB)).status).toBe(401);
    await heard;
    for (const srv of [b, a]) {
      const r = await me(srv, onB);
      expect(r.status).toBe(401);
      expect(await r.json()).toMatchObject({ code: 401, error: 'invalid_token' });
    }
    expect((await me(b, onA)).status).toBe(200);

    // Through A's services (what the admin CLI does): B refuses it on the very next request.
    const { jti } = JSON.parse(Buffer.from(onA.split('.')[1]!, 'base64url').toString()) as { jti: string };
    const row = await a.services.tokens.findOpaque('mts-auth', 'access', jti);
    expect(row).toBeDefined();
    heard = invalidatedOn(b, id);
    expect(await a.services.store.tokens.revokeFamily(row!.id)).toBe(1);
    expect((await me(a, onA)).status).toBe(401);
    await heard;
    expect((await me(b, onA)).status).toBe(401);
    // the old password is gone everywhere, the new one works everywhere
    expect((await token(b, email)).status).toBe(400);
    await accessToken(b, email, 'another good password');
  });

  test('oauth-service introspection on one is exact after a revoke on the other', async () => {
    const reg = await fetch(`${a.baseUrl}/api/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: `twin_${Date.now()}`, email: uniqueEmail('twin-intro'), password: PASSWORD, accept_terms: 1 }),
    });
    expect(reg.status).toBe(200);
    const { user, access_token, refreshToken } = (await reg.json()) as { user: { id: string }; access_token: string; refreshToken: string };
    const introspect = async (srv: TestServer, t: string) => {
      const r = await fetch(`${srv.baseUrl}/api/oauth/introspect`, {
        method: 'POST',
        headers: { 'content-type': FORM, authorization: basicAuth(client.id, client.secret) },
        body: form({ token: t }),
      });
      expect(r.status).toBe(200);
      return ((await r.json()) as { active: boolean }).active;
    };
    // served once on B, so B's answer below could come from its cache
    expect(await Promise.all([introspect(b, access_token), introspect(b, refreshToken), introspect(a, access_token)])).toEqual([true, true, true]);
    const heard = invalidatedOn(b, user.id);
    const revoke = await fetch(`${a.baseUrl}/api/oauth/revoke`, { method: 'POST', headers: { authorization: `Bearer ${access_token}` } });
    expect(revoke.status).toBe(200);
    expect(await introspect(a, access_token)).toBe(false);
    await heard;
    expect(await Promise.all([introspect(b, access_token), introspect(b, refreshToken)])).toEqual([false, false]);
  });

  test('both cache live tokens (so the test above exercised the cache)', () => {
    expect(a.services.tokenCache.enabled).toBe(true);
    expect(b.services.tokenCache.enabled).toBe(true);
  });

  test('failed sign-ins are counted across both servers, and the lockout holds on both', async () => {
    const email = uniqueEmail('twin-throttle');
    const reg = await register(a, email);
    expect(reg.status).toBe(201);
    const id = (await reg.json()) as string; // mts-auth's bare new id
    // 3 failures allowed per account: one on A, one on B, the third on A locks it.
    for (const srv of [a, b, a]) {
      const r = await token(srv, email, 'wrong password!');
      expect(r.status).toBe(400);
      expect(await r.json()).toMatchObject({ error: 'invalid_grant' });
    }
    for (const srv of [b, a]) {
      const r = await token(srv, email); // the right password, but locked
      expect(r.status).toBe(429);
      const retryAfter = Number(r.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThan(0);
      expect(retryAfter).toBeLessThanOrEqual(120);
      const body = await r.json();
      expect(keysOf(body)).toEqual(['code', 'error', 'error_description']);
      expect(body).toMatchObject({ code: 429, error: 'too_many_requests' });
    }
    // the audit names the account, not what was typed
    expect(await a.services.store.audit.recent({ action: 'login.lockout', userId: String(id) })).toHaveLength(1);
  });
});
