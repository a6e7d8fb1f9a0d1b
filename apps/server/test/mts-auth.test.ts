import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startServer, type TestServer } from './harness.ts';

let srv: TestServer;
let basic: string;

const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
const FORM = 'application/x-www-form-urlencoded';

beforeAll(async () => {
  srv = await startServer();
  const { client, secret } = await srv.services.clients.create('oauth', 'test');
  basic = Buffer.from(`${client.clientId}:${secret}`).toString('base64');
});
afterAll(async () => {
  await srv?.close();
});

async function register(email: string, password = 'correct horse') {
  return fetch(`${srv.baseUrl}/user`, {
    method: 'POST',
    headers: { 'content-type': FORM },
    body: form({ firstName: 'Ada', lastName: 'Lovelace', email, password }),
  });
}

async function token(username: string, password: string, auth = `Basic ${basic}`) {
  return fetch(`${srv.baseUrl}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': FORM, authorization: auth },
    body: form({ grant_type: 'password', username, password }),
  });
}

describe('mts-auth', () => {
  test('register, sign in, who am I', async () => {
    const r = await register('ada@example.com');
    expect(r.status).toBe(201);
    const { id } = (await r.json()) as { id: string };
    expect(r.headers.get('location')).toBe(`/user/${id}`);
    const t = await token('ada@example.com', 'correct horse');
    expect(t.status).toBe(200);
    const body = (await t.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(body.token_type).toBe('Bearer');
    const me = await fetch(`${srv.baseUrl}/user`, { headers: { authorization: `Bearer ${body.access_token}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ id });
  });

  test('unknown path and bad input are in the dialect', async () => {
    const r = await fetch(`${srv.baseUrl}/nope`);
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ code: 404, error: 'not_found' });
    const bad = await fetch(`${srv.baseUrl}/user`, { method: 'POST', headers: { 'content-type': FORM }, body: 'firstName=x' });
    expect(bad.status).toBe(406);
    const j = await bad.json();
    expect(j).toMatchObject({ code: 406, error: 'not_acceptable' });
  });
});
