// user-token-auth rows: POST /auth/login with HTTP Basic (bcrypt-bound) and
// POST /auth/bump with the UserToken as Bearer (a cheap authenticated route:
// token row, coalesced last-used touch, and a write of the user's last login
// time, so the same request can be repeated forever).
import { randomBytes } from 'node:crypto';

export const api = 'user-token-auth';

const ACCEPT = 'application/json';
const suffix = randomBytes(3).toString('hex');

export async function prepare({ admin }) {
  // One account: valid logins never count towards the throttle.
  const email = `bench-uta-${suffix}@example.com`;
  const password = `bench password ${suffix}`;
  await admin('user', 'create', '--username', email, '--email', email, '--password', password, '--first-name', 'Bench', '--last-name', 'UserToken');
  return { users: [{ email, password }] };
}

export async function setup({ fixtures: f, request }) {
  // No body: the seed's first example (note and expirationTime are optional).
  const login = (u) => ({
    method: 'POST',
    path: '/auth/login',
    headers: { accept: ACCEPT, authorization: `Basic ${Buffer.from(`${u.email}:${u.password}`).toString('base64')}` },
  });
  const tokens = [];
  for (const u of f.users) {
    const r = login(u);
    const res = await request(r.method, r.path, { headers: r.headers });
    if (res.status !== 200 || !res.json?.token) throw new Error(`user-token-auth bench login failed: ${res.status} ${res.body}`);
    tokens.push(res.json.token);
  }
  return [
    {
      name: 'user-token-auth POST /auth/login',
      bound: 'bcrypt',
      target: 0.85,
      requests: f.users.map(login),
      verifyBody: (body) => body.startsWith('{"token":"'),
    },
    {
      name: 'user-token-auth POST /auth/bump',
      bound: 'route',
      target: 0.5,
      requests: tokens.map((t) => ({ method: 'POST', path: '/auth/bump', headers: { accept: ACCEPT, authorization: `Bearer ${t}` } })),
      verifyBody: (body) => body.startsWith('{"lastLoginTime":"'),
    },
  ];
}
