// auth-v3 rows: POST /login with a JSON body (bcrypt-bound) and POST /whoAmI
// with the token in a JSON body (a cheap authenticated route: token row, user
// row, coalesced last-used touch).
import { randomBytes } from 'node:crypto';

export const api = 'auth-v3';

const BASE = '/api/v3/auth';
const JSON_TYPE = 'application/json';
const suffix = randomBytes(3).toString('hex');

export async function prepare({ admin }) {
  // One account, without TOTP: a login is the password check only, and valid
  // logins never count towards the throttle, so it can be replayed.
  const username = `bench-v3-${suffix}`;
  const password = `bench password ${suffix}`;
  await admin('user', 'create', '--username', username, '--email', `${username}@example.com`, '--password', password, '--first-name', 'Bench', '--last-name', 'V3');
  return { users: [{ username, password }] };
}

export async function setup({ fixtures: f, request }) {
  const post = (path, payload) => ({ method: 'POST', path: `${BASE}${path}`, headers: { 'content-type': JSON_TYPE }, body: JSON.stringify(payload) });
  const login = (u) => post('/login', { userName: u.username, password: u.password });
  const tokens = [];
  for (const u of f.users) {
    const r = login(u);
    const res = await request(r.method, r.path, { headers: r.headers, body: r.body });
    if (res.status !== 200 || !res.json?.token) throw new Error(`auth-v3 bench login failed: ${res.status} ${res.body}`);
    tokens.push(res.json.token);
  }
  return [
    {
      name: 'auth-v3 POST /login',
      bound: 'bcrypt',
      target: 0.85,
      requests: f.users.map(login),
      verifyBody: (body) => body.includes('"token":"'),
    },
    {
      name: 'auth-v3 POST /whoAmI',
      bound: 'route',
      target: 0.5,
      requests: tokens.map((token) => post('/whoAmI', { token })),
      verifyBody: (body) => body.startsWith('{"user":{'),
    },
  ];
}
