// mts-auth rows: the password grant (bcrypt-bound) and GET /user (a cheap
// authenticated route: JWT check, token row, user row).
import { randomBytes } from 'node:crypto';

export const api = 'mts-auth';

const FORM = 'application/x-www-form-urlencoded';
const suffix = randomBytes(3).toString('hex');

export async function prepare({ admin }) {
  const client = await admin('client', 'create', '--name', `bench mts-auth ${suffix}`);
  // Two accounts the login connections alternate between. Valid logins never
  // count towards the throttle, so the same credentials can be replayed.
  const users = [];
  for (const n of [1, 2]) {
    const email = `bench-${n}-${suffix}@example.com`;
    const password = `bench password ${n} ${suffix}`;
    await admin('user', 'create', '--username', email, '--email', email, '--password', password, '--first-name', 'Bench', '--last-name', `User ${n}`);
    users.push({ email, password });
  }
  return { client, users };
}

export async function setup({ fixtures: f, request }) {
  const basic = `Basic ${Buffer.from(`${f.client.id}:${f.client.secret}`).toString('base64')}`;
  const login = (u) => ({
    method: 'POST',
    path: '/oauth/token',
    headers: { authorization: basic, 'content-type': FORM },
    body: new URLSearchParams({ grant_type: 'password', username: u.email, password: u.password }).toString(),
  });
  const res = await request('POST', '/oauth/token', { headers: { authorization: basic }, form: { grant_type: 'password', username: f.users[0].email, password: f.users[0].password } });
  if (res.status !== 200 || !res.json?.access_token) throw new Error(`mts-auth bench login failed: ${res.status} ${res.body}`);
  const token = res.json.access_token;
  return [
    {
      name: 'mts-auth POST /oauth/token',
      bound: 'bcrypt',
      target: 0.85,
      requests: f.users.map(login),
      verifyBody: (body) => body.includes('"access_token"'),
    },
    {
      name: 'mts-auth GET /user',
      bound: 'route',
      target: 0.5,
      requests: [{ method: 'GET', path: '/user', headers: { authorization: `Bearer ${token}` } }],
      verifyBody: (body) => body.startsWith('{"Id":"'),
    },
  ];
}
